"""The referral card: what a coordinator needs to call a person back, in their own language.

Built as (label, value) lines so each channel renders it its own way (plain
text in a terminal, escaped HTML on Telegram). Dates follow the coordinator's
locale and time zone through babel; the person's answers are shown as the
coordinator's locale words them, whatever language the person used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal

from dialogs.i18n import Translator, translator
from dialogs.trial import N_, Question, Trial

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
    """A card for `screening` (as `storage.views.screening_view` gives it), in `locale`."""
    t = translator(locale, (trial.domain,))
    answers = screening["answers"]
    contact = contact_of(trial, answers)
    uncertain = [f"{c.id} — {t(c.text)}" for c in trial.criteria if c.id in (screening["uncertain"] or [])]
    lines = (
        (t(OUTCOME), t(OUTCOMES.get(screening["outcome"], screening["outcome"] or "-"))),
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


def answer_text(question: Question, value: Any, t: Translator) -> str:
    """A stored answer as the reader's locale words it: an option's text, a number the locale's way."""
    option = question.option(str(value)) if question.choices else None
    if option is not None:
        return t(option.text)
    if question.kind == "number" and isinstance(value, int | float):
        return format_decimal(value, locale=t.locale)
    return " ".join(str(value).split())  # on one line, whatever was stored: no fake lines on a card


def contact_of(trial: Trial, answers: dict[str, Any]) -> str:
    """How to reach the person: their answers to the questions that identify them."""
    values = (
        " ".join(str(answers[q.id]).split()) for q in trial.questions if q.identifies and answers.get(q.id)
    )
    return ", ".join(values)


def language_name(language: str | None, reader: str) -> str:
    """The person's language as the coordinator's locale names it ("英语", "Chinese (Simplified)")."""
    return Locale.parse(language).get_display_name(reader) or language if language else "-"
