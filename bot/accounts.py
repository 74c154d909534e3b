"""Coordinator console accounts: passwords, second factors, and how sign-ins are checked.

Passwords are hashed with argon2id (argon2-cffi); the second factor is TOTP (pyotp),
its secret encrypted at rest, and each code is good once. Every refusal costs one
argon2 verification, so how long it takes says nothing of which names exist. Failed
sign-ins are slowed down (`Backoff`) rather than locking an account, which anyone who
knows a name could otherwise keep locked.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage.models import Account, utcnow
from storage.repository import Records

ROLES = ("coordinator", "monitor", "operator")
PASSWORD_LENGTHS = (12, 128)  # ASVS 2.1.1 and 2.1.2: at least 12 characters, and up to 128 allowed
_hasher = PasswordHasher()
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def new_password() -> str:
    """A password to hand over once: 16 random characters from an unambiguous alphabet."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def acceptable_password(password: str, name: str) -> bool:
    """Long enough, not too long to hash, and not the account's own name."""
    shortest, longest = PASSWORD_LENGTHS
    return shortest <= len(password) <= longest and password.strip().casefold() != name.casefold()


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(name: str, secret: str) -> str:
    """What an authenticator app scans (otpauth://…)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="trial-intake")


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to (this one, or the one either side of it, for a clock a
    little off), or None if it is none of them."""
    totp = pyotp.TOTP(secret)
    code = code.replace(" ", "")
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(code.encode(), totp.generate_otp(step).encode()):
            return step
    return None


@dataclass(frozen=True)
class SignIn:
    account: Account | None  # None: refused
    reason: str = ""  # for the audit trail: "password", "code", "disabled", "unknown"
    name: str | None = None  # the account's name when it exists (never what was typed otherwise)


def check_password(account: Account | None, password: str) -> bool:
    """Whether `password` is the account's; as slow for no account as for a wrong password."""
    return _verify(account.password_hash if account else _DUMMY, password) and account is not None


def sign_in(records: Records, name: str, password: str, code: str, now: datetime | None = None) -> SignIn:
    """Check a sign-in: the password (always, even for an unknown or disabled account: the
    time it takes is the same), then the code, which is good once."""
    now = now or utcnow()
    account = records.account(name)
    right = check_password(account, password)
    if account is None:
        return SignIn(None, "unknown")
    if account.disabled:
        return SignIn(None, "disabled", account.name)
    if not right:
        return SignIn(None, "password", account.name)
    secret = records.totp_secret(account)
    if secret or account.totp_required:
        step = totp_step(secret, code, now) if secret else None
        if step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
            return SignIn(None, "code", account.name)  # wrong, or used already
        account.totp_last_step = step
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    records.save_account(account)
    return SignIn(account, name=account.name)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class Backoff:
    """Failed attempts per key (an address, an account name from an address, a browser): the
    first `free` cost nothing, then each next attempt must wait twice as long as the one
    before (1 s, 2 s, 4 s… up to `longest`). Forgotten after `longest` without a failure.

    Kept in the running process: it slows guessing down, and since nobody's attempts but a
    key's own make it wait, no stranger can lock anyone out."""

    free: int
    longest: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def wait(self, key: str) -> float:
        """Seconds before an attempt for `key` is checked at all (0: now)."""
        count, last = self._failures.get(key, (0, 0.0))
        now = self.clock()
        if count and now - last > self.longest:
            del self._failures[key]
            return 0.0
        if count < self.free:
            return 0.0
        return max(0.0, last + min(self.longest, 2.0 ** (count - self.free)) - now)

    def failed(self, key: str) -> None:
        now = self.clock()
        count, last = self._failures.pop(key, (0, 0.0))
        self._failures[key] = (count + 1 if now - last <= self.longest else 1, now)
        if len(self._failures) > 100_000:  # a flood of names: the oldest go first
            del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
