"""The dialog engine: one input in, replies out, all in one transaction.

Channels (console, Telegram, web) turn what a person sends into an input —
`Start`, `Choice`, `Text`, `Command` or `Unsupported` — and deliver the
`Reply`s that come back. Nothing about the dialog lives in a channel.

Every input is handled inside one database transaction, committed before
`handle` returns. The replies are written in that same transaction to an
outbox: a channel sends what `outbox` holds and reports it with `sent`, so a
reply lost to a network error or a crash is sent again, never forgotten.

Two rules hold every answer to what the person meant:

- An answer belongs to the question the person saw. Each question put to a
  person is a prompt with its own id (`<screening>.<sequence>`); buttons carry
  it, and a typed answer applies only once the current prompt is known to have
  reached the person (`sent`). Anything else changes nothing and gets the
  current question again.
- Nothing is stored on a guess. A tap, an option's number or label, or an
  exact answer word is stored at once; anything the bot had to interpret
  ("she does not", "我今年42岁") is read back, and stored when confirmed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from itertools import takewhile
from pathlib import Path
from typing import Any

from transitions import EventData, MachineError

from dialogs import messages as m
from dialogs.answers import AnswerReader
from dialogs.cards import answer_text
from dialogs.conditions import DONT_KNOW
from dialogs.effects import Effect, ReferralClosed, ReferralCreated
from dialogs.eligibility import Assessment, Outcome, assess
from dialogs.i18n import (
    LOCALES_DIR,
    SOURCE_LOCALE,
    Translator,
    display_name,
    negotiate,
    shipped_locales,
    translator,
)
from dialogs.inputs import Address, Choice, Command, Input, Start, Text, Unsupported, parse_text
from dialogs.machine import CORRECTING, DECLINED, FINISHED, NOT_ELIGIBLE, SUMMARY, build_machine
from dialogs.trial import Question, Trial
from dialogs.trial import Text as TrialText
from dialogs.understanding import Certainty, all_lexicons, clean
from storage.models import Participant, Screening, utcnow
from storage.repository import Records, Store

log = logging.getLogger(__name__)

# Campaign codes travel in links (Telegram deep links allow these characters only).
_SOURCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# Replies --------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Reply:
    text: str
    options: tuple[Option, ...] = ()
    # The prompt this reply asks, "<screening>.<sequence>"; buttons carry it back.
    prompt: str | None = None
    # What it asks: a question id, a dialog state ("summary") or a menu ("_confirm", "_delete").
    asks: str | None = None
    # What kind of answer is expected: a question kind, or "choice" for menus.
    expects: str | None = None
    # The input was not used (not understood, a stale button…): channels keep the old buttons.
    problem: bool = False
    # The channel should say how to answer on it ("tap a button, or type…") after this text.
    hint: bool = False
    # The language it is written in, for what a channel adds itself (a button's label).
    locale: str = SOURCE_LOCALE
    # Its row in the outbox until it is sent.
    id: int | None = None

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        del data["id"]
        data["options"] = [[o.value, o.label] for o in self.options]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], id: int | None = None) -> Reply:
        options = tuple(Option(v, label) for v, label in data.get("options", ()))
        return cls(**{**data, "options": options, "id": id})


@dataclass(frozen=True)
class Turn:
    """What handling one input did: what to say, and what others must hear about."""

    replies: list[Reply]
    effects: list[Effect]


# Called inside the input's transaction with what it changed (the host plans notifications).
EffectSink = Callable[[Records, list[Effect]], None]


class Engine:
    def __init__(
        self,
        trial: Trial,
        store: Store,
        locales_dir: Path = LOCALES_DIR,
        on_effects: EffectSink | None = None,
    ) -> None:
        self.trial = trial
        self.store = store
        self.on_effects = on_effects
        self.locales_dir = locales_dir
        self.machine = build_machine(trial)
        self.locales = shipped_locales(locales_dir)
        self.lexicon = all_lexicons(locales_dir)
        # Every language's words for the trial's options, so "没有好转" is understood in any chat.
        self.translators = tuple(self.translator(locale) for locale in self.locales)

    def translator(self, locale: str) -> Translator:
        return translator(locale, (self.trial.domain,), self.locales_dir)

    def handle(
        self,
        address: Address,
        message: Input,
        *,
        locale: str | None = None,
        dedupe_key: str | None = None,
    ) -> Turn:
        """Handle one input from `address`: the replies it added to the outbox, and its effects.

        `locale` is what the channel knows of the person's language (e.g.
        Telegram's language_code); `dedupe_key` identifies the input so that
        a redelivery of it has no effect (what it said is still in the outbox
        if it was never sent). The effects go to `on_effects` in the same transaction.
        """

        def turn(records: Records) -> Turn:
            replies, effects = _Turn(self, records, address, locale).run(message, dedupe_key)
            queued = [(reply.to_data(), reply.prompt) for reply in replies]
            ids = records.add_replies(address.channel, address.external_id, queued)
            if effects and self.on_effects is not None:
                self.on_effects(records, effects)
            return Turn([replace(reply, id=id) for reply, id in zip(replies, ids, strict=True)], effects)

        # Two first messages racing to create a person, or a duplicate delivered
        # concurrently: the retry sees the winner's rows.
        return self.store.run(turn)

    # The outbox ----------------------------------------------------------------

    def outbox(self, address: Address) -> list[Reply]:
        """The person's replies not yet sent, oldest first."""
        with self.store.transaction() as records:
            rows = records.unsent_replies(address.channel, address.external_id)
        return [Reply.from_data(data, id) for id, data in rows]

    def sent(self, address: Address, replies: Iterable[Reply], position: int | None = None) -> None:
        """These replies reached the person: forget them, and note the prompts they asked.

        `position` is where the last of them stands in the conversation, where the channel
        numbers messages (Telegram's message_id).
        """
        ids = [r.id for r in replies if r.id is not None]
        if ids:
            with self.store.transaction() as records:
                records.replies_sent(address.channel, address.external_id, ids, position)

    def postpone(self, address: Address, delay_seconds: float) -> None:
        """Sending to the person failed: their replies are due again later, backing off."""
        with self.store.transaction() as records:
            records.postpone_replies(address.channel, address.external_id, delay_seconds)

    def unreachable(self, address: Address) -> None:
        """The person cannot be reached (they blocked the bot): drop what waits for them."""
        with self.store.transaction() as records:
            dropped = records.drop_replies(address.channel, address.external_id)
        log.info("%s replies dropped for an unreachable person", dropped)

    def undeliverable(self, address: Address, reply: Reply) -> None:
        """The channel refused this reply for good: drop it (its prompt never reached the person)."""
        with self.store.transaction() as records:
            records.drop_replies(address.channel, address.external_id, ids=[reply.id or 0])

    def due(self, channel: str) -> list[Address]:
        """People of `channel` with replies due to be sent (again)."""
        with self.store.transaction() as records:
            return [Address(channel, to) for to in records.recipients_due(channel, utcnow())]


