"""Web chat sessions without accounts: signed tokens that expire when left unused.

A token is `<session id>.<day issued>.<signature>`: a random id, the day (counted from
1970) it was last issued, and a keyed signature of both. Each visit issues it again with
today's date, so a person who keeps coming back keeps their screening; a token (a
cookie, or a resume link kept in a bookmark) unused for `max_age_days` stops working,
because it is a key to someone's health answers.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass


def today() -> int:
    return int(time.time() // 86400)


@dataclass(frozen=True)
class Reading:
    session_id: str | None  # the session id of a good token
    expired: bool = False  # well signed, but unused for too long


@dataclass
class Tokens:
    sign: Callable[[str], str]  # a keyed hash of its argument (the store's lookup key)
    max_age_days: int = 90
    clock: Callable[[], int] = today

    def _signature(self, purpose: str, value: str) -> str:
        return self.sign(f"web-{purpose}:{value}")[:43]

    def issue(self, session: str | None = None) -> str:
        """A token for `session` (a new one when None), dated today."""
        session = session or secrets.token_urlsafe(24)
        issued = str(self.clock())
        return f"{session}.{issued}.{self._signature('session', f'{session}.{issued}')}"

    def read(self, token: str | None) -> Reading:
        """What a token says: forged, mangled or missing ones name no session."""
        session, _, rest = (token or "").partition(".")
        issued, _, signature = rest.partition(".")
        expected = self._signature("session", f"{session}.{issued}")
        if not session or not issued.isdigit() or not hmac.compare_digest(signature, expected):
            return Reading(None)
        if self.clock() - int(issued) > self.max_age_days:
            return Reading(None, expired=True)
        return Reading(session)

    def csrf(self, session: str) -> str:
        """The token every form of this session posts back."""
        return self._signature("csrf", session)
