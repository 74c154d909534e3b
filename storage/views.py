"""Read-only views of what is stored, for operators, exports and tests.

Built a batch at a time: a fixed number of queries for a batch of screenings, whatever its
size, never one or more per screening."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.models import Referral, Screening
from storage.repository import Records


def screening_views(records: Records, screenings: Sequence[Screening]) -> list[dict[str, Any]]:
    """Screenings as plain data: where each stands, its outcome, current answers and referral."""
    ids = [s.id or 0 for s in screenings]
    referrals = records.referrals_of(ids)
    answers = records.answers_of(ids)
    return [_view(s, referrals.get(s.id or 0), answers.get(s.id or 0, {})) for s in screenings]


def screening_view(records: Records, screening: Screening) -> dict[str, Any]:
    """One screening as plain data (`screening_views`)."""
    return screening_views(records, [screening])[0]


def _view(screening: Screening, referral: Referral | None, answers: dict[str, Any]) -> dict[str, Any]:
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
        "answers": answers,
        "referral": {"id": referral.id, "status": referral.status, "replaces": referral.replaces}
        if referral
        else None,
        "started_at": screening.started_at.isoformat(),
        "finished_at": screening.finished_at.isoformat() if screening.finished_at else None,
    }


def screenings_page(
    records: Records, trial_ids: Sequence[str] | None, after: int, size: int
) -> list[dict[str, Any]]:
    """The next `size` screenings (of `trial_ids`, if given) by id after screening `after`, as
    plain data."""
    return screening_views(records, records.screenings_after(after, size, trial_ids))


def referral_views(
    records: Records, referrals: Sequence[tuple[Referral, Screening | None]]
) -> list[tuple[Referral, dict[str, Any] | None]]:
    """Referrals, each with its screening's view (None once the person erased it)."""
    screenings = [s for _, s in referrals if s is not None]
    views = dict(zip((s.id for s in screenings), screening_views(records, screenings), strict=True))
    return [(r, views[s.id] if s is not None else None) for r, s in referrals]
