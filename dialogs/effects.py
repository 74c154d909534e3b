"""What a turn of the dialog changed that someone outside it must hear about.

The engine returns these beside its replies, and hands them to the host's
`on_effects` inside the same transaction: the host plans notifications to the
study team from them, so a referral and the message announcing it are stored
together or not at all. The engine itself knows nothing of who is told, or how.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferralCreated:
    """A person may be a candidate and agreed to be contacted."""

    referral_id: str


@dataclass(frozen=True)
class ReferralClosed:
    """A referral no longer stands: the person erased their data, or screened again."""

    referral_id: str
    # withdrawn (the person's data is erased) or replaced (by the newer referral `by`).
    reason: str
    by: str | None = None


Effect = ReferralCreated | ReferralClosed
