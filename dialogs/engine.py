"""The dialog engine: one input in, replies out, all in one transaction.

Channels (console, Telegram, web) turn what a person sends into an input —
`Start`, `Choice`, `Text`, `Command` or `Unsupported` — and render the
`Reply`s that come back. Nothing about the dialog lives in a channel.

Every input is handled inside one database transaction, committed before
`handle` returns: the channel sends the next question only after the answer
it follows is stored, so a process killed at any point resumes at the right
question with nothing lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from transitions import EventData, MachineError

from dialogs import messages as m
from dialogs.cards import answer_text
from dialogs.conditions import DONT_KNOW
from dialogs.eligibility import Assessment, Outcome, assess
from dialogs.i18n import (
    LOCALES_DIR,
    SOURCE_LOCALE,
    Translator,
    display_name,
    names_of,
    negotiate,
    shipped_locales,
    translator,
)
from dialogs.machine import CORRECTING, DECLINED, FINISHED, NOT_ELIGIBLE, SUMMARY, build_machine
from dialogs.trial import Question, Trial
from dialogs.trial import Text as TrialText
from dialogs.understanding import all_lexicons, clean, match_phrase, normalize, parse_number, parse_phone
from storage.models import Participant, Screening, utcnow
from storage.repository import Records, Store

log = logging.getLogger(__name__)

COMMANDS = ("start", "back", "restart", "stop", "help", "language", "delete")
# Campaign codes travel in links (Telegram deep links allow these characters only).
_SOURCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Longer than any answer to a question with options; refuse rather than guess.
_MAX_OPTION_ANSWER = 200


# Inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The person opened the conversation, possibly from a campaign link.

    `locale` is a language the person chose explicitly (a command-line flag, a
    web page's picker); unlike the channel's hint, it also switches a screening
    already under way.
    """

    source: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class Choice:
    """A tapped option; `prompt` is the prompt its button belonged to, when known."""

    value: str
    prompt: str | None = None


@dataclass(frozen=True)
class Text:
    text: str
    via: str = "text"


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """Something the bot cannot use: a sticker, a photo, a file, a location…"""

    kind: str


Input = Start | Choice | Text | Command | Unsupported


@dataclass(frozen=True)
class Address:
    """Who is speaking, as a channel knows them."""

    channel: str
    external_id: str


# Replies --------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Reply:
    text: str
    options: tuple[Option, ...] = ()
    # The prompt this reply asks (a question id, or the dialog's own prompt);
    # channels tie buttons to it so that taps on old buttons are recognised.
    prompt: str | None = None
    # What kind of answer is expected: a question kind, or "choice" for menus.
    expects: str | None = None
    rtl: bool = False
    # The input was not used (not understood, a stale button…): channels keep the old buttons.
    problem: bool = False
    # The language it is written in, for what a channel adds itself (a button's label).
    locale: str = SOURCE_LOCALE


