"""What the person is asked: each question, menu, summary and outcome, as replies in their language.

`Prompts` is the rendering half of a conversation: it reads where the dialog stands
and what was answered, and writes replies; it changes nothing stored but the
prompt's own sequence number (a new prompt gets the next one, so that answers
and buttons can be bound to it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from babel.dates import format_date

from dialogs import messages as m
from dialogs.eligibility import Outcome
from dialogs.entry import Entry
from dialogs.i18n import Translator, display_name
from dialogs.inputs import Address
from dialogs.machine import CORRECTING, NOT_ELIGIBLE, SUMMARY
from dialogs.outputs import Option, Reply
from dialogs.trial import Question, Trial
from dialogs.trial import Text as TrialText
from dialogs.understanding import clean
from dialogs.wording import answer_text
from storage.repository import Records, ScreeningState

# The bot's own menus: their options (value: label).
READ_BACK_OPTIONS = {"yes": m.READ_BACK_YES, "no": m.READ_BACK_NO}
SUMMARY_OPTIONS = {"confirm": m.CONFIRM, "change": m.CHANGE}
DELETE_OPTIONS = {"yes": m.DELETE_YES, "no": m.DELETE_NO}
RESTART_OPTIONS = {"yes": m.RESTART_YES, "no": m.RESTART_NO}
OTHER_STUDIES_OPTIONS = {"yes": m.OTHER_STUDIES_YES, "no": m.OTHER_STUDIES_NO}
ANOTHER_STUDY_OPTIONS = {"yes": m.ANOTHER_STUDY_YES, "no": m.ANOTHER_STUDY_NO}
REMIND_OPTIONS = {"yes": m.REMIND_YES, "no": m.REMIND_NO}
# The menus whose answer, heard or put in other words, is read back first: what it answers, and its options.
MENU_READ_BACKS = {
    "other_studies": (m.OTHER_STUDIES_LABEL, OTHER_STUDIES_OPTIONS),
    "delete": (m.DELETE_LABEL, DELETE_OPTIONS),
}


def held_menu(held: dict[str, Any]) -> str | None:
    """Which menu an answer held for its read-back answers, if a menu's; one held before menus
    were named (news of other studies, at "not eligible") counts as that menu's."""
    return held.get("menu") or ("other_studies" if held.get("question") == NOT_ELIGIBLE else None)


