"""Read-only views of what is stored, for operators, exports and tests."""

from __future__ import annotations

from typing import Any

from storage.models import Referral, Screening
from storage.repository import Records


def screening_view(records: Records, screening: Screening) -> dict[str, Any]:
    """One screening as plain data: where it stands, its outcome and current answers."""
    referral = records.referral_for(screening.id or 0)
    return {
        "id": screening.id,
        "trial": screening.trial_id,
        "language": screening.locale,
        "source": screening.source,
        "state": screening.state,
        # Paused is where the dialog stands (a state of its machine); shown with the record's status.
        "status": "paused" if screening.pending == "paused" else screening.status,
        "outcome": screening.outcome,
        "reasons": list(screening.reasons),
        "uncertain": list(screening.uncertain),
        "answers": records.answers(screening.id or 0),
        "referral": {"id": referral.id, "status": referral.status, "replaces": referral.replaces}
        if referral
        else None,
        "started_at": screening.started_at.isoformat(),
        "finished_at": screening.finished_at.isoformat() if screening.finished_at else None,
    }


def all_screenings(records: Records, trial_id: str | None = None) -> list[dict[str, Any]]:
    return [screening_view(records, s) for s in records.screenings(trial_id)]


def referral_views(
    records: Records, referral_ids: list[str] | None = None
) -> list[tuple[Referral, dict[str, Any] | None]]:
    """Referrals, oldest first, each with its screening's view (None once the person erased it)."""
    if referral_ids is None:
        referrals = records.referrals()
    else:
        referrals = [r for i in referral_ids if (r := records.referral(i)) is not None]
    views = []
    for referral in referrals:
        screening = records.screening(referral.screening_id) if referral.screening_id else None
        views.append((referral, screening_view(records, screening) if screening else None))
    return views