class _Turn:
    """One input: find or start the person's screening, then let it respond."""

    def __init__(self, engine: Engine, records: Records, address: Address, locale: str | None) -> None:
        self.engine = engine
        self.records = records
        self.address = address
        self.hint = locale

    def run(self, message: Input, dedupe_key: str | None) -> tuple[list[Reply], list[Effect]]:
        if dedupe_key and not self.records.claim_input(dedupe_key):
            # Seen before: change nothing. Whatever it caused and was not sent is still in the outbox.
            log.info("a repeated input changed nothing")
            return [], []
        participant = self.records.participant(self.address.channel, self.address.external_id)
        if participant is None:
            participant = self.records.add_participant(self.address.channel, self.address.external_id)
        screening = self.records.latest_screening(participant.id or 0)
        if screening is None or screening.purged_at is not None:
            previous_locale = screening.locale if screening else None
            screening = _start(self.engine, self.records, participant, message, self.hint, previous_locale)
            conversation = Conversation(
                self.engine, self.records, self.address, participant, screening, self.hint
            )
            conversation.greet()
        else:
            conversation = Conversation(
                self.engine, self.records, self.address, participant, screening, self.hint
            )
            conversation.receive(message)
        return conversation.close(), conversation.effects


def _start(
    engine: Engine,
    records: Records,
    participant: Participant,
    message: Input,
    hint: str | None,
    previous_locale: str | None,
) -> Screening:
    source = message.source if isinstance(message, Start) else None
    source = source if source and _SOURCE.match(source) else None
    chosen = message.locale if isinstance(message, Start) else None
    locale = negotiate(chosen, engine.locales) or negotiate(hint, engine.locales) or previous_locale
    return _new_screening(engine, records, participant, locale, source, {"source": source})


