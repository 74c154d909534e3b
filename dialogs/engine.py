"""The dialog engine: one input in, replies out, all in one transaction.

Channels (the console and Telegram today) turn what a person sends into an input —
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from dialogs import before_consent
from dialogs import messages as m
from dialogs.before_consent import Before, Unstored
from dialogs.conditions import DONT_KNOW
from dialogs.conversation import Conversation, start_screening
from dialogs.effects import Effect
from dialogs.entry import load_entry
from dialogs.i18n import LOCALES_DIR, Translator, shipped_locales, translator
from dialogs.inputs import Address, Choice, Command, Input, Start, Text, Unsupported, parse_text
from dialogs.machine import build_machine
from dialogs.outputs import Option, Reply, Turn
from dialogs.trial import Trial, Trials
from dialogs.understanding import all_lexicons
from storage.models import Participant, utcnow
from storage.repository import Records, ScreeningState, Store

log = logging.getLogger(__name__)


# Called inside the input's transaction with what it changed (the host plans notifications).
EffectSink = Callable[[Records, list[Effect]], None]
# A stored person, and their latest screening if they have one.
Standing = tuple[Participant, ScreeningState | None]


class Engine:
    def __init__(
        self,
        trials: Trials | Trial,
        store: Store,
        locales_dir: Path = LOCALES_DIR,
        on_effects: EffectSink | None = None,
    ) -> None:
        self.trials = trials if isinstance(trials, Trials) else Trials([trials])
        # With more than one trial, someone who comes without a study's link is asked which suits them.
        self.entry = load_entry() if len(self.trials) > 1 else None
        self.store = store
        self.on_effects = on_effects
        self.locales_dir = locales_dir
        self.machines = {trial.slug: build_machine(trial) for trial in self.trials}
        self.locales = shipped_locales(locales_dir)
        self.lexicon = all_lexicons(locales_dir)
        # Every language's words for each trial's options, so "没有好转" is understood in any chat.
        self.translators = {
            trial.slug: tuple(self.translator(locale, trial) for locale in self.locales)
            for trial in self.trials
        }

    # The channels that can send a message unasked: a reminder goes to these; on the others (the web
    # chat) it waits for the person, and for the console's list of who is due for re-screening.
    reminding_channels = frozenset({"telegram"})

    def remind(self, today: date | None = None) -> int:
        """Put the reminders due by `today` in their people's outboxes, in their language; how many."""
        with self.store.transaction() as records:
            due = records.due_reminders(today or utcnow().date())
            due = [r for r in due if r.channel in self.reminding_channels]
            for reminder in due:
                trial = self.trials.by_id(reminder.trial_id)
                t = self.translator(reminder.locale, trial)
                reply = Reply(t(m.REMINDER_DUE, title=t(trial.title)), locale=reminder.locale)
                records.add_replies(
                    reminder.channel, records.reminder_address(reminder), [(reply.to_data(), None)]
                )
                records.reminded(reminder)
            return len(due)

    @property
    def trial(self) -> Trial:
        """The first trial served: where a link without one leads."""
        return self.trials.first

    def translator(self, locale: str, trial: Trial | None = None) -> Translator:
        return translator(locale, ((trial or self.trial).domain,), self.locales_dir)

    def handle(
        self,
        address: Address,
        message: Input,
        *,
        locale: str | None = None,
        dedupe_key: str | None = None,
        with_outbox: bool = False,
    ) -> Turn:
        """Handle one input from `address`: the replies it added to the outbox, and its effects.

        `locale` is what the channel knows of the person's language (e.g.
        Telegram's language_code); `dedupe_key` identifies the input so that
        a redelivery of it has no effect (what it said is still in the outbox
        if it was never sent). The effects go to `on_effects` in the same transaction.
        `with_outbox`: the turn's `waiting` is all the person's outbox, read in its transaction
        (what `outbox` would say next, without another).
        """

        def turn(records: Records) -> Turn:
            handled = self._turn(records, address, message, locale, dedupe_key)
            if not with_outbox:
                return handled
            return replace(handled, waiting=self._waiting(records, address))

        # Two first messages racing to create a person, or a duplicate delivered
        # concurrently: the retry sees the winner's rows.
        return self.store.run(turn)

    def handle_before_consent(
        self, address: Address, message: Input, before: Before | None, *, locale: str | None = None
    ) -> Turn | Unstored:
        """`handle`, for a channel that keeps what comes before consent itself (`dialogs.before_consent`):
        someone stored already is handled as `handle` does; anyone else stands where `before` says
        (None: they have just arrived), and is stored only once this input leaves them consenting
        to storage (a `Turn`); otherwise nothing is stored, and `Unstored` says what to show them."""

        def turn(records: Records) -> Turn | Unstored:
            records.lock_person(address.channel, address.external_id)
            standing = records.standing(address.channel, address.external_id)
            if standing is not None:
                return self._turn(records, address, message, locale, None, standing)
            conversation, keep = before_consent.run(self, records, address, message, before, locale)
            replies = conversation.close()
            if keep:
                return self._queue(records, address, replies, conversation.effects)
            standing = None if conversation.erased else before_consent.before_of(conversation.screening)
            records.discard()
            return Unstored(replies, standing)

        return self.store.run(turn)

    def _turn(
        self,
        records: Records,
        address: Address,
        message: Input,
        locale: str | None,
        dedupe_key: str | None,
        standing: Standing | None = None,
    ) -> Turn:
        """One input of someone stored, handled and queued in `records`' transaction (`standing`:
        the person and their screening, if already read), after any other input of theirs (on any
        instance) has finished."""
        if standing is None:  # read under the lock already otherwise
            records.lock_person(address.channel, address.external_id)
        replies, effects = _Turn(self, records, address, locale).run(message, dedupe_key, standing)
        return self._queue(records, address, replies, effects)

    def _queue(self, records: Records, address: Address, replies: list[Reply], effects: list[Effect]) -> Turn:
        """A turn's replies into the person's outbox, and its effects to the host, in its transaction."""
        queued = [(reply.to_data(), reply.prompt) for reply in replies]
        ids = records.add_replies(address.channel, address.external_id, queued)
        if effects and self.on_effects is not None:
            self.on_effects(records, effects)
        return Turn([replace(reply, id=id) for reply, id in zip(replies, ids, strict=True)], effects)

    def locale_of(self, address: Address) -> str | None:
        """The language the person's conversation is in (None before one is chosen): what a
        channel transcribes their voice in."""
        with self.store.transaction() as records:
            participant = records.participant(address.channel, address.external_id)
            screening = records.latest_screening(participant.id or 0) if participant else None
            return screening.locale if screening else None

    # The outbox ----------------------------------------------------------------

    def outbox(self, address: Address) -> list[Reply]:
        """The person's replies not yet sent, oldest first."""
        with self.store.transaction() as records:
            return self._waiting(records, address)

    @staticmethod
    def _waiting(records: Records, address: Address) -> list[Reply]:
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

    def take(self, address: Address, position: Callable[[list[Reply]], int | None]) -> Shown | None:
        """`outbox` and `sent` in one transaction, for a channel where showing is sending (a web
        page): the person's unsent replies, marked sent at `position` (of them), and whether they
        asked to be read aloud; None if nobody is stored at `address` (nothing is taken then)."""
        with self.store.transaction() as records:
            standing = records.standing(address.channel, address.external_id)
            if standing is None:
                return None
            _, screening = standing
            replies = self._waiting(records, address)
            ids = [r.id for r in replies if r.id is not None]
            if ids:
                records.replies_sent(address.channel, address.external_id, ids, position(replies))
            return Shown(replies, bool(screening and screening.read_aloud))

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


