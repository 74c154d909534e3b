"""Web chat sessions without accounts: signed cookies that expire, and resume links apart from them.

A session cookie is `<session id>.<day begun>.<day used>.<signature>`: a random id, the day
(counted from 1970) the session began and the day it was last used, and a signature of all
three. Signing is itsdangerous's (HMAC-SHA256, a salt per purpose: session, before-consent
state, CSRF), under a secret of this deployment's own that the store's lookup key derives.
Each visit issues it again with today as the day used, so a person who keeps
coming back keeps their screening; a cookie unused for `max_age_days`, or begun more than
`lifetime_days` ago however often used, stops working, because it is a key to someone's
health answers. The cookie is never shown on a page.

A resume link carries a token of its own, which opens the session on another device once
(`bot.web.resume`).

Before a visitor consents, nothing of them is stored: where they stand (`dialogs.before_consent`:
their language, study, a menu or a read-back open) travels in a second cookie, signed together
with their session id so that it is good for that session only. Nothing in it needs hiding (an
answer held for its read-back is encrypted already); only tampering needs stopping. What the bot
said to them travels likewise, in a third, until the next page shows it; and each page's buttons
post back when it was made (the tap-settling clock). So any instance of the bot serves any request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import Signer

from bot.web.pages import matches


def today() -> int:
    return int(time.time() // 86400)


@dataclass(frozen=True)
class Reading:
    session_id: str | None  # the session id of a good token
    began: int = 0  # the day the session began


@dataclass
class Tokens:
    sign: Callable[[str], str]  # a keyed hash of its argument (the store's lookup key)
    max_age_days: int = 90
    lifetime_days: int = 180
    clock: Callable[[], int] = today
    _signers: dict[str, Signer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A secret for web tokens alone: known only to whoever holds the store's key, and no
        # key of the store itself.
        secret = self.sign("web-token-secret")
        self._signers = {
            purpose: Signer(secret, salt=f"web-{purpose}", digest_method=hashlib.sha256)
            for purpose in ("session", "before", "unshown", "shown", "csrf")
        }

    def _signature(self, purpose: str, value: str) -> str:
        return self._signers[purpose].get_signature(value).decode()

    def issue(self, session: str | None = None, began: int | None = None) -> str:
        """A token for `session` (a new one, begun today, when None), used today."""
        if session is None:
            session, began = secrets.token_urlsafe(24), None
        used = self.clock()
        body = f"{session}.{began if began is not None else used}.{used}"
        return f"{body}.{self._signature('session', body)}"

    def read(self, token: str | None) -> Reading:
        """What a token says: forged, mangled, missing, idle for too long or too old ones name
        no session."""
        body, _, signature = (token or "").rpartition(".")
        session, _, days = body.partition(".")
        began, _, used = days.partition(".")
        if not (session and began.isdigit() and used.isdigit()):
            return Reading(None)
        if not matches(signature, self._signature("session", body)):
            return Reading(None)
        today = self.clock()
        if today - int(used) > self.max_age_days or today - int(began) > self.lifetime_days:
            return Reading(None)
        return Reading(session, int(began))

    def seal_before(self, session: str, before: dict[str, Any]) -> str:
        """Where a visitor stands before consent, as their cookie carries it."""
        body = base64.urlsafe_b64encode(json.dumps(before, separators=(",", ":")).encode()).decode()
        return f"{body}.{self._signature('before', f'{session}.{body}')}"

    def open_before(self, session: str, value: str | None) -> dict[str, Any] | None:
        """What `seal_before` sealed for this session; None for anything else."""
        body, _, signature = (value or "").rpartition(".")
        if not body or not matches(signature, self._signature("before", f"{session}.{body}")):
            return None
        return dict(json.loads(base64.urlsafe_b64decode(body)))

    def seal_unshown(self, session: str, replies: list[dict[str, Any]]) -> str:
        """What the bot said to a visitor before consent, for the page after this post (on whichever
        instance serves it): compressed, since a question and its options come to a few kilobytes."""
        packed = zlib.compress(json.dumps(replies, separators=(",", ":")).encode(), 9)
        body = base64.urlsafe_b64encode(packed).decode()
        return f"{body}.{self._signature('unshown', f'{session}.{body}')}"

    def open_unshown(self, session: str, value: str | None) -> list[dict[str, Any]]:
        """What `seal_unshown` sealed for this session; nothing for anything else."""
        body, _, signature = (value or "").rpartition(".")
        if not body or not matches(signature, self._signature("unshown", f"{session}.{body}")):
            return []
        return list(json.loads(zlib.decompress(base64.urlsafe_b64decode(body))))

    def shown(self, session: str, when: float) -> str:
        """When a page was made, as its buttons post it back: the tap-settle clock travels with the
        page, so whichever instance serves the tap can tell one that came too soon."""
        value = f"{when:.3f}"
        return f"{value}.{self._signature('shown', f'{session}.{value}')}"

    def shown_at(self, session: str, value: str) -> float | None:
        """When the page of this session that posted `value` was made (None: not a page of ours)."""
        when, _, signature = value.rpartition(".")
        if not when or not matches(signature, self._signature("shown", f"{session}.{when}")):
            return None
        return float(when)

    def csrf(self, session: str) -> str:
        """The token every form of this session posts back."""
        return self._signature("csrf", session)
