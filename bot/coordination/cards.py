"""The referral card: what a coordinator needs to call a person back, in their own language.

Built as (label, value) lines so each surface renders it its own way (plain text in a terminal
or an email, escaped HTML on Telegram and in the console). Dates follow the coordinator's
locale and time zone through babel; the person's answers are shown as the coordinator's locale
words them, whatever language the person used. Each card is rendered with its own referral's
trial (the screening's `trial_id`), never another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime

from dialogs.i18n import Translator, translator
from dialogs.trial import N_, Trial, Trials
from dialogs.wording import answer_text
from storage.repository import Records
from storage.views import screening_view

OUTCOMES = {
    "likely_eligible": N_("May be a candidate"),
    "needs_review": N_("Needs review"),
    "not_eligible": N_("Probably not eligible"),
}
REFERRAL = N_("Referral {reference}")
OUTCOME = N_("Outcome")
UNCERTAIN = N_("To check")
CONTACT = N_("Contact")
LANGUAGE = N_("Language")
SOURCE = N_("Source")
RECEIVED = N_("Received")
REPLACES = N_("Replaces referral")
NONE = N_("none")
# Notices: what goes where health data must not (email, webhooks), and to the operator.
NEW_REFERRAL = N_("New referral {reference} for {trial}")
READ_IT = N_("Read it")
READ_ON_SERVER = N_("`intake referrals` on the bot's server")
WITHDRAWN = N_("Referral {reference} was withdrawn: the person had their data erased.")
REPLACED = N_("Referral {reference} is replaced by referral {newer}: the person answered again.")
DELIVERY_FAILING = N_("A notification cannot be delivered")
DESTINATION_MOVED = N_("A Telegram group became a supergroup: update INTAKE_NOTIFY")
DESTINATION = N_("Destination")
PROBLEM = N_("Problem")
NEXT_TRY = N_("Next try")
MORE = N_("More")
# What a coordinator can record on a referral, in the order the card offers it.
REFERRAL_STEPS = (
    ("contacted", N_("Contacted")),
    ("booked", N_("Screening visit booked")),
    ("enrolled", N_("Enrolled")),
    ("not_eligible_after_call", N_("Not eligible after the call")),
    ("unreachable", N_("Unreachable")),
    ("declined", N_("Declined to take part")),
)
# Every status a referral can have, as coordinators read it.
REFERRAL_STATUSES = {
    "pending": N_("New"),
    **dict(REFERRAL_STEPS),
    "cancelled": N_("Withdrawn"),
    "replaced": N_("Replaced by a newer referral"),
}
OPEN_STATUSES = ("pending", "contacted", "booked", "unreachable")


@dataclass(frozen=True)
class Card:
    title: str
    lines: tuple[tuple[str, str], ...] = ()
    answers: tuple[tuple[str, str], ...] = ()

    def plain(self) -> str:
        body = [self.title, *(f"{label}: {value}" for label, value in self.lines)]
        return "\n".join([*body, *(f"  • {label}: {value}" for label, value in self.answers)])


def referral_card(
    trial: Trial, screening: dict[str, Any], referral_id: str, received: datetime, locale: str, timezone: str
) -> Card:
    """A card for `screening` (as `storage.views.screening_view` gives it) of `trial`, in `locale`."""
    t = translator(locale, (trial.domain,))
    answers = screening["answers"]
    contact = contact_of(trial, answers)
    uncertain = [f"{c.id} — {t(c.text)}" for c in trial.criteria if c.id in (screening["uncertain"] or [])]
    lines = (
        (t(OUTCOME), outcome_label(screening["outcome"] or "-", t)),
        (t(UNCERTAIN), "; ".join(uncertain) or t(NONE)),
        (t(CONTACT), contact or t(NONE)),
        (t(LANGUAGE), language_name(screening["language"], locale)),
        (t(SOURCE), screening["source"] or "-"),
        (t(RECEIVED), format_datetime(received, "medium", tzinfo=ZoneInfo(timezone), locale=locale)),
    )
    if screening["referral"] and screening["referral"].get("replaces"):
        # The same person screened again: one referral per person and trial, the old one closed.
        lines += ((t(REPLACES), screening["referral"]["replaces"]),)
    shown = []
    for question in trial.questions:
        if question.id in answers and question.scope != "storage" and not question.identifies:
            shown.append((t(question.label), answer_text(question, answers[question.id], t)))
    title = f"{t(REFERRAL, reference=referral_id)} · {trial.registry_id}"
    return Card(title=title, lines=lines, answers=tuple(shown))


def contact_of(trial: Trial, answers: dict[str, Any]) -> str:
    """How to reach the person: their answers to the questions that identify them."""
    values = (
        " ".join(str(answers[q.id]).split()) for q in trial.questions if q.identifies and answers.get(q.id)
    )
    return ", ".join(values)


def language_name(language: str | None, reader: str) -> str:
    """The person's language as the coordinator's locale names it ("英语", "Chinese (Simplified)")."""
    return Locale.parse(language).get_display_name(reader) or language if language else "-"


def outcome_label(outcome: str, t: Translator) -> str:
    return t(OUTCOMES[outcome]) if outcome in OUTCOMES else outcome


def status_label(status: str, t: Translator) -> str:
    """A referral's status in the coordinator's words (an unknown one as stored)."""
    return t(REFERRAL_STATUSES[status]) if status in REFERRAL_STATUSES else status


@dataclass(frozen=True)
class Cards:
    """Referral cards and notices in the coordinators' language and time zone, each with its own
    referral's trial. What the delivery worker sends, and what every surface shows."""

    trials: Trials
    locale: str
    timezone: str
    console_url: str | None = None  # where coordinators read a referral: …/coordinator

    def t(self, trial: Trial | None = None) -> Translator:
        return translator(self.locale, (trial.domain,) if trial else ())

    def card(self, records: Records, referral_id: str, locale: str | None = None) -> Card | None:
        """The full card, or None once the person erased their data (or its trial is not served)."""
        referral = records.referral(referral_id)
        screening = records.screening(referral.screening_id) if referral and referral.screening_id else None
        view = screening_view(records, screening) if screening is not None else None
        trial = self.trials.find(referral.trial_id) if referral is not None else None
        if referral is None or view is None or trial is None:
            return None
        locale = locale or self.locale
        return referral_card(trial, view, referral.id, referral.created_at, locale, self.timezone)

    def notice(self, records: Records, referral_id: str) -> Card:
        """What a notice says: no health data, only what to look up and where."""
        t = self.t()
        referral = records.referral(referral_id)
        lines = []
        if referral is not None:
            lines += [
                (t(OUTCOME), outcome_label(referral.outcome, t)),
                (t(RECEIVED), self.when(referral.created_at)),
            ]
        where = f"{self.console_url.rstrip('/')}/referrals/{referral_id}" if self.console_url else None
        lines.append((t(READ_IT), where or t(READ_ON_SERVER)))
        trial = referral.trial_id if referral is not None else "?"
        return Card(t(NEW_REFERRAL, reference=referral_id, trial=trial), tuple(lines))

    def when(self, moment: datetime) -> str:
        return format_datetime(moment, "medium", tzinfo=ZoneInfo(self.timezone), locale=self.locale)

    def steps(self, locale: str | None = None) -> tuple[tuple[str, str], ...]:
        t = translator(locale or self.locale)
        return tuple((step, t(label)) for step, label in REFERRAL_STEPS)
