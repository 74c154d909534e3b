"""People who agreed to hear about other studies, and the studies served here they may fit.

At "not eligible" a person is asked whether they would like to hear about other studies (the
`future_studies` consent). They are listed with the trial they were screened for: that
trial's team asked them, holds their consent to be contacted, and is who tells them of another
study, so another trial's coordinators never see them. Their contact details are shown only
where they agreed to be contacted (the `contact` consent).

Whether they may fit another trial is worked out whenever the list is read, so a trial added to
the deployment shows at once who may fit it: their stored answers are carried to the other
trial's questions through the `concept:` both questions name (never by their wording), and
assessed by that trial's own criteria. What is unanswered there is unknown, so "may fit" is
anything but "not eligible": most often "needs review", since a few answers cannot settle every
criterion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.coordination.cards import contact_of
from dialogs.eligibility import Outcome, assess
from dialogs.trial import Trial, Trials
from storage.repository import Records


@dataclass(frozen=True)
class Fit:
    trial: Trial
    outcome: Outcome


@dataclass(frozen=True)
class Candidate:
    """Someone screened for one trial who would like to hear about others."""

    screening_id: int
    trial: Trial  # the trial they were screened for
    finished_at: datetime | None
    language: str | None
    source: str | None
    reasons: tuple[str, ...]  # the criteria that decided "not eligible" there
    contact: str | None  # None: they did not agree to be contacted, or gave no details
    fits: tuple[Fit, ...]  # the other trials served here they may fit


def fits(trials: Trials, source: Trial, answers: dict[str, Any]) -> tuple[Fit, ...]:
    """The served trials but `source` that the answers, carried by concept, do not rule out."""
    found = []
    for target in trials:
        if target.registry_id == source.registry_id:
            continue
        outcome = assess(target, target.carried_from(source, answers)).outcome
        if outcome is not Outcome.NOT_ELIGIBLE:
            found.append(Fit(target, outcome))
    return tuple(found)


def candidates(records: Records, trials: Trials, trial: Trial) -> list[Candidate]:
    """Everyone screened for `trial` whose latest answer to news of other studies is yes, and
    whose personal data is still kept, newest first."""
    agreed = records.latest_consents(trial.registry_id, "future_studies")
    contactable = records.latest_consents(trial.registry_id, "contact")
    found = []
    for screening_id, consent in agreed.items():
        screening = records.screening(screening_id)
        if not consent.granted or screening is None:
            continue
        answers = records.answers(screening_id)
        reachable = screening_id in contactable and contactable[screening_id].granted
        found.append(
            Candidate(
                screening_id=screening_id,
                trial=trial,
                finished_at=screening.finished_at,
                language=screening.locale,
                source=screening.source,
                reasons=tuple(screening.reasons),
                contact=(contact_of(trial, answers) or None) if reachable else None,
                fits=fits(trials, trial, answers),
            )
        )
    return sorted(found, key=lambda c: c.screening_id, reverse=True)
