"""Encryption of personal fields at rest, and keyed hashes to find records without decrypting.

Names, phone numbers, free-text answers, everything a person typed, and the
ids channels know people by are stored as Fernet tokens (AES-128-CBC with an
HMAC-SHA256 tag). The configured secret is one or more Fernet keys, newest
first: the first encrypts, all of them decrypt, and `intake rotate-keys`
re-encrypts everything with the first, after which older keys can be dropped.

Lookups ("which participant is Telegram user 123?") use an HMAC of the id with
a random lookup key. That key is kept in the database encrypted under the
secret, so it survives key rotation, and decrypting it on start-up is the check
that the configured secret is the right one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from storage.files import create_secret_file


class EncryptionKeyError(RuntimeError):
    """The encryption key is missing, malformed or not the one the database was written with."""


class Cipher:
    def __init__(self, keys: list[str], lookup_key: bytes) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._lookup_key = lookup_key

    def seal(self, value: Any) -> str:
        """Encrypt any JSON-able value."""
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode("utf-8")).decode("ascii")

    def open(self, token: str) -> Any:
        return json.loads(self._fernet.decrypt(token.encode("ascii")))

    def reseal(self, token: str) -> str:
        """The same value, encrypted with the newest key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def lookup(self, text: str) -> str:
        """A keyed hash of `text`: equal texts give equal hashes, and nothing else can be learnt."""
        return hmac.new(self._lookup_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_keys(configured: str) -> list[str]:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise EncryptionKeyError(
                "INTAKE_ENCRYPTION_KEY is not a valid key: each key is 32 url-safe base64-encoded bytes "
                "(make one with `intake new-key`)"
            ) from None
    if not keys:
        raise EncryptionKeyError("INTAKE_ENCRYPTION_KEY is empty")
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_file_keys(path: Path, may_create: bool) -> list[str]:
    """The keys in `path`, creating it with a new key (and saying so) when allowed."""
    if path.exists():
        text = path.read_text(encoding="ascii")
        if not text.strip():
            raise EncryptionKeyError(
                f"{path} is empty: put back the copy of the key you kept (or set INTAKE_ENCRYPTION_KEY)"
            )
        try:
            return parse_keys(text)
        except EncryptionKeyError:
            raise EncryptionKeyError(
                f"{path} does not hold a valid key: put back the copy you kept"
            ) from None
    if not may_create:
        raise EncryptionKeyError(
            f"the database holds encrypted data, but no key is configured: set INTAKE_ENCRYPTION_KEY "
            f"or restore {path}"
        )
    if not create_secret_file(path, new_key() + "\n"):
        return parse_keys(path.read_text(encoding="ascii"))  # another process made it first: theirs
    print(
        f"trial-intake: created a new encryption key in {path}. Keep a copy somewhere safe: "
        "without it the stored answers cannot be read.",
        file=sys.stderr,
    )
    return parse_keys(path.read_text(encoding="ascii"))


def unlock(keys: list[str], sealed_lookup_key: str | None) -> tuple[Cipher, str | None]:
    """A cipher for `keys`; and, for a new database, the sealed lookup key to store.

    Raises EncryptionKeyError if the keys do not open the database's lookup key.
    """
    fernet = MultiFernet([Fernet(k) for k in keys])
    if sealed_lookup_key is None:
        lookup_key = os.urandom(32)
        return Cipher(keys, lookup_key), fernet.encrypt(lookup_key).decode("ascii")
    try:
        lookup_key = fernet.decrypt(sealed_lookup_key.encode("ascii"))
    except InvalidToken:
        raise EncryptionKeyError(
            "INTAKE_ENCRYPTION_KEY does not open this database: it is not the key the data was written with"
        ) from None
    return Cipher(keys, lookup_key), None
