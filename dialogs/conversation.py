"""A person's screening while one input is handled: what each input does.

Answers go to the question or menu the person saw; commands (/back, /restart,
/stop, /language, /delete, /help) and the menus they open (confirm a read-back,
delete, restart, choose a language, agree to a new consent text) change where
the dialog stands; the state machine in `dialogs.machine` moves it on. What the
person is asked next is rendered by `dialogs.prompts`; what others must hear
about (a referral created or withdrawn) is collected as effects.
"""

from __future__ import annotations

import calendar
import logging
from datetime import date
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from transitions import EventData, MachineError

from dialogs import messages as m
from dialogs.answers import AnswerReader
from dialogs.effects import Effect, ReferralClosed, ReferralCreated
from dialogs.eligibility import Assessment, Outcome, assess
from dialogs.entry import DOMAIN as ENTRY_DOMAIN
from dialogs.entry import Entry, EntryQuestion
from dialogs.i18n import SOURCE_LOCALE, Translator, negotiate, pick_locale, translator
from dialogs.inputs import CAMPAIGN_SOURCE, Address, Choice, Command, Input, Start, Text, Unsupported
from dialogs.machine import CORRECTING, DECLINED, FINISHED, NOT_ELIGIBLE, SUMMARY
from dialogs.outputs import Reply
from dialogs.prompts import (
    ANOTHER_STUDY_OPTIONS,
    OTHER_STUDIES_OPTIONS,
    READ_BACK_OPTIONS,
    REMIND_OPTIONS,
    SUMMARY_OPTIONS,
    Prompts,
    held_menu,
)
from dialogs.trial import Question, Trial
from dialogs.understanding import Certainty, Reading, clean
from storage.models import Participant, utcnow
from storage.repository import Records, ScreeningState

if TYPE_CHECKING:
    from dialogs.engine import Engine

log = logging.getLogger(__name__)


# What the person hears when what they sent cannot be used (otherwise UNSUPPORTED).
UNUSABLE = {
    "edit": m.EDITED,
    "voice_missing": m.VOICE_MISSING,
    "voice_too_long": m.VOICE_TOO_LONG,
    "voice_unreadable": m.VOICE_UNREADABLE,
    "voice_silent": m.VOICE_SILENT,
    "voice_unheard": m.VOICE_UNHEARD,
    "voice_busy": m.VOICE_BUSY,
    "voice_unavailable": m.VOICE_UNAVAILABLE,
}


def start_screening(
    engine: Engine,
    records: Records,
    participant: Participant,
    message: Input,
    hint: str | None,
    previous_locale: str | None,
) -> ScreeningState:
    trial, source = engine.trials.from_link(message.source) if isinstance(message, Start) else (None, None)
    if isinstance(message, Start) and message.trial:
        trial = engine.trials.by_slug(message.trial) or trial
    source = source if source and CAMPAIGN_SOURCE.fullmatch(source) else None
    chosen = message.locale if isinstance(message, Start) else None
    locale = negotiate(chosen, engine.locales) or negotiate(hint, engine.locales) or previous_locale
    screening = _new_screening(
        engine, records, participant, trial or engine.trial, locale, source, {"source": source}
    )
    if trial is None and engine.entry is not None:
        # No study named: the entry's questions choose one (this one until then).
        records.hold_answer(screening, {"menu": "study", "step": engine.entry.questions[0].id})
    return screening


def _new_screening(
    engine: Engine,
    records: Records,
    participant: Participant,
    trial: Trial,
    locale: str | None,
    source: str | None,
    audited: dict[str, str | None],
) -> ScreeningState:
    """A screening of `trial` at its first question, audited with `audited`."""
    screening = records.add_screening(
        participant.id or 0, trial.registry_id, state=trial.questions[0].id, locale=locale, source=source
    )
    records.audit(
        "participant", "screening_started", f"screening:{screening.id}", trial=trial.registry_id, **audited
    )
    log.info("screening %s started", screening.id)
    return screening


def _typed_before(message: Text, screening: ScreeningState) -> bool:
    """Whether `message` was sent before the current prompt reached the person (where the channel
    numbers messages): typed again while the bot was down, say, and handled only once it was back
    and had asked the next question."""
    if message.position is None or screening.delivered_position is None:
        return False
    return message.position < screening.delivered_position


