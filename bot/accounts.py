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
from datetime import datetime, timedelta
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage.models import Account, ConsoleSession, utcnow
from storage.repository import Records, Store

ROLES = ("coordinator", "monitor", "operator")
PASSWORD_LENGTHS = (12, 128)  # ASVS 2.1.1 and 2.1.2: at least 12 characters, and up to 128 allowed
_hasher = PasswordHasher()


@cache
def _dummy() -> str:
    """Checked when the name is unknown, so that a wrong name takes as long as a wrong password
    (made on first use: hashing at import would slow every `intake` command down)."""
    return _hasher.hash(secrets.token_urlsafe(16))


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
    return _verify(account.password_hash if account else _dummy(), password) and account is not None


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


class ConsoleAccounts:
    """The console's accounts and sessions in the database: signing in and out, the session a
    cookie names, and changing one's own password or second factor; each audited with the
    account's name (`console:<name>`). Synchronous: the console runs these in a worker thread."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sign_in(self, name: str, password: str, code: str, now: datetime, *, waiting: bool) -> Account | None:
        """The account, if these are its details; a refusal is audited under the account's name
        only when it exists (what a stranger typed is not kept). While `waiting` (backing off),
        nothing is checked, as quickly for every name."""

        def check(records: Records) -> Account | None:
            if waiting:
                known = records.account(name)
                result_name, reason = (known.name if known else None), "backoff"
            else:
                result = sign_in(records, name, password, code, now)
                if result.account is not None:
                    records.audit(f"console:{result.account.name}", "console_login", "console")
                    return result.account
                result_name, reason = result.name, result.reason
            records.audit(f"console:{result_name or '?'}", "console_login_refused", "console", why=reason)
            return None

        return self.store.run(check)

    def start_session(self, account: Account, token_hash: str, now: datetime) -> None:
        self.store.run(lambda records: records.add_console_session(account, token_hash, now))

    def signed_in(
        self, token_hash: str, now: datetime, idle: timedelta, absolute: timedelta
    ) -> tuple[Account, ConsoleSession] | None:
        """The account and session a cookie's token names, if the session is still good: one of
        a disabled account, idle for longer than `idle` or begun longer than `absolute` ago is
        ended here. Each use renews the idle timeout."""

        def current(records: Records) -> tuple[Account, ConsoleSession] | None:
            session = records.console_session(token_hash)
            if session is None:
                return None
            account = records.account_by_id(session.account_id)
            if (
                account is None
                or account.disabled
                or now - session.used_at > idle
                or now - session.began_at > absolute
            ):
                records.end_console_session(session.token_hash)
                return None
            if now - session.used_at > timedelta(minutes=1):
                records.touch_console_session(session, now)
            return account, session

        return self.store.run(current)

    def end_session(self, token_hash: str, actor: str) -> None:
        def end(records: Records) -> None:
            records.end_console_session(token_hash)
            records.audit(actor, "console_logout", "console")

        self.store.run(end)

    def change_password(self, account_id: int, hashed: str, keep: str, actor: str) -> None:
        """A new password; every other session of the account ends."""

        def change(records: Records) -> None:
            account = records.account_by_id(account_id)
            assert account is not None
            account.password_hash = hashed
            records.save_account(account)
            records.end_console_sessions(account_id, keep=keep)
            records.audit(actor, "password_changed", f"account:{account.name}")

        self.store.run(change)

    def change_second_factor(self, account_id: int, secret: str, step: int, keep: str, actor: str) -> None:
        """A new TOTP secret, proven by a code of time step `step`; every other session ends."""

        def change(records: Records) -> None:
            account = records.account_by_id(account_id)
            assert account is not None
            records.set_totp_secret(account, secret)
            account.totp_required, account.totp_last_step = True, step
            records.save_account(account)
            records.end_console_sessions(account_id, keep=keep)
            records.audit(actor, "second_factor_changed", f"account:{account.name}")

        self.store.run(change)
