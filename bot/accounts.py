"""Coordinator console accounts: passwords, second factors, sign-in and its sessions.

Passwords are hashed with argon2id (argon2-cffi); the second factor is TOTP (pyotp),
its secret encrypted at rest. Five wrong sign-ins in a row lock an account for a
quarter of an hour. A session is a signed cookie naming the account, the account's
generation (raised on a reset or a disabling, which ends every session), when it
began and when it was last used: it ends after `idle` without use and `absolute`
after it began, whatever happens.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage.models import Account, utcnow
from storage.repository import Records

ROLES = ("coordinator", "monitor", "operator")
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
_hasher = PasswordHasher()
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def new_password() -> str:
    """A password to hand over once: 16 random characters from an unambiguous alphabet."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(name: str, secret: str) -> str:
    """What an authenticator app scans (otpauth://…)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="trial-intake")


@dataclass(frozen=True)
class SignIn:
    account: Account | None  # None: refused
    reason: str = ""  # for the audit trail: "password", "code", "locked", "disabled", "unknown"


def sign_in(records: Records, name: str, password: str, code: str, now: datetime | None = None) -> SignIn:
    """Check a sign-in, counting failures and locking the account after too many."""
    now = now or utcnow()
    account = records.account(name)
    if account is None:
        _verify(_DUMMY, password)
        return SignIn(None, "unknown")
    if account.disabled:
        return SignIn(None, "disabled")
    if account.locked_until is not None and account.locked_until > now:
        return SignIn(None, "locked")
    reason = ""
    if not _verify(account.password_hash, password):
        reason = "password"
    else:
        secret = records.totp_secret(account)
        if (secret or account.totp_required) and not (
            secret and pyotp.TOTP(secret).verify(code.replace(" ", ""), for_time=now, valid_window=1)
        ):
            reason = "code"
    if reason:
        account.failed_logins += 1
        if account.failed_logins >= LOCK_AFTER:
            account.locked_until, account.failed_logins = now + LOCK_FOR, 0
            reason = "locked now"
        records.save_account(account)
        return SignIn(None, reason)
    account.failed_logins, account.locked_until = 0, None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    records.save_account(account)
    return SignIn(account)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class ConsoleSession:
    account_id: int
    generation: int
    began: int  # seconds since 1970
    used: int


@dataclass
class ConsoleSessions:
    """Signed console session cookies with idle and absolute timeouts."""

    sign: Callable[[str], str]
    idle: int = 30 * 60
    absolute: int = 12 * 3600

    def _signature(self, body: str) -> str:
        return self.sign(f"console-session:{body}")[:43]

    def issue(self, session: ConsoleSession) -> str:
        body = f"{session.account_id}.{session.generation}.{session.began}.{session.used}"
        return f"{body}.{self._signature(body)}"

    def read(self, token: str | None, now: int) -> ConsoleSession | None:
        """The session a cookie holds, or None: forged, mangled, idle too long, or too old."""
        body, _, signature = (token or "").rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            return None
        if not hmac.compare_digest(signature, self._signature(body)):
            return None
        session = ConsoleSession(*(int(p) for p in parts))
        if now - session.used > self.idle or now - session.began > self.absolute:
            return None
        return session

    def csrf(self, session: ConsoleSession) -> str:
        return self.sign(f"console-csrf:{session.account_id}.{session.began}")[:43]