def _months_after(day: date, months: int) -> date:
    """The same day `months` later (the month's last day where it has none: 31 March + 1 is 30 April)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _spoken(message: Input) -> bool:
    return isinstance(message, Text) and message.via == "voice"


def _heard_or_interpreted(reading: Reading, message: Input) -> bool:
    """Whether a reply was spoken, or read in other words than a tap or an exact answer."""
    return _spoken(message) or reading.certainty is Certainty.READ_BACK


def _typed_ahead(reading: Reading, message: Input) -> bool:
    """Whether a reply to a read-back says something else than whether it is right: an answer
    given ahead ("she is 67", "no diabetes"), not a question back and not a plain yes or no."""
    return isinstance(message, Text) and reading.value is None and reading.certainty is Certainty.UNCLEAR


def _allowed_before_consent(message: Input) -> bool:
    """What a person may do before agreeing to a new consent text: leave, read help, change language."""
    return isinstance(message, Command) and message.name in ("delete", "help", "language", "stop", "voice")


class Conversation(Prompts):
    """A person's screening while one input is handled; the state machine's model."""

    def __init__(
        self,
        engine: Engine,
        records: Records,
        address: Address,
        participant: Participant,
        screening: ScreeningState,
        hint: str | None = None,
        answers: dict[str, Any] | None = None,
    ) -> None:
        """`answers`: the screening's, when the caller knows them (none yet: it has just begun)."""
        self.engine = engine
        self.trial = engine.trials.by_id(screening.trial_id)
        self.machine = engine.machines[self.trial.slug]
        self.locales = engine.locales
        self.records = records
        self.address = address
        # The channel's idea of the person's language, for replies before they have chosen one.
        self.hint = hint
        self.participant = participant
        self.screening = screening
        # Where the dialog stands beneath any menu; `state` is the machine's view, menus included.
        self.base = screening.state
        self.editing = screening.editing
        # In the order they were given (`last_answered`), kept so as the turn changes them.
        self.answers: dict[str, Any] = records.answers(screening.id or 0) if answers is None else answers
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.erased = False

    @property
    def t(self) -> Translator:
        locale = self.screening.locale or pick_locale(self.hint, self.engine.locales)
        return self.engine.translator(locale, self.trial)

    @property
    def state(self) -> str:
        return f"_{self.screening.pending}" if self.screening.pending else self.base

    @state.setter
    def state(self, value: str) -> None:
        if value.startswith("_"):
            self.screening.pending = value[1:]
        else:
            self.screening.pending, self.base = None, value
        if not value.startswith("_"):
            # What a menu holds (an answer read back, the entry's step) waits only while it is open.
            self.screening.pending_answer = None

    def translator(self, locale: str) -> Translator:
        return self.engine.translator(locale, self.trial)

    @property
    def reader(self) -> AnswerReader:
        return AnswerReader(
            self.engine.lexicon,
            self.t,
            self.engine.locales,
            self.engine.translators[self.trial.slug],
            utcnow().date(),
        )

    # What the machine asks of its model ------------------------------------

    def askable(self, question: Question) -> bool:
        return question.ask_if is None or question.ask_if.evaluate(self.answers.get, lambda _: None) is True

    def answered(self, question_id: str) -> bool:
        return question_id in self.answers

    def decided_not_eligible(self) -> bool:
        return assess(self.trial, self.answers).outcome is Outcome.NOT_ELIGIBLE

    def last_answered(self) -> str | None:
        return next(reversed(self.answers), None)

    def entered(self, event: EventData) -> None:
        log.info("screening %s: %s -> %s", self.screening.id, event.transition.source, self.state)
        if event.event.name in ("open", "close"):
            return  # a menu over the dialog, or back beneath it: whoever opened it says what follows
        if self.state == DECLINED:
            self._erase()
            self.say(m.DECLINED)
        elif self.state == FINISHED:
            self._finish()
        else:
            self.editing = self.editing and self.state != SUMMARY
            self._set_outcome(assess(self.trial, self.answers) if self.state == NOT_ELIGIBLE else None)
            until = self._excluded_until() if self.state == NOT_ELIGIBLE else None
            if until is not None:
                # Only for now: the person may have a reminder for the day the study may include them.
                self.records.hold_answer(self.screening, {"menu": "remind", "until": until.isoformat()})
                self.open_menu("remind")
            self.prompt()

    # Handling an input -------------------------------------------------------

    def greet(self) -> None:
        if self.screening.locale is None:
            self.open_menu("language")
            self.prompt()
            return
        self._welcome()
        self.prompt()

    def _welcome(self) -> None:
        """The first words after the language is known: the entry's, or the study's."""
        if self._choosing_study():
            self.open_menu("study")
            self.say(self.engine.entry.intro if self.engine.entry else "", translate=self.entry_translator())
        else:
            self.say(self.trial.intro)

    def _choosing_study(self) -> bool:
        held = self.records.held_answer(self.screening) or {}
        return held.get("menu") == "study" and self.engine.entry is not None

    def receive(self, message: Input) -> None:
        pending = self.screening.pending
        answering_a_menu = pending in ("consent", "delete", "language")
        if not answering_a_menu and self._consent_outdated() and not _allowed_before_consent(message):
            # The consent text has a new version: nothing goes on until the person agrees to it.
            self.open_menu("consent")
            self.say(m.CONSENT_CHANGED)
            self.prompt()
        elif isinstance(message, Command):
            if not (pending == "language" and self.screening.locale is None) and pending != "study":
                self.close_menu()  # a command leaves a menu; the first language menu and the entry stay
            self.command(message)
        elif isinstance(message, Unsupported):
            self.say(UNUSABLE.get(message.kind, m.UNSUPPORTED), problem=True)
            self.prompt()
        elif isinstance(message, Start):
            linked, source = self.engine.trials.from_link(message.source)
            linked = self.engine.trials.by_slug(message.trial) or linked
            self._record_source(source)
            if linked is not None and pending == "study":
                self._choose_study(linked)
                return
            chosen = negotiate(message.locale, self.engine.locales)
            if self.screening.locale is None:
                chosen = chosen or negotiate(self.hint, self.engine.locales)
            if chosen:
                self.screening.locale = chosen
                if pending == "language":
                    self.close_menu()
            self.resume()
        elif self._stale(message):
            return
        elif pending:
            self.answer_pending(pending, message)
        elif self.screening.status == "finished" and self._reminded():
            self._rescreen()  # "send any message to answer again"
        elif self.screening.status == "finished":
            self.where_they_stand()
        else:
            self.answer(message)

    def _stale(self, message: Choice | Text) -> bool:
        """Whether `message` answers a prompt other than the current one: then ask the current one."""
        screening = self.screening
        if isinstance(message, Choice):
            if message.prompt == self.prompt_id():
                screening.delivered_seq = screening.prompt_seq  # its button proves it arrived
                return False
            log.info("screening %s: a tap for another prompt changed nothing", screening.id)
            self.say(m.MOVED_ON, problem=True)
        elif screening.delivered_seq < screening.prompt_seq:
            # The current question never reached the person: what they typed answers an
            # earlier one. Its unsent copy is dropped, and it is asked again below.
            log.info("screening %s: an answer to an undelivered prompt changed nothing", screening.id)
            self.records.drop_replies(self.address.channel, self.address.external_id, prompts_only=True)
            self.say(m.UNDELIVERED, problem=True)
        elif _typed_before(message, screening):
            log.info("screening %s: an answer typed before its prompt arrived changed nothing", screening.id)
            self.say(m.CROSSED, problem=True)
        else:
            return False
        self.prompt()
        return True

    def command(self, command: Command) -> None:
        name = command.name
        finished = self.screening.status == "finished"
        if name == "help":
            self.say(m.HELP, hint=True)
            self.prompt()
        elif name == "stop":
            if not finished:
                self.open_menu("paused")
            self.records.cancel_reminders(self.participant.id or 0)  # stop means stop: no reminder either
            self.say(m.PAUSED)
        elif name == "language":
            self.open_menu("language")
            self.prompt()
        elif name == "voice" and not command.argument:
            self.screening.read_aloud = not self.screening.read_aloud
            self.say(m.READ_ALOUD_ON if self.screening.read_aloud else m.READ_ALOUD_OFF)
            self.prompt()
        elif name == "delete":
            self.open_menu("delete")
            self.prompt()
        elif name == "restart":
            if finished or self.answers.keys() - {q.id for q in self.trial.questions if q.scope}:
                self.open_menu("restart")
            self.prompt()
        elif name == "back" and not finished:
            if not self.fire("back"):
                self.say(m.FIRST_QUESTION, problem=True)
                self.prompt()
        elif name == "back":
            self.where_they_stand()
        else:
            self.say(m.UNKNOWN_COMMAND, problem=True)
            self.say(m.HELP, hint=True)
            self.prompt()

    def resume(self) -> None:
        if self.screening.status == "finished":
            if self._reminded():
                self._rescreen()
            else:
                self.where_they_stand()
            return
        if self.screening.pending == "paused" or self.answers:
            self.say(m.WELCOME_BACK)
        if self.screening.pending == "paused":
            self.close_menu()
        self.prompt()

    def _consent_outdated(self) -> bool:
        given = self.screening.storage_consent  # read with the screening: (version, granted)
        if self.screening.status != "active" or given is None:
            return False
        version, granted = given
        return granted and version != self.trial.consent_version

    def _answer_reconsent(self, message: Choice | Text) -> None:
        question = self.trial.questions[0]
        reading = self.reader.read_menu(message, {o.value: o.text for o in question.choices})
        choice = reading.value if reading.sure else None  # a consent: a tap or a clear yes or no
        if choice is None:
            self.say(m.CONSENT_UNCLEAR, problem=True)
            self.prompt()
            return
        self._consent_answered(question, choice)
        if choice != "yes":
            self._erase()
            self.say(m.DECLINED)
            return
        self.close_menu()
        self.say(m.WELCOME_BACK)
        self.prompt()

    def answer_pending(self, pending: str, message: Choice | Text) -> None:
        if pending == "consent":
            self._answer_reconsent(message)
        elif pending == "language":
            self._answer_language(message)
        elif pending == "confirm":
            self._answer_read_back(message)
        elif pending == "paused":
            self._answer_paused(message)
        elif pending == "study":
            self._answer_study(message)
        elif pending == "offer":
            self._answer_offer(message)
        elif pending == "remind":
            self._answer_remind(message)
        else:
            self._answer_delete_or_restart(pending, message)

    def _answer_study(self, message: Choice | Text) -> None:
        """The entry's question: its answer leads to the next question or to a study. Nothing of it is
        kept, so an interpreted answer is not read back: the study's own questions ask again."""
        step = self.engine_entry().question((self.records.held_answer(self.screening) or {}).get("step"))
        reader = AnswerReader(
            self.engine.lexicon, self.entry_translator(), self.engine.locales, (), utcnow().date()
        )
        reading, problem = reader.read(step, message)
        if reading.value is None:
            self.say(*problem, problem=True, hint=True)
            self.prompt()
        elif not reading.sure:
            # Nothing of it is kept, but it chooses the study: words the bot had to interpret
            # ("I've had the op", a transcript) are read back before they lead anywhere.
            self._hold_menu_answer("entry", reading.value, message, step=step.id)
        else:
            self._lead(step, reading.value)

    def _lead(self, step: EntryQuestion, value: str) -> None:
        """Where the entry's answer `value` to `step` leads: its next question, or a study."""
        lead = self.engine_entry().lead(step, value, self.engine.trials)
        if isinstance(lead, Trial):
            self._choose_study(lead)
        else:
            self.records.hold_answer(self.screening, {"menu": "study", "step": lead.id})
            self.prompt()

    def _choose_study(self, trial: Trial) -> None:
        """Screen for `trial` from its first question (nothing was answered before the entry)."""
        self.screening.trial_id = trial.registry_id
        self.trial, self.machine = trial, self.engine.machines[trial.slug]
        self.state = trial.questions[0].id
        self.records.audit(
            "participant", "study_chosen", f"screening:{self.screening.id}", trial=trial.registry_id
        )
        self.say(self.trial.intro)
        self.prompt()

    def engine_entry(self) -> Entry:
        assert self.engine.entry is not None
        return self.engine.entry

    def entry_translator(self) -> Translator:
        locale = self.screening.locale or pick_locale(self.hint, self.engine.locales)
        return translator(locale, (ENTRY_DOMAIN,), self.engine.locales_dir)

    def _answer_paused(self, message: Choice | Text) -> None:
        """Paused: anything typed resumes at the question; a tap on its button answers it."""
        if isinstance(message, Text):
            self.resume()
        else:
            self.close_menu()
            self.answer(message)

    def _answer_language(self, message: Choice | Text) -> None:
        locale = self.reader.language(message)
        if locale is None:
            self.prompt()
            return
        first_contact = not self.answers and self.base == self.trial.questions[0].id
        self.screening.locale = locale
        if first_contact and self._choosing_study():
            self._welcome()  # the study menu, instead of the language menu
        else:
            self.close_menu()
            if first_contact:
                self.say(self.trial.intro)
        self.prompt()

    def _answer_delete_or_restart(self, pending: str, message: Choice | Text) -> None:
        reading = self.reader.read_menu(message, self._pending_options(pending), pending)
        if pending == "delete" and reading.value == "yes" and _heard_or_interpreted(reading, message):
            # Erasing cannot be undone: a spoken or interpreted yes is read back first.
            self._hold_menu_answer("delete", reading.value, message)
            return
        choice = self._menu_choice(reading, message)
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
            return
        self.close_menu()
        if choice == "no":
            if pending == "delete":
                self.say(m.NOT_DELETED)
            self.prompt()
        elif pending == "delete":
            self._erase()
            self.say(m.DELETED)
        elif self.screening.status == "finished":
            self._start_again()
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
            self.where_they_stand()

    def _answer_question(self, question: Question, message: Choice | Text) -> None:
        reading, problem = self.reader.read(question, message, self._variant(question.text))
        if problem[0] == m.TOO_LONG_FOR_CHOICE:
            self.say(m.TOO_LONG_FOR_CHOICE, problem=True)
            self.prompt()
        elif question.kind == "consent" and reading.value is None:
            # Consent only from a tap, a clear yes or no, or clear agreement in other words read
            # back and confirmed: never from "not sure" or a question.
            self.say(m.CONSENT_UNCLEAR, problem=True)
            self.prompt()
        elif reading.certainty is Certainty.UNSURE:
            self.say(m.HEDGED_NUMBER if question.kind == "number" else m.HEDGED, problem=True)
            self.prompt()
        elif reading.value is None:
            self.say(*problem, problem=True, hint=question.kind in ("yes_no", "choice"))
            self.prompt()
        elif reading.sure:
            self._store(question, reading.value, message)
        else:
            assert isinstance(message, Text)
            self._hold_read_back(question.id, reading.value, message.text, message.via, message.confidence)

    def _store(self, question: Question, value: Any, message: Choice | Text) -> None:
        """An answer meant for certain: stored as it came."""
        raw = message.text if isinstance(message, Text) else None
        via = message.via if isinstance(message, Text) else "button"
        self._record(question, value, raw, via, read_back=False)

    def _record(
        self,
        question: Question,
        value: Any,
        raw: str | None,
        via: str,
        read_back: bool,
        confidence: float | None = None,
    ) -> None:
        self.records.record_answer(
            self.screening.id or 0,
            question.id,
            value,
            raw and clean(raw),
            via,
            personal=question.private,
            read_back=read_back,
            confidence=confidence,
            supersedes=question.id in self.answers,
        )
        self._answered(question.id, value)
        if question.scope:
            self._consent_answered(question, value)
            if question is self._opening_consents()[-1] and value is not None:
                self._carry_over()
        self._retract_inapplicable()
        self.fire("answer")

    def _answer_read_back(self, message: Choice | Text) -> None:
        held = self.records.held_answer(self.screening)
        reading = self.reader.read_menu(message, READ_BACK_OPTIONS, "read_back")
        choice = self._menu_choice(reading, message)
        if held is None or held["question"] != self.base:
            self.close_menu()
            self.prompt()
        elif _typed_ahead(reading, message) and not held_menu(held):
            # "she is 67": no confirmation, and not lost either. It waits for the next question,
            # where it is read back; this one's read-back is answered first.
            assert isinstance(message, Text)
            self.records.hold_answer(
                self.screening, {**held, "ahead": message.text, "ahead_via": message.via}
            )
            self.say(m.READ_BACK_FIRST, problem=True)
            self.prompt()
        elif choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        elif choice == "yes" and held_menu(held) == "other_studies":
            self.close_menu()
            self._other_studies(held["value"])
        elif held_menu(held) == "entry":
            step = self.engine_entry().question(held["step"])
            self.records.hold_answer(self.screening, {"menu": "study", "step": step.id})
            self.open_menu("study")
            if choice == "yes":
                self._lead(step, held["value"])
            else:
                self.say(m.ANSWER_AGAIN)
                self.prompt()
        elif choice == "yes" and held_menu(held) == "delete":
            self.close_menu()
            self._erase()
            self.say(m.DELETED)
        elif choice == "yes":
            self.close_menu()
            question = self.trial.question(held["question"])
            confidence = held.get("confidence")
            self._record(question, held["value"], held["raw"], held["via"], True, confidence)
            if held.get("ahead"):
                self._read_ahead(held["ahead"], held["ahead_via"])
        else:
            self.close_menu()
            self.say(m.ANSWER_AGAIN)
            self.prompt()

    def _read_ahead(self, text: str, via: str) -> None:
        """What was typed at the last read-back, as an answer to the question now asked: read
        back, however plain (it was written before the question was seen), or let go."""
        if self.screening.pending or self.state not in self.trial.question_index:
            return
        question = self.trial.question(self.state)
        reading, _ = self.reader.read(question, Text(text, via=via), self._variant(question.text))
        if reading.value is None or reading.certainty is Certainty.UNSURE:
            return
        self._hold_read_back(question.id, reading.value, text, via)

    def _answer_summary(self, message: Choice | Text) -> None:
        choice = self._menu_choice(self.reader.read_menu(message, SUMMARY_OPTIONS, "summary"), message)
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        else:
            self.fire(choice)

    def _answer_correcting(self, message: Choice | Text) -> None:
        choice = self._menu_choice(self.reader.read_menu(message, self._correcting_options()), message)
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        elif choice == SUMMARY:
            self.fire("back")
        else:
            self.fire("pick", target=choice)

    def _answer_other_studies(self, message: Choice | Text) -> None:
        asked, _ = self.worded(m.OTHER_STUDIES)
        reading = self.reader.read_menu(message, OTHER_STUDIES_OPTIONS, "other_studies", asked)
        if reading.value is None:
            # Its answers are the two buttons: "yes, no or I don't know" would offer one it refuses.
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        elif _heard_or_interpreted(reading, message):
            # A consent, heard or put in other words: read back and recorded once confirmed.
            self._hold_menu_answer("other_studies", reading.value, message)
        else:
            self._other_studies(reading.value)

    def _menu_choice(self, reading: Reading, message: Choice | Text) -> str | None:
        """A menu's option, from a tap or clear words; a transcript only if its words are exact
        (a read-back of the answer to a read-back would never end)."""
        if reading.value is None or (_spoken(message) and reading.certainty is Certainty.READ_BACK):
            return None
        return reading.value

    def _hold_menu_answer(self, menu: str, value: str, message: Choice | Text, **more: str) -> None:
        """A menu's answer, heard or interpreted, read back before it is acted on (`more`: what
        acting on it needs, such as the entry's step)."""
        assert isinstance(message, Text)
        self._hold(
            {
                "question": self.base,
                "menu": menu,
                "value": value,
                "raw": message.text,
                "via": message.via,
                **more,
            }
        )

    def _hold_read_back(
        self, question_id: str, value: Any, raw: str, via: str, confidence: float | None = None
    ) -> None:
        """An interpreted answer to a question, kept until the person says it is right."""
        self._hold(
            {"question": question_id, "value": value, "raw": raw, "via": via, "confidence": confidence}
        )

    def _hold(self, held: dict[str, Any]) -> None:
        """Keep `held` (encrypted, on the screening) and ask whether it is right."""
        self.records.hold_answer(self.screening, held)
        self.open_menu("confirm")
        self.prompt()

    def _other_studies(self, choice: str) -> None:
        """The person's answer to news of other studies: a consent of its own. Yes, and another study
        here may suit them on what they have told (not excluded on it): it is offered at once."""
        asked, _ = self.worded(m.OTHER_STUDIES)
        self._record_consent("future_studies", choice == "yes", self.t(asked))
        another = self._another_study() if choice == "yes" else None
        if another is None:
            self.say(m.OTHER_STUDIES_THANKS if choice == "yes" else m.GOODBYE)
        self.fire("answer")
        if another is not None:
            self.records.hold_answer(self.screening, {"menu": "offer", "trial": another.slug})
            self.open_menu("offer")
            self.prompt()

    def _another_study(self) -> Trial | None:
        for trial in self.engine.trials:
            carried = trial.carried_from(self.trial, self.answers)
            if trial is not self.trial and assess(trial, carried).outcome is not Outcome.NOT_ELIGIBLE:
                return trial
        return None

    def _may_have_changed(self, question_id: str, value: Any) -> bool:
        """Whether time may have turned this answer (a "no" to "surgery at least a year ago?")."""
        change = self.trial.question(question_id).may_change
        return change is not None and value != change.to

    def _reminded(self) -> bool:
        """Whether the person's reminder for this study has come due."""
        reminder = self.records.reminder_for(self.participant.id or 0)
        return (
            reminder is not None
            and reminder.screening_id == self.screening.id
            and reminder.due_on <= utcnow().date()
        )

    def _excluded_until(self) -> date | None:
        """The day from which time may have turned the answers that exclude the person (a study three
        months ago, surgery less than a year ago), if nothing else excludes them."""
        turned, months = dict(self.answers), 0
        for question in self.trial.questions:
            change = question.may_change
            if change and question.id in turned and turned[question.id] != change.to:
                turned[question.id], months = change.to, max(months, change.after_months)
        if not months or assess(self.trial, turned).outcome is Outcome.NOT_ELIGIBLE:
            return None
        return _months_after(utcnow().date(), months)

    def _answer_remind(self, message: Choice | Text) -> None:
        held = self.records.held_answer(self.screening) or {}
        choice = self._menu_choice(self.reader.read_menu(message, REMIND_OPTIONS, "other_studies"), message)
        if choice is None or "until" not in held:
            self.say(m.NOT_UNDERSTOOD_YES_NO, problem=True, hint=True)
            self.prompt()
            return
        self.close_menu()
        if choice == "yes":
            until = date.fromisoformat(held["until"])
            self.records.add_reminder(self.screening, self.address.channel, self.address.external_id, until)
            self.records.audit(
                "participant", "reminder_set", f"screening:{self.screening.id}", due_on=until.isoformat()
            )
            pushed = self.address.channel in self.engine.reminding_channels
            self.say(
                m.REMINDER_SET if pushed else m.REMINDER_SET_HERE, {"date": self.long_date(held["until"])}
            )
        self._not_eligible(why=False)

    def _rescreen(self) -> None:
        """Back after a reminder: a new screening with everything the person told, but what time may
        have changed, which alone is asked again (the machine's correcting: unanswered questions)."""
        kept = {q: v for q, v in self.answers.items() if not self._may_have_changed(q, v)}
        self.records.cancel_reminders(self.participant.id or 0)
        self._follow_with(self.trial, "rescreens", kept)
        self.editing = True
        self.say(m.RESCREEN)
        self.state = self._opening_consents()[-1].id
        self.fire("answer")

    def _answer_offer(self, message: Choice | Text) -> None:
        offered = self.offered_trial()
        reading = self.reader.read_menu(message, ANOTHER_STUDY_OPTIONS, "other_studies")
        choice = self._menu_choice(reading, message)
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)  # two buttons, no "I don't know"
            self.prompt()
            return
        self.close_menu()
        if choice != "yes":
            self.say(m.ANOTHER_STUDY_LATER)
            return
        self._follow_with(offered, "offered_after", {})
        self.say(offered.intro)
        self.prompt()

    def offered_trial(self) -> Trial:
        held = self.records.held_answer(self.screening) or {}
        return self.engine.trials.by_slug(held.get("trial")) or self.trial

    def translator_for(self, trial: Trial) -> Translator:
        return self.engine.translator(self.t.locale, trial)

    def _carry_over(self) -> None:
        """Once a study offered after another is agreed to, the answers it shares with that one are
        its own, and only what is missing is asked (the machine's correcting: unanswered questions)."""
        previous = self.records.previous_screening(self.participant.id or 0, self.screening.id or 0)
        if previous is None or previous.trial_id == self.trial.registry_id:
            return
        future = [c for c in self.records.consents(previous.id or 0) if c.scope == "future_studies"]
        if not (future and future[-1].granted):
            return
        earlier = self.engine.trials.by_id(previous.trial_id)
        carried = self.trial.carried_from(earlier, self.records.answers(previous.id or 0))
        self._carry({q: v for q, v in carried.items() if q not in self.answers})
        self.editing = bool(carried)

    # Effects -------------------------------------------------------------------

    def open_menu(self, menu: str) -> None:
        """Put a menu over where the dialog stands (from another menu: instead of it)."""
        if not self.fire("open", menu=menu):
            raise AssertionError(f"no menu {menu!r} from {self.state}")

    def close_menu(self) -> None:
        """Back to where the dialog stood beneath the menu, if one is open."""
        if self.screening.pending:
            self.fire("close")

    def fire(self, event: str, **kwargs: Any) -> bool:
        try:
            return bool(self.machine.events[event].trigger(self, **kwargs))
        except MachineError:
            return False

    def _consent_answered(self, question: Question, value: Any) -> None:
        assert question.scope is not None
        self._record_consent(question.scope, value == "yes", self.question_text(question))

    def _record_consent(self, scope: str, granted: bool, text: str) -> None:
        """The one place a consent is recorded: its scope, the version and the words the person saw."""
        self.records.record_consent(
            self.screening.id or 0,
            scope,
            self.trial.consent_version,
            granted=granted,
            locale=self.screening.locale or SOURCE_LOCALE,
            text=text,
        )

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
            self.records.audit(
                "system",
                "referral_created",
                f"referral:{referral.id}",
                outcome=outcome.value,
                replaces=referral.replaces,
            )
            self.effects.append(ReferralCreated(referral.id))
            if referral.replaces:
                self.effects.append(ReferralClosed(referral.replaces, "replaced", by=referral.id))
            self.say(m.WILL_CONTACT, {"reference": referral.id})
        else:
            self.say(m.CONTACT_THEM, {"contact": self._trial_contact()})

    def _opening_consents(self) -> list[Question]:
        return list(takewhile(lambda q: q.scope is not None, self.trial.questions))

    def _restart(self) -> None:
        consents = {q.id for q in self.trial.questions if q.scope}
        self.records.clear_answers(self.screening.id or 0, keep=consents)
        self.answers = {k: v for k, v in self.answers.items() if k in consents}
        self.editing = False
        # Start again after the consents the dialog opens with: they stand.
        self.state = self._opening_consents()[-1].id
        self.fire("answer")

    def _start_again(self) -> None:
        """A finished screening is kept as it was; a new one starts, with the consents carried over."""
        opening = self._opening_consents()
        consents = {q.id: self.answers.get(q.id) for q in opening}
        self._follow_with(self.trial, "replaces", consents)
        self.state = opening[-1].id
        self.fire("answer")

    def _follow_with(self, trial: Trial, relation: str, carried: dict[str, Any]) -> None:
        """Close this screening and go on in a new one of `trial` for the same person (audited as
        `relation` to this one), with the `carried` answers already its own."""
        previous = self.screening
        self.close()
        self.screening = _new_screening(
            self.engine,
            self.records,
            self.participant,
            trial,
            previous.locale,
            previous.source,
            {relation: f"screening:{previous.id}"},
        )
        self.screening.read_aloud = previous.read_aloud
        self.trial, self.machine = trial, self.engine.machines[trial.slug]
        self.base, self.answers, self.editing = trial.questions[0].id, {}, False
        self._carry(carried)

    def _carry(self, carried: dict[str, Any]) -> None:
        """Answers given before (in an earlier screening) that stand in this one: recorded as carried."""
        for question_id, value in carried.items():
            question = self.trial.question(question_id)
            self.records.record_answer(
                self.screening.id or 0,
                question_id,
                value,
                None,
                "carried",
                personal=question.private,
                supersedes=question_id in self.answers,
            )
            self._answered(question_id, value)
            if question.scope:
                self._consent_answered(question, value)

    def _answered(self, question_id: str, value: Any) -> None:
        """The answer now current: the last given."""
        self.answers.pop(question_id, None)
        self.answers[question_id] = value

    def _erase(self) -> None:
        erasure = self.records.erase_participant(self.participant)
        self.records.audit(
            "participant",
            "participant_erased",
            "participant",
            participant=erasure.participant,
            screenings=erasure.screenings,
        )
        self.effects += [ReferralClosed(referral, "withdrawn") for referral in erasure.withdrawn]
        self.erased = True

    def _record_source(self, source: str | None) -> None:
        if source and CAMPAIGN_SOURCE.fullmatch(source) and not self.screening.source:
            self.screening.source = source

    def close(self) -> list[Reply]:
        """Store where the dialog stands; the caller's transaction commits it."""
        if not self.erased:
            self.screening.state = self.base
            self.screening.editing = self.editing
            self.records.save(self.screening)
        return self.replies