class Engine:
    def __init__(self, trial: Trial, store: Store, locales_dir: Path = LOCALES_DIR) -> None:
        self.trial = trial
        self.store = store
        self.locales_dir = locales_dir
        self.machine = build_machine(trial)
        self.locales = shipped_locales(locales_dir)
        self.lexicon = all_lexicons(locales_dir)

    def translator(self, locale: str) -> Translator:
        return translator(locale, (self.trial.domain,), self.locales_dir)

    def handle(
        self,
        address: Address,
        message: Input,
        *,
        locale: str | None = None,
        dedupe_key: str | None = None,
    ) -> list[Reply]:
        """Handle one input from `address` and return the replies to send.

        `locale` is what the channel knows of the person's language (e.g.
        Telegram's language_code); `dedupe_key` identifies the input so that
        a redelivery of it has no effect and gets no reply.
        """
        for attempt in range(3):
            try:
                with self.store.transaction() as records:
                    return _Turn(self, records, address, locale).run(message, dedupe_key)
            except (IntegrityError, OperationalError):
                # Two first messages racing to create a person, or a duplicate
                # delivered concurrently: the retry sees the winner's rows.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class _Turn:
    """One input: find or start the person's screening, then let it respond."""

    def __init__(self, engine: Engine, records: Records, address: Address, locale: str | None) -> None:
        self.engine = engine
        self.records = records
        self.address = address
        self.hint = locale

    def run(self, message: Input, dedupe_key: str | None) -> list[Reply]:
        repeated = bool(dedupe_key) and not self.records.claim_input(dedupe_key or "")
        participant = self.records.participant(self.address.channel, self.address.external_id)
        if repeated:
            # Seen before: change nothing. If a crash came between storing it and sending the
            # replies, the person would otherwise wait forever: ask the current question again.
            log.info("a repeated input changed nothing")
            screening = self.records.latest_screening(participant.id or 0) if participant else None
            if screening is None or screening.status != "active":
                return []
            conversation = Conversation(self.engine, self.records, participant, screening)
            conversation.prompt()
            return conversation.replies
        if participant is None:
            participant = self.records.add_participant(self.address.channel, self.address.external_id)
        screening = self.records.latest_screening(participant.id or 0)
        purged = screening is not None and screening.purged_at is not None
        if screening is None or purged or (screening.status == "finished" and _starts_over(message)):
            previous_locale = screening.locale if screening else None
            screening = self._start(participant, message, previous_locale)
            conversation = Conversation(self.engine, self.records, participant, screening)
            conversation.greet()
        else:
            conversation = Conversation(self.engine, self.records, participant, screening)
            conversation.receive(message)
        return conversation.close()

    def _start(self, participant: Participant, message: Input, previous_locale: str | None) -> Screening:
        source = message.source if isinstance(message, Start) else None
        chosen = message.locale if isinstance(message, Start) else None
        locales = self.engine.locales
        screening = self.records.add_screening(
            participant.id or 0,
            self.engine.trial.registry_id,
            state=self.engine.trial.questions[0].id,
            locale=negotiate(chosen, locales) or negotiate(self.hint, locales) or previous_locale,
            source=source if source and _SOURCE.match(source) else None,
        )
        self.records.audit(
            "participant", "screening_started", f"screening:{screening.id}", source=screening.source
        )
        log.info("screening %s started", screening.id)
        return screening


def _allowed_before_consent(message: Input) -> bool:
    """What a person may do before agreeing to a new consent text: leave, read help, change language."""
    return isinstance(message, Command) and message.name in ("delete", "help", "language", "stop")


def _starts_over(message: Input) -> bool:
    return isinstance(message, Start) or (isinstance(message, Command) and message.name == "restart")