class Prompts:
    """Rendering for `Conversation`, which provides the state below."""

    trial: Trial
    records: Records
    address: Address
    screening: ScreeningState
    # Where the dialog stands: a question id, a dialog state, or a menu over them ("_delete").
    state: str
    answers: dict[str, Any]
    replies: list[Reply]
    locales: list[str]

    @property
    def t(self) -> Translator:
        raise NotImplementedError

    def translator(self, locale: str) -> Translator:
        raise NotImplementedError

    def askable(self, question: Question) -> bool:
        raise NotImplementedError

    def close_menu(self) -> None:
        raise NotImplementedError

    def entry_translator(self) -> Translator:
        raise NotImplementedError

    def offered_trial(self) -> Trial:
        raise NotImplementedError

    def translator_for(self, trial: Trial) -> Translator:
        raise NotImplementedError

    def engine_entry(self) -> Entry:
        raise NotImplementedError

    def prompt_id(self) -> str:
        return f"{self.screening.id}.{self.screening.prompt_seq}"

    def prompt(self) -> None:
        """Ask (again) what the person is expected to answer now (asking it ends a pause)."""
        if self.screening.pending == "paused":
            self.close_menu()
        pending = self.screening.pending
        if pending == "language":
            # Each line and each option in its own language, and said so: a page shows each
            # in its own direction and a screen reader reads it in its own voice.
            prompts: dict[str, str] = {}
            for loc in self.locales:
                prompts.setdefault(self.translator(loc)(m.CHOOSE_LANGUAGE), loc)
            options = tuple(Option(loc, display_name(loc), loc) for loc in self.locales)
            self._ask_with("\n".join(prompts), options, "choice", tuple(prompts.values()))
        elif pending == "consent":
            question = self.trial.questions[0]
            options = tuple(Option(o.value, self.t(o.text)) for o in question.choices)
            self._ask_with(self.question_text(question), options, "consent")
        elif pending == "confirm":
            self._read_back()
        elif pending == "study":
            self._ask_entry()
        elif pending == "offer":
            self._offer_another_study()
        elif pending == "remind":
            self._offer_reminder()
        elif pending in ("delete", "restart"):
            text = m.CONFIRM_DELETE if pending == "delete" else m.CONFIRM_RESTART
            self._menu(text, self._pending_options(pending))
        elif self.screening.status == "finished":
            self.where_they_stand()
        elif self.state in self.trial.question_index:
            self._ask(self.trial.question(self.state))
        elif self.state == SUMMARY:
            self._summary()
        elif self.state == CORRECTING:
            self._menu(m.WHICH_ANSWER, self._correcting_options())
        elif self.state == NOT_ELIGIBLE:
            self._not_eligible()

    def _ask(self, question: Question) -> None:
        text = self.question_text(question)
        if question.help:
            text += "\n" + self.t(question.help)
        options = tuple(Option(o.value, self.t(o.text)) for o in question.choices)
        self._ask_with(text, options, question.kind)

    def _offer_reminder(self) -> None:
        """Why the person cannot be included, that it is only until a date, and a reminder then."""
        held = self.records.held_answer(self.screening) or {}
        lines = [*self._not_eligible_lines(), self.t(m.EXCLUDED_FOR_NOW, date=self.long_date(held["until"]))]
        self._menu("\n".join(lines), REMIND_OPTIONS, translate=False)

    def long_date(self, day: str) -> str:
        """A date as the person's language writes it in full."""
        return format_date(date.fromisoformat(day), format="long", locale=self.t.locale)

    def _offer_another_study(self) -> None:
        offered = self.offered_trial()
        title = self.translator_for(offered)(offered.title)
        self._menu(self.t(m.ANOTHER_STUDY, title=title), ANOTHER_STUDY_OPTIONS, translate=False)

    def _ask_entry(self) -> None:
        """The entry's current question, in the entry's words (`entry_translator`)."""
        entry = self.engine_entry()
        held = self.records.held_answer(self.screening) or {}
        question = entry.question(held.get("step"))
        t = self.entry_translator()
        options = tuple(Option(o.value, t(o.text)) for o in question.choices)
        # Each of the entry's questions is a prompt of its own: a tap on the first, sent again or
        # late, must not answer the second.
        self._ask_with(t(question.texts[0]), options, question.kind, step=question.id)

    def _read_back(self) -> None:
        held = self.records.held_answer(self.screening) or {}
        question = self.trial.question_index.get(held.get("question", ""))
        menu = MENU_READ_BACKS.get(held_menu(held) or "")
        if menu is not None:  # news of other studies, or erasing everything: heard or interpreted
            label, options = menu
            answer, label = self.t(options[held["value"]]), self.t(label)
        elif held_menu(held) == "entry":  # the entry's question, in the entry's words
            step, t = self.engine_entry().question(held["step"]), self.entry_translator()
            answer, label = answer_text(step, held["value"], t), t(step.label)
        elif question is not None:
            answer, label = answer_text(question, held["value"], self.t), self.t(question.label)
        else:
            self.close_menu()
            self.prompt()
            return
        heard = m.HEARD_BACK if held.get("via") == "voice" else m.READ_BACK
        text = self.t(heard, said=clean(held["raw"]), question=label, answer=answer)
        self._menu(text, READ_BACK_OPTIONS, translate=False)

    def question_text(self, question: Question) -> str:
        return self.t(self._variant(question.text))

    def _variant(self, text: TrialText) -> str:
        if isinstance(text, str):
            return text
        chosen = self.answers.get(self.trial.variant_by or "")
        return text.get(chosen, next(iter(text.values())))

    def worded(self, text: str, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """`text` as worded for who is answering and where (`messages.FOR_A_RELATIVE`,
        `messages.ON_CHANNEL`), with the parameters that wording takes."""
        if self.answers.get(self.trial.variant_by or "") == "proxy":
            text = m.FOR_A_RELATIVE.get(text, text)
        channel = self.address.channel
        if text in m.ON_CHANNEL.get(channel, {}):
            text = m.ON_CHANNEL[channel][text]
            params = {**{name: self.t(label) for name, label in m.CHANNEL_LABELS[channel]}, **(params or {})}
        return text, params or {}

    def _summary(self) -> None:
        t = self.t
        colon = t(m.LABEL_SEPARATOR)
        lines = [t(m.SUMMARY_INTRO)]
        for question in self._asked():
            if question.scope != "storage":
                lines.append(
                    f"• {t(question.label)}{colon}{answer_text(question, self.answers[question.id], t)}"
                )
        self._menu("\n".join(lines), SUMMARY_OPTIONS, translate=False)

    def _not_eligible(self, why: bool = True) -> None:
        if why:
            self._emit(Reply("\n".join(self._not_eligible_lines())))
        self._menu(m.OTHER_STUDIES, OTHER_STUDIES_OPTIONS)

    def _not_eligible_lines(self) -> list[str]:
        reasons = self.screening.reasons or []
        explanations = dict.fromkeys(
            self.t(c.explanation) for c in self.trial.criteria if c.id in reasons and c.explanation
        )
        note, params = self.worded(m.NOT_ELIGIBLE_NOTE)
        return [self.t(m.NOT_ELIGIBLE_INTRO), *(f"• {e}" for e in explanations), self.t(note, **params)]

    def _menu(self, text: str, options: dict[str, str], translate: bool = True) -> None:
        rendered = tuple(Option(value, self.t(label)) for value, label in options.items())
        if translate:
            text, params = self.worded(text)
            text = self.t(text, **params)
        self._ask_with(text, rendered, "choice")

    def _ask_with(
        self,
        text: str,
        options: tuple[Option, ...],
        expects: str,
        languages: tuple[str, ...] = (),
        step: str | None = None,
    ) -> None:
        """Put a prompt to the person. A new prompt gets the next sequence number; asking the
        same one again (after a problem, in another language) keeps it, so its buttons stay good.
        `step`: which of a menu's questions this is (the entry's), each a prompt of its own."""
        screening = self.screening
        key = self.state  # a question id, a dialog state, or a menu ("_confirm")
        prompt_key = f"{key}:{step}" if step else key
        if prompt_key != screening.prompt_key:
            screening.prompt_key, screening.prompt_seq = prompt_key, screening.prompt_seq + 1
        speak = self.screening.read_aloud
        self._emit(Reply(text, options, self.prompt_id(), key, expects, speak=speak, languages=languages))

    def _correcting_options(self) -> dict[str, str]:
        options = {q.id: q.label for q in self._asked() if q.scope != "storage"}
        return {**options, SUMMARY: m.BACK_TO_SUMMARY}

    def _pending_options(self, pending: str) -> dict[str, str]:
        return DELETE_OPTIONS if pending == "delete" else RESTART_OPTIONS

    def _asked(self) -> list[Question]:
        return [q for q in self.trial.questions if q.id in self.answers and self.askable(q)]

    def say(
        self,
        text: str,
        params: dict[str, Any] | None = None,
        *,
        problem: bool = False,
        hint: bool = False,
        translate: Translator | None = None,
    ) -> None:
        text, params = self.worded(text, params)
        self._emit(Reply((translate or self.t)(text, **params), problem=problem, hint=hint))

    def _emit(self, reply: Reply) -> None:
        self.replies.append(replace(reply, locale=self.t.locale))

    def where_they_stand(self) -> None:
        """A finished screening: its outcome in the person's words, and the reference if referred."""
        referral = self.records.referral_for(self.screening.id or 0)
        outcome = self.screening.outcome
        if referral is not None and referral.status not in ("cancelled", "replaced"):
            self.say(m.FINISHED_REFERRED, {"reference": referral.id})
        elif outcome in (Outcome.LIKELY_ELIGIBLE.value, Outcome.NEEDS_REVIEW.value):
            self.say(m.FINISHED_CONTACT_THEM, {"contact": self._trial_contact()})
        else:
            self.say(m.FINISHED_NOT_A_MATCH)
        self.say(m.FINISHED_OPTIONS)

    def _trial_contact(self) -> str:
        contact = self.trial.contact
        address = self.t(contact.address) if contact.address else None
        return ", ".join(p for p in (self.t(contact.name), address, contact.phone, contact.email) if p)