def _new_screening(
    engine: Engine,
    records: Records,
    participant: Participant,
    locale: str | None,
    source: str | None,
    audited: dict[str, str | None],
) -> Screening:
    """A screening at the trial's first question, audited with `audited`."""
    screening = records.add_screening(
        participant.id or 0,
        engine.trial.registry_id,
        state=engine.trial.questions[0].id,
        locale=locale,
        source=source,
    )
    records.audit("participant", "screening_started", f"screening:{screening.id}", **audited)
    log.info("screening %s started", screening.id)
    return screening


def _typed_before(message: Text, screening: Screening) -> bool:
    """Whether `message` was sent before the current prompt reached the person (where the channel
    numbers messages): typed again while the bot was down, say, and handled only once it was back
    and had asked the next question."""
    if message.position is None or screening.delivered_position is None:
        return False
    return message.position < screening.delivered_position


def _allowed_before_consent(message: Input) -> bool:
    """What a person may do before agreeing to a new consent text: leave, read help, change language."""
    return isinstance(message, Command) and message.name in ("delete", "help", "language", "stop")


class Conversation:
    """A person's screening while one input is handled; the state machine's model."""

    def __init__(
        self,
        engine: Engine,
        records: Records,
        address: Address,
        participant: Participant,
        screening: Screening,
        hint: str | None = None,
    ) -> None:
        self.engine = engine
        self.trial = engine.trial
        self.records = records
        self.address = address
        # The channel's idea of the person's language, for replies before they have chosen one.
        self.hint = hint
        self.participant = participant
        self.screening = screening
        self.state = screening.state
        self.editing = screening.editing
        self.answers: dict[str, Any] = records.answers(screening.id or 0)
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.erased = False

    @property
    def t(self) -> Translator:
        locale = self.screening.locale or negotiate(self.hint, self.engine.locales) or SOURCE_LOCALE
        return self.engine.translator(locale)

    @property
    def reader(self) -> AnswerReader:
        return AnswerReader(self.engine.lexicon, self.t, self.engine.locales, self.engine.translators)

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
        pending = self.screening.pending
        answering_a_menu = pending in ("consent", "delete", "language")
        if not answering_a_menu and self._consent_outdated() and not _allowed_before_consent(message):
            # The consent text has a new version: nothing goes on until the person agrees to it.
            self._set_pending("consent")
            self.say(m.CONSENT_CHANGED)
            self.prompt()
        elif isinstance(message, Command):
            if not (pending == "language" and self.screening.locale is None):
                self._set_pending(None)  # a command leaves a menu; the first language menu stays
            self.command(message)
        elif isinstance(message, Unsupported):
            self.say(m.EDITED if message.kind == "edit" else m.UNSUPPORTED, problem=True)
            self.prompt()
        elif isinstance(message, Start):
            self._record_source(message.source)
            chosen = negotiate(message.locale, self.engine.locales)
            if self.screening.locale is None:
                chosen = chosen or negotiate(self.hint, self.engine.locales)
            if chosen:
                self.screening.locale = chosen
                if pending == "language":
                    self._set_pending(None)
            self.resume()
        elif self._stale(message):
            return
        elif pending:
            self.answer_pending(pending, message)
        elif self.screening.status == "finished":
            self.where_they_stand()
        elif self.screening.status == "paused" and isinstance(message, Text):
            self.resume()
        else:
            self.screening.status = "active"
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
                self.screening.status = "paused"
            self.say(m.PAUSED)
        elif name == "language":
            self._set_pending("language")
            self.prompt()
        elif name == "delete":
            self._set_pending("delete")
            self.prompt()
        elif name == "restart":
            if finished or self.answers.keys() - {q.id for q in self.trial.questions if q.scope}:
                self._set_pending("restart")
            self.prompt()
        elif name == "back" and not finished:
            self.screening.status = "active"
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
            self.where_they_stand()
            return
        if self.screening.status == "paused" or self.answers:
            self.say(m.WELCOME_BACK)
        self.screening.status = "active"
        self.prompt()

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

    def _consent_outdated(self) -> bool:
        if self.screening.status not in ("active", "paused"):
            return False
        given = [c for c in self.records.consents(self.screening.id or 0) if c.scope == "storage"]
        return bool(given) and given[-1].granted and given[-1].version != self.trial.consent_version

    def _answer_reconsent(self, message: Choice | Text) -> None:
        question = self.trial.questions[0]
        choice = self.reader.read_menu(message, {o.value: o.text for o in question.choices})
        if choice is None:
            self.say(m.CONSENT_UNCLEAR, problem=True)
            self.prompt()
            return
        self._record_consent(question, choice)
        if choice != "yes":
            self._erase()
            self.say(m.DECLINED)
            return
        self._set_pending(None)
        self.screening.status = "active"
        self.say(m.WELCOME_BACK)
        self.prompt()

    def answer_pending(self, pending: str, message: Choice | Text) -> None:
        if pending == "consent":
            self._answer_reconsent(message)
        elif pending == "language":
            self._answer_language(message)
        elif pending == "confirm":
            self._answer_read_back(message)
        else:
            self._answer_delete_or_restart(pending, message)

    def _answer_language(self, message: Choice | Text) -> None:
        locale = self.reader.language(message)
        if locale is None:
            self.prompt()
            return
        first_contact = not self.answers and self.state == self.trial.questions[0].id
        self.screening.locale = locale
        self._set_pending(None)
        if first_contact:
            self.say(self.trial.intro)
        self.prompt()

    def _answer_delete_or_restart(self, pending: str, message: Choice | Text) -> None:
        choice = self.reader.read_menu(message, self._pending_options(pending))
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
            return
        self._set_pending(None)
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
        reading, problem = self.reader.read(question, message)
        if problem[0] == m.TOO_LONG_FOR_CHOICE:
            self.say(m.TOO_LONG_FOR_CHOICE, problem=True)
            self.prompt()
        elif question.kind == "consent" and not reading.sure:
            # Consent only from a button or a clear yes or no: never from "not sure" or a question.
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
            self.records.hold_answer(
                self.screening,
                {"question": question.id, "value": reading.value, "raw": message.text, "via": message.via},
            )
            self._set_pending("confirm", keep_held=True)
            self.prompt()

    def _store(self, question: Question, value: Any, message: Choice | Text) -> None:
        """An answer meant for certain: stored as it came."""
        raw = message.text if isinstance(message, Text) else None
        via = message.via if isinstance(message, Text) else "button"
        self._record(question, value, raw, via, read_back=False)

    def _record(self, question: Question, value: Any, raw: str | None, via: str, read_back: bool) -> None:
        personal = question.identifies or question.kind == "text"
        self.records.record_answer(
            self.screening.id or 0,
            question.id,
            value,
            raw and clean(raw),
            via,
            personal=personal,
            read_back=read_back,
        )
        self.answers[question.id] = value
        if question.scope:
            self._record_consent(question, value)
        self._retract_inapplicable()
        self.fire("answer")

    def _answer_read_back(self, message: Choice | Text) -> None:
        held = self.records.held_answer(self.screening)
        choice = self.reader.read_menu(message, self._read_back_options(), self.reader.confirm_words())
        if held is None or held["question"] != self.state:
            self._set_pending(None)
            self.prompt()
        elif choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        elif choice == "yes":
            self._set_pending(None)
            question = self.trial.question(held["question"])
            self._record(question, held["value"], held["raw"], held["via"], read_back=True)
        else:
            self._set_pending(None)
            self.say(m.ANSWER_AGAIN)
            self.prompt()

    def _answer_summary(self, message: Choice | Text) -> None:
        choice = self.reader.read_menu(message, self._summary_options(), self.reader.summary_words())
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        else:
            self.fire(choice)

    def _answer_correcting(self, message: Choice | Text) -> None:
        choice = self.reader.read_menu(message, self._correcting_options())
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_CHOICE, problem=True, hint=True)
            self.prompt()
        elif choice == SUMMARY:
            self.fire("back")
        else:
            self.fire("pick", target=choice)

    def _answer_other_studies(self, message: Choice | Text) -> None:
        options = self._yes_no(m.OTHER_STUDIES_YES, m.OTHER_STUDIES_NO)
        choice = self.reader.read_menu(message, options)
        if choice is None:
            self.say(m.NOT_UNDERSTOOD_YES_NO, problem=True, hint=True)
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

    # Prompts -----------------------------------------------------------------

    def prompt_id(self) -> str:
        return f"{self.screening.id}.{self.screening.prompt_seq}"

    def _prompt_key(self) -> str:
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
            self._ask_with("\n".join(prompts), options, "choice")
        elif pending == "consent":
            question = self.trial.questions[0]
            options = tuple(Option(o.value, self.t(o.text)) for o in question.choices)
            self._ask_with(self.question_text(question), options, "consent")
        elif pending == "confirm":
            self._read_back()
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

    def _read_back(self) -> None:
        held = self.records.held_answer(self.screening) or {}
        question = self.trial.question_index.get(held.get("question", ""))
        if question is None:
            self._set_pending(None)
            self.prompt()
            return
        heard = m.HEARD_BACK if held.get("via") == "voice" else m.READ_BACK
        text = self.t(heard, said=clean(held["raw"]), answer=answer_text(question, held["value"], self.t))
        self._menu(text, self._read_back_options(), translate=False)

    def question_text(self, question: Question) -> str:
        return self.t(self._variant(question.text))

    def _variant(self, text: TrialText) -> str:
        if isinstance(text, str):
            return text
        chosen = self.answers.get(self.trial.variant_by or "")
        return text.get(chosen, next(iter(text.values())))

    def _summary(self) -> None:
        t = self.t
        colon = t(m.LABEL_SEPARATOR)
        lines = [t(m.SUMMARY_INTRO)]
        for question in self._asked():
            if question.scope != "storage":
                lines.append(
                    f"• {t(question.label)}{colon}{answer_text(question, self.answers[question.id], t)}"
                )
        self._menu("\n".join(lines), self._summary_options(), translate=False)

    def _not_eligible(self) -> None:
        reasons = self.screening.reasons or []
        explanations = dict.fromkeys(
            self.t(c.explanation) for c in self.trial.criteria if c.id in reasons and c.explanation
        )
        lines = [self.t(m.NOT_ELIGIBLE_INTRO), *(f"• {e}" for e in explanations), self.t(m.NOT_ELIGIBLE_NOTE)]
        self._emit(Reply("\n".join(lines)))
        self._menu(m.OTHER_STUDIES, self._yes_no(m.OTHER_STUDIES_YES, m.OTHER_STUDIES_NO))

    def _menu(self, text: str, options: dict[str, str], translate: bool = True) -> None:
        rendered = tuple(Option(value, self.t(label)) for value, label in options.items())
        self._ask_with(self.t(text) if translate else text, rendered, "choice")

    def _ask_with(self, text: str, options: tuple[Option, ...], expects: str) -> None:
        """Put a prompt to the person. A new prompt gets the next sequence number; asking the
        same one again (after a problem, in another language) keeps it, so its buttons stay good."""
        screening = self.screening
        key = self._prompt_key()
        if key != screening.prompt_key:
            screening.prompt_key, screening.prompt_seq = key, screening.prompt_seq + 1
        self._emit(Reply(text, options, self.prompt_id(), key, expects))

    def _summary_options(self) -> dict[str, str]:
        return {"confirm": m.CONFIRM, "change": m.CHANGE}

    def _correcting_options(self) -> dict[str, str]:
        options = {q.id: q.label for q in self._asked() if q.scope != "storage"}
        return {**options, SUMMARY: m.BACK_TO_SUMMARY}

    def _read_back_options(self) -> dict[str, str]:
        return self._yes_no(m.READ_BACK_YES, m.READ_BACK_NO)

    def _pending_options(self, pending: str) -> dict[str, str]:
        if pending == "delete":
            return self._yes_no(m.DELETE_YES, m.DELETE_NO)
        return self._yes_no(m.RESTART_YES, m.RESTART_NO)

    @staticmethod
    def _yes_no(yes: str, no: str) -> dict[str, str]:
        return {"yes": yes, "no": no}

    def _asked(self) -> list[Question]:
        return [q for q in self.trial.questions if q.id in self.answers and self.askable(q)]

    def say(
        self, text: str, params: dict[str, Any] | None = None, *, problem: bool = False, hint: bool = False
    ) -> None:
        self._emit(Reply(self.t(text, **(params or {})), problem=problem, hint=hint))

    def _emit(self, reply: Reply) -> None:
        self.replies.append(replace(reply, locale=self.t.locale))

    # Effects -------------------------------------------------------------------

    def _set_pending(self, pending: str | None, keep_held: bool = False) -> None:
        self.screening.pending = pending
        if not keep_held:
            self.screening.pending_answer = None

    def fire(self, event: str, **kwargs: Any) -> bool:
        try:
            return bool(self.engine.machine.events[event].trigger(self, **kwargs))
        except MachineError:
            return False

    def _record_consent(self, question: Question, value: Any) -> None:
        self.records.record_consent(
            self.screening.id or 0,
            question.scope or "storage",
            self.trial.consent_version,
            granted=value == "yes",
            locale=self.screening.locale or SOURCE_LOCALE,
            text=self.question_text(question),
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

    def _trial_contact(self) -> str:
        contact = self.trial.contact
        address = self.t(contact.address) if contact.address else None
        return ", ".join(p for p in (self.t(contact.name), address, contact.phone, contact.email) if p)

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
        previous, previous_answers = self.screening, self.answers
        self.close()
        self.screening = _new_screening(
            self.engine,
            self.records,
            self.participant,
            previous.locale,
            previous.source,
            {"replaces": f"screening:{previous.id}"},
        )
        self.answers, self.editing = {}, False
        opening = self._opening_consents()
        for question in opening:
            value = previous_answers.get(question.id)
            self.records.record_answer(
                self.screening.id or 0, question.id, value, None, "carried", personal=False
            )
            self.answers[question.id] = value
            self._record_consent(question, value)
        self.state = opening[-1].id
        self.fire("answer")

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
    "Effect",
    "Engine",
    "Input",
    "Option",
    "Reply",
    "Start",
    "Text",
    "Turn",
    "Unsupported",
    "parse_text",
]