class Conversation:
    """A person's screening while one input is handled; the state machine's model."""

    def __init__(
        self, engine: Engine, records: Records, participant: Participant, screening: Screening
    ) -> None:
        self.engine = engine
        self.trial = engine.trial
        self.records = records
        self.participant = participant
        self.screening = screening
        self.state = screening.state
        self.editing = screening.editing
        self.answers: dict[str, Any] = records.answers(screening.id or 0)
        self.replies: list[Reply] = []
        self.erased = False

    @property
    def t(self) -> Translator:
        return self.engine.translator(self.screening.locale or SOURCE_LOCALE)

    # What the machine asks of its model ------------------------------------

    def askable(self, question: Question) -> bool:
        return question.ask_if is None or question.ask_if.evaluate(self.answers.get, lambda _: None) is True

    def answered(self, question_id: str) -> bool:
        return question_id in self.answers

    def decided_not_eligible(self) -> bool:
        return assess(self.trial, self.answers).outcome is Outcome.NOT_ELIGIBLE

    def last_answered(self) -> str | None:
        return self.records.last_answered(self.screening.id or 0)

    def entered(self, event: EventData) -> None:
        log.info("screening %s: %s -> %s", self.screening.id, event.transition.source, self.state)
        if self.state == DECLINED:
            self._erase()
            self.say(m.DECLINED)
        elif self.state == FINISHED:
            self._finish()
        else:
            self.editing = self.editing and self.state != SUMMARY
            self._set_outcome(assess(self.trial, self.answers) if self.state == NOT_ELIGIBLE else None)
            self.prompt()

    # Handling an input -------------------------------------------------------

    def greet(self) -> None:
        if self.screening.locale is None:
            self.screening.pending = "language"
            self.prompt()
            return
        self.say(self.trial.intro)
        self.prompt()

    def receive(self, message: Input) -> None:
        pending, status = self.screening.pending, self.screening.status
        answering_a_menu = pending in ("consent", "delete", "language")
        if not answering_a_menu and self._consent_outdated() and not _allowed_before_consent(message):
            # The consent text has a new version: nothing goes on until the person agrees to it.
            self.screening.pending = "consent"
            self.say(m.CONSENT_CHANGED)
            self.prompt()
        elif isinstance(message, Command):
            self.screening.pending = None
            self.command(message)
        elif isinstance(message, Unsupported):
            self.say(m.EDITED if message.kind == "edit" else m.UNSUPPORTED, problem=True)
            self.prompt()
        elif isinstance(message, Start):
            self._record_source(message.source)
            chosen = negotiate(message.locale, self.engine.locales)
            if chosen:
                self.screening.locale = chosen
                self.screening.pending = None if pending == "language" else pending
            self.resume()
        elif isinstance(message, Choice) and message.prompt not in (None, self.current_prompt()):
            self.say(m.MOVED_ON, problem=True)
            self.prompt()
        elif pending:
            self.answer_pending(pending, message)
        elif status == "finished":
            self.say(m.ALREADY_FINISHED)
        elif status == "paused" and not isinstance(message, Choice):
            self.resume()
        else:
            self.screening.status = "active"
            self.answer(message)

    def command(self, command: Command) -> None:
        name = command.name
        if name == "start":
            self._record_source(command.argument)
            self.resume()
        elif name == "help":
            self.say(m.HELP)
            self.prompt()
        elif name == "stop":
            self.screening.status = "paused" if self.screening.status != "finished" else "finished"
            self.say(m.PAUSED)
        elif name == "language":
            self.screening.pending = "language"
            self.prompt()
        elif name == "delete":
            self.screening.pending = "delete"
            self.prompt()
        elif name == "restart":
            if self.answers.keys() - {q.id for q in self.trial.questions if q.scope}:
                self.screening.pending = "restart"
                self.prompt()
            else:
                self.prompt()
        elif name == "back" and self.screening.status != "finished":
            self.screening.status = "active"
            if not self.fire("back"):
                self.say(m.FIRST_QUESTION, problem=True)
                self.prompt()
        elif name == "back":
            self.say(m.ALREADY_FINISHED)
        else:
            self.say(m.UNKNOWN_COMMAND, problem=True)
            self.say(m.HELP)
            self.prompt()

    def resume(self) -> None:
        if self.screening.status == "finished":
            self.say(m.ALREADY_FINISHED)
            return
        if self.screening.status == "paused" or self.answers:
            self.say(m.WELCOME_BACK)
        self.screening.status = "active"
        self.prompt()

    def _consent_outdated(self) -> bool:
        if self.screening.status not in ("active", "paused"):
            return False
        given = [c for c in self.records.consents(self.screening.id or 0) if c.scope == "storage"]
        return bool(given) and given[-1].granted and given[-1].version != self.trial.consent_version

    def _answer_reconsent(self, message: Choice | Text) -> None:
        question = self.trial.questions[0]
        choice = self._understand_options(message, {o.value: o.text for o in question.choices})
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_YES_NO, problem=True)
            self.prompt()
            return
        self.records.record_consent(
            self.screening.id or 0,
            "storage",
            self.trial.consent_version,
            granted=choice == "yes",
            locale=self.screening.locale or SOURCE_LOCALE,
            text=self.question_text(question),
        )
        if choice != "yes":
            self._erase()
            self.say(m.DECLINED)
            return
        self.screening.pending, self.screening.status = None, "active"
        self.say(m.WELCOME_BACK)
        self.prompt()

    def answer_pending(self, pending: str, message: Choice | Text) -> None:
        if pending == "consent":
            self._answer_reconsent(message)
            return
        if pending == "language":
            locale = self._understand_language(message)
            if locale is None:
                self.prompt()
                return
            first_contact = not self.answers and self.state == self.trial.questions[0].id
            self.screening.locale = locale
            self.screening.pending = None
            if first_contact:
                self.say(self.trial.intro)
            self.prompt()
            return
        choice = self._understand_options(message, self._pending_options(pending))
        if choice is None:
            self.prompt()
            return
        self.screening.pending = None
        if choice == "no":
            if pending == "delete":
                self.say(m.NOT_DELETED)
            self.prompt()
        elif pending == "delete":
            self._erase()
            self.say(m.DELETED)
        else:
            self._restart()

    def answer(self, message: Choice | Text) -> None:
        if self.state == SUMMARY:
            self._answer_summary(message)
        elif self.state == CORRECTING:
            self._answer_correcting(message)
        elif self.state == NOT_ELIGIBLE:
            self._answer_other_studies(message)
        elif self.state in self.trial.question_index:
            self._answer_question(self.trial.question(self.state), message)
        else:
            self.say(m.ALREADY_FINISHED)

    def _answer_question(self, question: Question, message: Choice | Text) -> None:
        value, problem = self.understand(question, message)
        if problem is not None:
            self.say(*problem, problem=True)
            self.prompt()
            return
        raw = message.text if isinstance(message, Text) else None
        via = message.via if isinstance(message, Text) else "button"
        personal = question.identifies or question.kind == "text"
        self.records.record_answer(
            self.screening.id or 0, question.id, value, raw and clean(raw), via, personal=personal
        )
        self.answers[question.id] = value
        if question.scope:
            self.records.record_consent(
                self.screening.id or 0,
                question.scope,
                self.trial.consent_version,
                granted=value == "yes",
                locale=self.screening.locale or SOURCE_LOCALE,
                text=self.question_text(question),
            )
        self._retract_inapplicable()
        self.fire("answer")

    def _answer_summary(self, message: Choice | Text) -> None:
        choice = self._understand_options(message, self._summary_options())
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True)
            self.prompt()
        else:
            self.fire(choice)

    def _answer_correcting(self, message: Choice | Text) -> None:
        choice = self._understand_options(message, self._correcting_options())
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True)
            self.prompt()
        elif choice == SUMMARY:
            self.fire("back")
        else:
            self.fire("pick", target=choice)

    def _answer_other_studies(self, message: Choice | Text) -> None:
        choice = self._understand_options(message, self._yes_no(m.OTHER_STUDIES_YES, m.OTHER_STUDIES_NO))
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_YES_NO, problem=True)
            self.prompt()
            return
        self.records.record_consent(
            self.screening.id or 0,
            "future_studies",
            self.trial.consent_version,
            granted=choice == "yes",
            locale=self.screening.locale or SOURCE_LOCALE,
            text=self.t(m.OTHER_STUDIES),
        )
        self.say(m.OTHER_STUDIES_THANKS if choice == "yes" else m.GOODBYE)
        self.fire("answer")

    # Understanding -----------------------------------------------------------

    def understand(
        self, question: Question, message: Choice | Text
    ) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
        """The value to store for `message`, or the problem to tell the person about."""
        if question.kind in ("yes_no", "consent", "choice"):
            options = {o.value: o.text for o in question.choices}
            keywords = {
                o.value: [normalize(k) for k in (*o.keywords.split("|"), *self.t(o.keywords).split("|"))]
                for o in question.choices
                if o.keywords
            }
            value = self._understand_options(message, options, keywords)
            if value is None:
                problem = m.NOT_UNDERSTOOD_CHOICE if question.kind == "choice" else m.NOT_UNDERSTOOD_YES_NO
                if isinstance(message, Text) and len(message.text) > _MAX_OPTION_ANSWER:
                    problem = m.TOO_LONG_FOR_CHOICE
                return None, (problem, {})
            return value, None
        text = message.value if isinstance(message, Choice) else message.text
        if question.kind == "number":
            number = parse_number(text, self.engine.lexicon) if len(text) <= _MAX_OPTION_ANSWER else None
            if number is None or not (question.min or 0) <= number <= (question.max or 0):
                bounds = {"min": question.min, "max": question.max, "example": 42}
                return None, (m.NOT_UNDERSTOOD_NUMBER, bounds)
            return number, None
        if question.kind == "phone":
            phone = parse_phone(text) if len(text) <= 40 else None
            return (phone, None) if phone else (None, (m.NOT_UNDERSTOOD_PHONE, {}))
        cleaned = clean(text)
        if not cleaned:
            return None, (m.TEXT_EMPTY, {})
        if len(cleaned) > question.max_length:
            return None, (m.TEXT_TOO_LONG, {"max": question.max_length})
        return cleaned, None

    def _understand_options(
        self, message: Choice | Text, options: dict[str, str], keywords: dict[str, list[str]] | None = None
    ) -> str | None:
        """Which option a tap or a typed answer means, or None."""
        keywords = keywords or {}
        if isinstance(message, Choice):
            return message.value if message.value in options else None
        text = message.text
        if len(text) > _MAX_OPTION_ANSWER:
            return None
        stripped = normalize(text)
        if stripped.isdigit() and 1 <= int(stripped) <= len(options):
            return list(options)[int(stripped) - 1]
        phrases: dict[str, list[str]] = {}
        for value, label in options.items():
            phrases[value] = [normalize(label), normalize(self.t(label))]
            phrases[value] += self.engine.lexicon.phrases.get(value, ())
            phrases[value] += keywords.get(value, [])
        return match_phrase(text, phrases)

    def _understand_language(self, message: Choice | Text) -> str | None:
        locales = self.engine.locales
        if isinstance(message, Choice):
            return message.value if message.value in locales else None
        stripped = normalize(message.text)
        if stripped.isdigit() and 1 <= int(stripped) <= len(locales):
            return locales[int(stripped) - 1]
        # Each locale scores the length of all its names found ("繁體" + "中文" beats "中文");
        # a tie goes to the earlier menu entry.
        scores = [
            (sum(len(n) for n in names_of(locale, locales) if self._names(message.text, n)), -index, locale)
            for index, locale in enumerate(locales)
        ]
        best = max(scores)
        return best[2] if best[0] else negotiate(message.text.strip(), locales)

    @staticmethod
    def _names(text: str, name: str) -> bool:
        return match_phrase(text, {name: [normalize(name)]}) == name

    # Prompts -----------------------------------------------------------------

    def current_prompt(self) -> str:
        pending = self.screening.pending
        return f"_{pending}" if pending else self.state

    def prompt(self) -> None:
        """Ask (again) what the person is expected to answer now."""
        pending = self.screening.pending
        if pending == "language":
            prompts = dict.fromkeys(
                self.engine.translator(loc)(m.CHOOSE_LANGUAGE) for loc in self.engine.locales
            )
            options = tuple(Option(loc, display_name(loc)) for loc in self.engine.locales)
            self._emit("\n".join(prompts), options, "_language", "choice")
        elif pending == "consent":
            question = self.trial.questions[0]
            options = tuple(Option(o.value, self.t(o.text)) for o in question.choices)
            self._emit(self.question_text(question), options, "_consent", "consent")
        elif pending in ("delete", "restart"):
            text = m.CONFIRM_DELETE if pending == "delete" else m.CONFIRM_RESTART
            self._menu(text, self._pending_options(pending), f"_{pending}")
        elif self.state in self.trial.question_index:
            self._ask(self.trial.question(self.state))
        elif self.state == SUMMARY:
            self._summary()
        elif self.state == CORRECTING:
            self._menu(m.WHICH_ANSWER, self._correcting_options(), CORRECTING)
        elif self.state == NOT_ELIGIBLE:
            self._not_eligible()
        elif self.screening.status == "finished":
            self.say(m.ALREADY_FINISHED)

    def _ask(self, question: Question) -> None:
        text = self.question_text(question)
        if question.help:
            text += "\n" + self.t(question.help)
        options = tuple(Option(o.value, self.t(o.text)) for o in question.choices)
        self._emit(text, options, question.id, question.kind)

    def question_text(self, question: Question) -> str:
        return self.t(self._variant(question.text))

    def _variant(self, text: TrialText) -> str:
        if isinstance(text, str):
            return text
        chosen = self.answers.get(self.trial.variant_by or "")
        return text.get(chosen, next(iter(text.values())))

    def _summary(self) -> None:
        lines = [self.t(m.SUMMARY_INTRO)]
        for question in self._asked():
            if question.scope != "storage":
                lines.append(
                    f"• {self.t(question.label)}: {answer_text(question, self.answers[question.id], self.t)}"
                )
        self._menu("\n".join(lines), self._summary_options(), SUMMARY, translate=False)

    def _not_eligible(self) -> None:
        reasons = self.screening.reasons or []
        explanations = dict.fromkeys(
            self.t(c.explanation) for c in self.trial.criteria if c.id in reasons and c.explanation
        )
        lines = [self.t(m.NOT_ELIGIBLE_INTRO), *(f"• {e}" for e in explanations), self.t(m.NOT_ELIGIBLE_NOTE)]
        self._emit("\n".join(lines))
        self._menu(m.OTHER_STUDIES, self._yes_no(m.OTHER_STUDIES_YES, m.OTHER_STUDIES_NO), NOT_ELIGIBLE)

    def _menu(self, text: str, options: dict[str, str], prompt: str, translate: bool = True) -> None:
        rendered = tuple(Option(value, self.t(label)) for value, label in options.items())
        body = self.t(text) if translate else text
        self._emit(body, rendered, prompt, "choice")

    def _summary_options(self) -> dict[str, str]:
        return {"confirm": m.CONFIRM, "change": m.CHANGE}

    def _correcting_options(self) -> dict[str, str]:
        options = {q.id: q.label for q in self._asked() if q.scope != "storage"}
        return {**options, SUMMARY: m.BACK_TO_SUMMARY}

    def _pending_options(self, pending: str) -> dict[str, str]:
        if pending == "delete":
            return self._yes_no(m.DELETE_YES, m.DELETE_NO)
        return self._yes_no(m.RESTART_YES, m.RESTART_NO)

    @staticmethod
    def _yes_no(yes: str, no: str) -> dict[str, str]:
        return {"yes": yes, "no": no}

    def _asked(self) -> list[Question]:
        return [q for q in self.trial.questions if q.id in self.answers and self.askable(q)]

    def say(self, text: str, params: dict[str, Any] | None = None, *, problem: bool = False) -> None:
        self._emit(self.t(text, **(params or {})), problem=problem)

    def _emit(
        self,
        text: str,
        options: tuple[Option, ...] = (),
        prompt: str | None = None,
        expects: str | None = None,
        problem: bool = False,
    ) -> None:
        t = self.t
        self.replies.append(Reply(text, options, prompt, expects, t.rtl, problem, t.locale))

    # Effects -------------------------------------------------------------------

    def fire(self, event: str, **kwargs: Any) -> bool:
        try:
            return bool(self.engine.machine.events[event].trigger(self, **kwargs))
        except MachineError:
            return False

    def _retract_inapplicable(self) -> None:
        """Drop answers to questions that a changed answer has made irrelevant."""
        stale = {q.id for q in self.trial.questions if q.id in self.answers and not self.askable(q)}
        if stale:
            self.records.retract_answers(self.screening.id or 0, stale)
            for question_id in stale:
                del self.answers[question_id]

    def _set_outcome(self, assessment: Assessment | None) -> None:
        self.screening.outcome = assessment.outcome.value if assessment else None
        self.screening.reasons = list(assessment.reasons) if assessment else []
        self.screening.uncertain = list(assessment.uncertain) if assessment else []

    def _finish(self) -> None:
        screening = self.screening
        screening.status = "finished"
        screening.finished_at = utcnow()
        if screening.outcome is None:  # from the summary; not_eligible has set it already
            self._set_outcome(assess(self.trial, self.answers))
        outcome = Outcome(screening.outcome)
        self.records.audit(
            "participant", "screening_finished", f"screening:{screening.id}", outcome=outcome.value
        )
        if not outcome.refers:
            return
        self.say(m.MAY_BE_CANDIDATE if outcome is Outcome.LIKELY_ELIGIBLE else m.NEEDS_REVIEW)
        contact = self.trial.consent_question("contact")
        if contact is not None and self.answers.get(contact.id) == "yes":
            referral = self.records.add_referral(screening)
            self.records.audit("system", "referral_created", f"referral:{referral.id}", outcome=outcome.value)
            self.say(m.WILL_CONTACT, {"reference": referral.id})
        else:
            self.say(m.CONTACT_THEM, {"contact": self._trial_contact()})

    def _trial_contact(self) -> str:
        contact = self.trial.contact
        return ", ".join(p for p in (self.t(contact.name), contact.phone, contact.email) if p)

    def _restart(self) -> None:
        consents = {q.id for q in self.trial.questions if q.scope}
        self.records.clear_answers(self.screening.id or 0, keep=consents)
        self.answers = {k: v for k, v in self.answers.items() if k in consents}
        self.editing = False
        # Start again after the consents the dialog opens with: they stand.
        opening = list(takewhile(lambda q: q.scope is not None, self.trial.questions))
        self.state = opening[-1].id
        self.fire("answer")

    def _erase(self) -> None:
        erased = self.records.erase_participant(self.participant)
        self.records.audit("participant", "participant_erased", "participant", screenings=erased)
        self.erased = True

    def _record_source(self, source: str | None) -> None:
        if source and _SOURCE.match(source) and not self.screening.source:
            self.screening.source = source

    def close(self) -> list[Reply]:
        """Store where the dialog stands; the caller's transaction commits it."""
        if not self.erased:
            self.screening.state = self.state
            self.screening.editing = self.editing
            self.records.save(self.screening)
        return self.replies


__all__ = [
    "DONT_KNOW",
    "Address",
    "Choice",
    "Command",
    "Engine",
    "Input",
    "Option",
    "Reply",
    "Start",
    "Text",
    "Unsupported",
]
