"""Resume links: a web chat session continued on another device.

A link carries a random token of its own, never the session cookie's value; the database
keeps only the token's keyed hash, with the session it opens (encrypted). A link works
once, and for `days` days: opened on another device, it is used up, so a link that was
forwarded, or read over a shoulder, is no key for long. The person makes a new one from
the chat page whenever they need one, which replaces the one before.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from storage.models import utcnow
from storage.repository import Records, Store

DAYS = 7


@dataclass(frozen=True)
class Link:
    state: Literal["good", "used", "expired", "unknown"]
    session_id: str | None = None
    began: int | None = None  # the day the session began: its lifetime goes with it


class ResumeLinks:
    def __init__(self, store: Store, channel: str, days: int = DAYS) -> None:
        self.store, self.channel, self.days = store, channel, days

    def _hash(self, token: str) -> str:
        return self.store.cipher.lookup(f"resume-link:{token}")

    def make(self, session_id: str, began: int) -> str:
        """A new link for a session (the one it had stops working)."""
        token = secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(days=self.days)
        opens = {"session": session_id, "began": began}
        self.store.run(
            lambda records: records.add_resume_link(self.channel, opens, self._hash(token), expires)
        )
        return token

    def find(self, token: str) -> Link:
        """What a link is, without using it up (opening it only asks what to do)."""
        return self.store.run(lambda records: self._read(records, token, utcnow()))

    def use(self, token: str) -> Link:
        """Use a link up: it opens its session here, and nowhere else any more."""

        def use(records: Records) -> Link:
            link = self._read(records, token, utcnow())
            if link.state == "good" and not records.use_resume_link(self._hash(token)):
                return Link("used")
            return link

        return self.store.run(use)

    def _read(self, records: Records, token: str, now: datetime) -> Link:
        found = records.resume_link(self._hash(token))
        if found is None:
            return Link("unknown")
        row, opens = found
        if row.used_at is not None:
            return Link("used")
        if row.expires_at <= now:
            return Link("expired")
        return Link("good", opens["session"], opens["began"])