@dataclass(frozen=True)
class Shown:
    """What a page shows a stored person: their replies not shown yet, and whether to read them aloud."""

    replies: list[Reply]
    read_aloud: bool


class _Turn:
    """One input: find or start the person's screening, then let it respond."""

    def __init__(self, engine: Engine, records: Records, address: Address, locale: str | None) -> None:
        self.engine = engine
        self.records = records
        self.address = address
        self.hint = locale

    def run(
        self, message: Input, dedupe_key: str | None, standing: Standing | None
    ) -> tuple[list[Reply], list[Effect]]:
        """A few statements whatever the input: claim it, read the person with their screening,
        read its answers; then decide in memory, and write what changed."""
        if dedupe_key and not self.records.claim_input(dedupe_key):
            # Seen before: change nothing. Whatever it caused and was not sent is still in the outbox.
            log.info("a repeated input changed nothing")
            return [], []
        standing = standing or self.records.standing(self.address.channel, self.address.external_id)
        if standing is None:
            standing = self.records.add_participant(self.address.channel, self.address.external_id), None
        participant, screening = standing
        if screening is None or screening.purged_at is not None:
            previous_locale = screening.locale if screening else None
            screening = start_screening(
                self.engine, self.records, participant, message, self.hint, previous_locale
            )
            conversation = Conversation(
                self.engine, self.records, self.address, participant, screening, self.hint, answers={}
            )
            conversation.greet()
        else:
            conversation = Conversation(
                self.engine, self.records, self.address, participant, screening, self.hint
            )
            conversation.receive(message)
        return conversation.close(), conversation.effects


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
