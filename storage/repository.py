"""The one place that reads and writes screenings, answers, consents and referrals.

A `Store` hands out a `Records` per transaction: the dialog engine does all
the work of one input inside one transaction, so an answer, the state that
follows it and any referral it causes are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage import funnel
from storage.crypto import Cipher, unlock
from storage.models import (
    Account,
    Answer,
    AuditEvent,
    Consent,
    ConsoleSession,
    CryptoState,
    FunnelCount,
    Notification,
    OutgoingReply,
    Participant,
    ProcessedInput,
    QuestionnaireVersion,
    Referral,
    ReferralEvent,
    Reminder,
    ResumeLink,
    Screening,
    utcnow,
)

T = TypeVar("T")
# A notification not sent yet: due at its next_attempt_at (pending), or refused so far (failing).
WAITING = ("pending", "failing")
SCREENING = Screening.__table__  # type: ignore[attr-defined]
SCREENING_COLUMNS: tuple[str, ...] = tuple(SCREENING.columns.keys())


@dataclass(eq=False)
class ScreeningState:
    """A screening as one turn works on it: plain values, read with the person in one query and
    written back in one statement of only what changed (`Records.save`). The dialog assigns its
    fields many times a turn; an ORM row would track each assignment (issue 22). Its fields are
    the table's columns (a test holds them equal), and what is read with it."""

    participant_id: int
    trial_id: str
    state: str
    id: int | None = None
    locale: str | None = None
    source: str | None = None
    status: str = "active"
    editing: bool = False
    read_aloud: bool = False
    pending: str | None = None
    pending_answer: str | None = None
    prompt_key: str | None = None
    prompt_seq: int = 0
    delivered_seq: int = 0
    delivered_position: int | None = None
    outcome: str | None = None
    reasons: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    purged_at: datetime | None = None
    counted: str = ""
    # Not a column: the latest consent to storage given or refused in it, (version, granted).
    storage_consent: tuple[str, bool] | None = None
    # The columns as last read or written: what `changed` compares with.
    _stored: dict[str, Any] = field(default_factory=dict, repr=False)

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SCREENING_COLUMNS}

    def changed(self) -> dict[str, Any]:
        stored = self._stored
        return {k: v for k, v in self.columns().items() if k not in stored or stored[k] != v}

    def stored(self) -> None:
        """What it holds now is what the database holds (lists copied: they are changed in place)."""
        self._stored = {k: list(v) if isinstance(v, list) else v for k, v in self.columns().items()}


def _standing() -> Any:
    """The query `Records.standing` makes each turn, built once (building it cost more than running it)."""
    latest = aliased(Screening)
    newest = select(func.max(latest.id)).where(latest.participant_id == Participant.id).scalar_subquery()

    def storage_consent(column: Any) -> Any:
        return (
            select(column)
            .where(col(Consent.screening_id) == SCREENING.c.id, Consent.scope == "storage")
            .order_by(col(Consent.id).desc())
            .limit(1)
            .scalar_subquery()
        )

    return (
        select(
            Participant,
            *SCREENING.columns,
            storage_consent(Consent.version),
            storage_consent(Consent.granted),
        )
        .outerjoin(SCREENING, and_(SCREENING.c.participant_id == Participant.id, SCREENING.c.id == newest))
        .where(Participant.channel == bindparam("channel"), Participant.external_id == bindparam("key"))
        .with_for_update(of=Participant)
    )


_STANDING = _standing()
_PROCESSED = ProcessedInput.__table__  # type: ignore[attr-defined]
# An input's key, unless it is there already: the key comes back only if it was not.
_CLAIM = {
    name: dialect.insert(_PROCESSED).on_conflict_do_nothing().returning(_PROCESSED.c.key)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
REPLY = OutgoingReply.__table__  # type: ignore[attr-defined]
_UNSENT = (
    select(REPLY.c.id, REPLY.c.sealed).where(REPLY.c.recipient == bindparam("recipient")).order_by(REPLY.c.id)
)
ANSWER = Answer.__table__  # type: ignore[attr-defined]
_ADD_ANSWER = insert(ANSWER)
# The current answers of a screening, in the order they were given.
_ANSWERS = (
    select(ANSWER.c.question_id, ANSWER.c.value, ANSWER.c.sealed)
    .where(ANSWER.c.screening_id == bindparam("screening"), ANSWER.c.superseded_at.is_(None))
    .order_by(ANSWER.c.id)
)
# Built once: a statement given its rows as values is compiled anew each time, uncached.
_ADD_REPLIES = insert(REPLY).returning(REPLY.c.id, REPLY.c.sealed)
_SENT = (
    delete(REPLY)
    .where(REPLY.c.recipient == bindparam("recipient"), REPLY.c.id.in_(bindparam("ids", expanding=True)))
    .returning(REPLY.c.prompt)
)


def _delivered() -> Any:
    """A prompt has reached the person (at `position`, where the channel numbers messages)."""
    sequence, position = bindparam("sequence", type_=Integer), bindparam("position", type_=Integer)
    seq, seen_at = SCREENING.c.delivered_seq, SCREENING.c.delivered_position
    mine = select(Participant.id).where(
        Participant.channel == bindparam("channel"), Participant.external_id == bindparam("recipient")
    )
    # Only the person's own screening, and never backwards (a late resend of an old prompt).
    # The same prompt asked again (after a message sent before it arrived, a problem, /help)
    # moves its position on: what was typed before this copy arrived was not typed in
    # answer to it, so the rest of a run typed ahead is refused like its first.
    again = and_(seq == sequence, position.is_not(None), or_(seen_at.is_(None), seen_at < position))
    return (
        update(SCREENING)
        .where(SCREENING.c.id == bindparam("screening"), SCREENING.c.participant_id.in_(mine))
        .where(or_(seq < sequence, again))
        .values(delivered_seq=sequence, delivered_position=position)
    )


_DELIVERED = _delivered()


@dataclass(frozen=True)
class Erasure:
    """What erasing a person removed: their id (never given again), screenings, withdrawn referrals."""

    participant: int
    screenings: int
    withdrawn: list[str]


def empty_the_log(engine: Engine) -> None:
    """After an erasure: what was erased stays in SQLite's write-ahead log until the log is
    copied into the database (where secure_delete has overwritten it) and emptied. The
    checkpoint waits, through the busy timeout, for readers still on older pages."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # no transaction: a checkpoint cannot run inside one
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


class Store:
    def __init__(self, engine: Engine, cipher: Cipher) -> None:
        self.engine = engine
        self.cipher = cipher
        # SQLite has one writer at a time, and its busy handler polls with sleeps:
        # under load one thread can starve for seconds while another keeps winning.
        # Threads of this process queue on a lock instead; other processes still
        # wait through the busy timeout. PostgreSQL needs no such thing.
        self._writer: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @classmethod
    def open(cls, engine: Engine, keys: list[str]) -> Store:
        """A store whose personal fields `keys` encrypt; raises EncryptionKeyError for the wrong keys."""
        with Session(engine) as session:
            state = session.get(CryptoState, 1)
            cipher, sealed = unlock(keys, state.sealed_lookup_key if state else None)
            if sealed is not None:
                session.add(CryptoState(id=1, sealed_lookup_key=sealed))
                session.commit()
        return cls(engine, cipher)

    @staticmethod
    def is_encrypted(engine: Engine) -> bool:
        """Whether this database already holds data under some key."""
        with Session(engine) as session:
            return session.get(CryptoState, 1) is not None

    @contextmanager
    def transaction(self) -> Iterator[Records]:
        with self._writer, Session(self.engine, expire_on_commit=False) as session:
            records = Records(session, self.cipher)
            yield records
            records.tally.apply(session.connection())
            session.commit()
        if records.erased:
            empty_the_log(self.engine)

    def run(self, work: Callable[[Records], T], attempts: int = 3) -> T:
        """`work` in one transaction, tried again when it collides with another writer.

        Two first messages of one person racing to create them, or a duplicate
        delivered concurrently: the retry sees the winner's rows.
        """
        for attempt in range(attempts):
            try:
                with self.transaction() as records:
                    return work(records)
            except (IntegrityError, OperationalError):
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def rotate_keys(self) -> int:
        """Re-encrypt every sealed field with the newest key; return how many were resealed."""
        count = 0
        with self.transaction() as records:
            reseal = self.cipher.reseal
            for state in records.session.exec(select(CryptoState)):
                state.sealed_lookup_key = reseal(state.sealed_lookup_key)
                count += 1
            for participant in records.session.exec(select(Participant)):
                if participant.ref:
                    participant.ref, count = reseal(participant.ref), count + 1
            for screening in records.session.exec(select(Screening)):
                if screening.pending_answer:
                    screening.pending_answer, count = reseal(screening.pending_answer), count + 1
            for reply in records.session.exec(select(OutgoingReply)):
                reply.sealed, count = reseal(reply.sealed), count + 1
            for answer in records.session.exec(select(Answer)):
                if answer.sealed:
                    answer.sealed, count = reseal(answer.sealed), count + 1
                if answer.raw:
                    answer.raw, count = reseal(answer.raw), count + 1
            for event in records.session.exec(
                select(ReferralEvent).where(col(ReferralEvent.note_sealed).is_not(None))
            ):
                event.note_sealed, count = reseal(event.note_sealed or ""), count + 1
            for account in records.session.exec(select(Account).where(col(Account.totp_sealed).is_not(None))):
                account.totp_sealed, count = reseal(account.totp_sealed or ""), count + 1
        return count


class Records:
    """Queries and changes within one transaction."""

    def __init__(self, session: Session, cipher: Cipher) -> None:
        self.session = session
        self.cipher = cipher
        self.erased = False  # personal data was removed: the store empties SQLite's log after commit
        # Each sealed value opened in this transaction, by its token: a turn opens each once.
        self._opened: dict[str, Any] = {}
        # The funnel counts this transaction moves (applied as it commits), and the screenings
        # given consent to storage in it.
        self.tally = funnel.Tally()
        self._consented: set[int] = set()

    # Inputs -----------------------------------------------------------------

    def claim_input(self, key: str) -> bool:
        """Mark an input as handled; False if it already was (a redelivery). One statement: a
        redelivery racing its first delivery waits for it, then finds the key taken."""
        claim = _CLAIM[self.session.get_bind().dialect.name]
        return self.session.exec(claim, params={"key": key, "at": utcnow()}).first() is not None  # type: ignore[call-overload]

    def forget_inputs(self, before: datetime) -> int:
        """Forget the inputs handled before `before`: no channel delivers one again that late
        (Telegram retries an update for at most a day). Returns how many."""
        forgotten = self.session.exec(
            delete(ProcessedInput).where(col(ProcessedInput.at) < before),
            execution_options={"synchronize_session": False},
        )
        return forgotten.rowcount or 0  # type: ignore[attr-defined]

    # Participants and screenings --------------------------------------------

    def lock_person(self, channel: str, external_id: str) -> None:
        """Hold this person's turn lock until the transaction ends: their inputs are handled one at a
        time, whichever instance each reaches. On PostgreSQL an advisory lock on their keyed hash, so
        it holds before anything of them is stored (a first message, a visitor before consent) and
        stores nothing itself; SQLite has one writer at a time already."""
        self._lock(self.person_key(channel, external_id))

    def _lock(self, person_key: str) -> None:
        """`lock_person` for the person found by `person_key` (their `Participant.external_id`)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        digest = hashlib.sha256(person_key.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)  # the lock's key is a bigint
        self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def person_key(self, channel: str, external_id: str) -> str:
        """The keyed hash a person is found by (`Participant.external_id`, `OutgoingReply.recipient`)."""
        return self.cipher.lookup(f"{channel}:{external_id}")

    def participant(self, channel: str, external_id: str) -> Participant | None:
        query = select(Participant).where(
            Participant.channel == channel,
            Participant.external_id == self.person_key(channel, external_id),
        )
        return self.session.exec(query).first()

    def standing(self, channel: str, external_id: str) -> tuple[Participant, ScreeningState | None] | None:
        """A person and their latest screening, with its latest consent to storage, in one query.
        Locks the person's row on PostgreSQL, so their inputs are handled one at a time."""
        key = self.person_key(channel, external_id)
        row = self.session.exec(_STANDING, params={"channel": channel, "key": key}).first()  # type: ignore[call-overload]
        if row is None:
            return None
        participant, *values, version, granted = row
        if values[0] is None:
            return participant, None
        screening = ScreeningState(**dict(zip(SCREENING_COLUMNS, values, strict=True)))
        screening.storage_consent = (version, bool(granted)) if version is not None else None
        screening.stored()
        return participant, screening

    def participant_by_id(self, participant_id: int) -> Participant | None:
        return self.session.get(Participant, participant_id)

    def discard(self) -> None:
        """Undo everything this transaction did: it is to leave no trace (an erasure in it too)."""
        self.session.rollback()
        self.erased = False
        self.tally = funnel.Tally()
        self._consented.clear()

    def add_participant(self, channel: str, external_id: str) -> Participant:
        participant = Participant(
            channel=channel,
            external_id=self.person_key(channel, external_id),
            ref=self.cipher.seal(external_id),
        )
        self.session.add(participant)
        self.session.flush()
        return participant

    def latest_screening(self, participant_id: int) -> Screening | None:
        query = (
            select(Screening)
            .where(Screening.participant_id == participant_id)
            .order_by(col(Screening.id).desc())
        )
        return self.session.exec(query).first()

    def previous_screening(self, participant_id: int, before: int) -> Screening | None:
        """The person's screening just before screening `before`, if any."""
        query = (
            select(Screening)
            .where(Screening.participant_id == participant_id, col(Screening.id) < before)
            .order_by(col(Screening.id).desc())
        )
        return self.session.exec(query).first()

    def screening(self, screening_id: int) -> Screening | None:
        return self.session.get(Screening, screening_id)

    def add_screening(self, participant_id: int, trial_id: str, state: str, **fields: Any) -> ScreeningState:
        screening = ScreeningState(participant_id=participant_id, trial_id=trial_id, state=state, **fields)
        screening.counted = funnel.steps(screening.status, screening.outcome, False, ())
        values = {k: v for k, v in screening.columns().items() if k != "id"}
        screening.id = self.session.exec(
            insert(SCREENING).values(values).returning(SCREENING.c.id)
        ).scalar_one()
        screening.stored()
        self.tally.move(None, (self._cell(screening), screening.counted))
        return screening

    @staticmethod
    def _cell(screening: ScreeningState | Screening) -> funnel.Cell:
        return funnel.cell(screening.trial_id, screening.locale, screening.source, screening.started_at)

    def save(self, screening: ScreeningState) -> None:
        """Write what changed in a turn's screening (and when), in one statement; what moves it
        in the funnel moves its counts (applied as the transaction commits)."""
        screening.updated_at = utcnow()
        was = screening._stored
        before = funnel.cell(was["trial_id"], was["locale"], was["source"], was["started_at"])
        had = screening.counted.split()
        consented = "consented" in had or screening.id in self._consented
        referral = [step for step in had if step in funnel.REFERRAL_STEPS]
        screening.counted = funnel.steps(screening.status, screening.outcome, consented, referral)
        self.tally.move((before, was["counted"]), (self._cell(screening), screening.counted))
        changed = screening.changed()
        self.session.exec(update(SCREENING).where(SCREENING.c.id == screening.id).values(changed))
        screening.stored()

    def screenings_of(self, participant_id: int) -> list[Screening]:
        query = (
            select(Screening).where(Screening.participant_id == participant_id).order_by(col(Screening.id))
        )
        return list(self.session.exec(query))

    def funnel_counts(self, trial_id: str) -> list[tuple[str, str | date, str, int]]:
        """A trial's screenings counted at each step of the funnel per language, per source (""
        for none) and per day (UTC) begun: (dimension, bucket, step, n) rows of the counters kept
        with each change (storage.funnel), a few per language, source and day whatever the number
        of screenings. A step: started, consented (to storage), completed, its outcome, referred
        (not cancelled), contacted (reached), enrolled."""
        query = select(FunnelCount).where(FunnelCount.trial_id == trial_id, FunnelCount.n != 0)
        return [
            (c.dimension, date.fromisoformat(c.bucket) if c.dimension == "day" else c.bucket, c.step, c.n)
            for c in self.session.exec(query)
        ]

    def screenings_after(
        self, after: int, limit: int, trial_ids: Sequence[str] | None = None
    ) -> list[Screening]:
        """The next `limit` screenings by id after screening `after` (of `trial_ids`, if given)."""
        query = select(Screening).where(col(Screening.id) > after).order_by(col(Screening.id)).limit(limit)
        if trial_ids is not None:
            query = query.where(col(Screening.trial_id).in_(trial_ids))
        return list(self.session.exec(query))

    def count_screenings(self, trial_ids: Sequence[str] | None = None) -> int:
        query = select(func.count()).select_from(Screening)
        if trial_ids is not None:
            query = query.where(col(Screening.trial_id).in_(trial_ids))
        return self.session.exec(query).one()

    def count_referrals(self, trial_ids: Sequence[str] | None = None) -> int:
        query = select(func.count()).select_from(Referral)
        if trial_ids is not None:
            query = query.where(col(Referral.trial_id).in_(trial_ids))
        return self.session.exec(query).one()

    def screenings(self, trial_id: str | None = None) -> list[Screening]:
        query = select(Screening).order_by(col(Screening.id))
        if trial_id:
            query = query.where(Screening.trial_id == trial_id)
        return list(self.session.exec(query))

    # Answers ----------------------------------------------------------------

    def answers(self, screening_id: int) -> dict[str, Any]:
        """The current answer to each question, by question id, in the order they were given."""
        rows = self.session.exec(_ANSWERS, params={"screening": screening_id})  # type: ignore[call-overload]
        return {q: self.open(sealed) if sealed else value for q, value, sealed in rows}

    def _seal(self, value: Any) -> str:
        """`value` sealed, and known by its token for the rest of the transaction."""
        token = self.cipher.seal(value)
        self._opened[token] = value
        return token

    def open(self, token: str) -> Any:
        """A sealed value, opened once per transaction (a copy: what is opened may be changed)."""
        if token not in self._opened:
            self._opened[token] = self.cipher.open(token)
        value = self._opened[token]
        return dict(value) if isinstance(value, dict) else value

    def answers_of(self, screening_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The current answers of each of these screenings, by screening id: one query for them all."""
        query = (
            select(Answer)
            .where(col(Answer.screening_id).in_(screening_ids), col(Answer.superseded_at).is_(None))
            .order_by(col(Answer.id))
        )
        found: dict[int, dict[str, Any]] = {}
        for answer in self.session.exec(query):
            found.setdefault(answer.screening_id, {})[answer.question_id] = self.value_of(answer)
        return found

    def value_of(self, answer: Answer) -> Any:
        return self.cipher.open(answer.sealed) if answer.sealed else answer.value

    def answer_history(self, screening_id: int) -> list[Answer]:
        query = select(Answer).where(Answer.screening_id == screening_id).order_by(col(Answer.id))
        return list(self.session.exec(query))

    def record_answer(
        self,
        screening_id: int,
        question_id: str,
        value: Any,
        raw: str | None,
        via: str,
        *,
        personal: bool,
        read_back: bool = False,
        confidence: float | None = None,
        supersedes: bool = True,
    ) -> None:
        """Store an answer; an earlier answer to the same question is kept, superseded (`supersedes`:
        the caller may know there is none). The row is written at once.

        A `personal` value (a name, a phone, free text) is stored encrypted; so is `raw`.
        """
        if supersedes:
            self._supersede(screening_id, Answer.question_id == question_id)
        # A statement, not an ORM object: flushing one cost more than the rest of the turn's writing.
        self.session.exec(
            _ADD_ANSWER,  # type: ignore[call-overload]
            params={
                "screening_id": screening_id,
                "question_id": question_id,
                "value": None if personal else value,
                "sealed": self.cipher.seal(value) if personal else None,
                "raw": self.cipher.seal(raw) if raw else None,
                "via": via,
                "read_back": read_back,
                "confidence": confidence,
                "answered_at": utcnow(),
            },
        )

    def hold_answer(self, screening: ScreeningState, held: dict[str, Any]) -> None:
        """Keep an interpreted answer, encrypted, until the person confirms it."""
        screening.pending_answer = self._seal(dict(held))

    def held_answer(self, screening: ScreeningState) -> dict[str, Any] | None:
        return self.open(screening.pending_answer) if screening.pending_answer else None

    def clear_answers(self, screening_id: int, keep: set[str]) -> None:
        """Supersede every current answer but those to `keep` (a restart)."""
        self._supersede(screening_id, col(Answer.question_id).not_in(keep))

    def retract_answers(self, screening_id: int, question_ids: set[str]) -> None:
        """Supersede the answers to questions that no longer apply."""
        self._supersede(screening_id, col(Answer.question_id).in_(question_ids))

    def _supersede(self, screening_id: int, which: Any) -> None:
        # The answers added before it are written first (autoflush); nothing in the session
        # reads superseded_at back, so it is not synchronised.
        self.session.exec(
            update(Answer)
            .where(Answer.screening_id == screening_id, col(Answer.superseded_at).is_(None), which)
            .values(superseded_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    # Consents, referrals, audit ---------------------------------------------

    def record_consent(
        self, screening_id: int, scope: str, version: str, granted: bool, locale: str, text: str
    ) -> None:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if scope == "storage" and granted:
            self._consented.add(screening_id)  # counted as the turn saves its screening
        self.session.add(
            Consent(
                screening_id=screening_id,
                scope=scope,
                version=version,
                granted=granted,
                locale=locale,
                text_hash=digest,
            )
        )

    def consents(self, screening_id: int) -> list[Consent]:
        query = select(Consent).where(Consent.screening_id == screening_id).order_by(col(Consent.id))
        return list(self.session.exec(query))

    def latest_consents(self, trial_id: str, scope: str) -> dict[int, Consent]:
        """The latest consent of `scope` given or refused in each screening of a trial that still
        keeps its personal data (not purged), by screening id."""
        query = (
            select(Consent)
            .join(Screening, col(Consent.screening_id) == Screening.id)
            .where(Screening.trial_id == trial_id, Consent.scope == scope, col(Screening.purged_at).is_(None))
            .order_by(col(Consent.id))
        )
        return {consent.screening_id: consent for consent in self.session.exec(query)}

    def add_referral(self, screening: ScreeningState) -> Referral:
        """A referral for a finished screening; it replaces the person's open one for the trial, if any."""
        assert screening.id is not None and screening.outcome is not None
        earlier = self.session.exec(
            select(Referral)
            .join(Screening, col(Referral.screening_id) == Screening.id)
            .where(
                Screening.participant_id == screening.participant_id,
                Referral.trial_id == screening.trial_id,
                col(Referral.status).not_in(("cancelled", "replaced")),
            )
        ).first()
        referral = Referral(
            id=uuid.uuid4().hex[:12],
            screening_id=screening.id,
            trial_id=screening.trial_id,
            outcome=screening.outcome,
            replaces=earlier.id if earlier else None,
        )
        if earlier is not None:
            earlier.status, earlier.updated_at = "replaced", utcnow()
            self.session.add(earlier)
            self._recount(self._locked(earlier.screening_id), earlier.status)
        self.session.add(referral)
        # Counted as the turn saves the screening (`save` keeps the steps a referral decides).
        screening.counted = " ".join(
            [*(s for s in screening.counted.split() if s not in funnel.REFERRAL_STEPS), "referred"]
        )
        return referral

    def _locked(self, screening_id: int | None) -> Screening | None:
        """A screening changed outside its person's turn (a coordinator's step), read after taking
        their turn lock: a turn of theirs must not write steps counted before this change."""
        screening = self.session.get(Screening, screening_id) if screening_id is not None else None
        person = self.session.get(Participant, screening.participant_id) if screening else None
        if screening is None or person is None:
            return None
        self._lock(person.external_id)
        self.session.refresh(screening)
        return screening

    def _recount(self, screening: Screening | None, referral_status: str) -> None:
        """A screening not in a turn moves in the funnel as its referral's status changes."""
        if screening is None:
            return
        had = screening.counted.split()
        counted = " ".join(
            [*(s for s in had if s not in funnel.REFERRAL_STEPS), *funnel.referral_steps(referral_status)]
        )
        where = self._cell(screening)
        self.tally.move((where, screening.counted), (where, counted))
        screening.counted = counted
        self.session.add(screening)

    def referral(self, referral_id: str) -> Referral | None:
        return self.session.get(Referral, referral_id)

    def referral_for(self, screening_id: int) -> Referral | None:
        return self.session.exec(select(Referral).where(Referral.screening_id == screening_id)).first()

    def referrals_of(self, screening_ids: Sequence[int]) -> dict[int, Referral]:
        """The referral of each of these screenings that has one, by screening id: one query."""
        query = select(Referral).where(col(Referral.screening_id).in_(screening_ids))
        return {r.screening_id: r for r in self.session.exec(query) if r.screening_id is not None}

    def referral_list(
        self,
        trial_ids: Sequence[str] | None,
        *,
        statuses: Sequence[str] = (),
        outcome: str = "",
        locale: str = "",
        source: str = "",
        reference: str = "",
        since: datetime | None = None,
        before: datetime | None = None,
        kept: bool = False,
        after: tuple[datetime, str] | None = None,
        oldest_first: bool = False,
        limit: int | None = None,
    ) -> list[tuple[Referral, Screening | None]]:
        """Referrals of `trial_ids` (None: every trial), each with its screening (None once the
        person erased it), newest first (or oldest), from the one after the key `after`
        (created_at, id) on: an index range, however many there are. Only those of `statuses`,
        `outcome`, the screening's `locale` and `source`, with `reference` in their id, received
        from `since` and before `before`, and with their screening `kept`, where given."""
        query = select(Referral, Screening).outerjoin(Screening, col(Referral.screening_id) == Screening.id)
        if trial_ids is not None:
            query = query.where(col(Referral.trial_id).in_(trial_ids))
        conditions = (
            (statuses, lambda: col(Referral.status).in_(statuses)),
            (outcome, lambda: Referral.outcome == outcome),
            (locale, lambda: Screening.locale == locale),
            (source, lambda: Screening.source == source),
            (reference, lambda: func.lower(Referral.id).contains(reference.lower(), autoescape=True)),
            (since, lambda: Referral.created_at >= since),
            (before, lambda: Referral.created_at < before),
            (kept, lambda: col(Referral.screening_id).is_not(None)),
        )
        for given, condition in conditions:
            if given:
                query = query.where(condition())
        received, key = col(Referral.created_at), col(Referral.id)
        if after is not None:
            at, last = after
            later = (received > at) | ((received == at) & (key > last))
            earlier = (received < at) | ((received == at) & (key < last))
            query = query.where(later if oldest_first else earlier)
        order = (received, key) if oldest_first else (received.desc(), key.desc())
        query = query.order_by(*order).limit(limit)
        return [(referral, screening) for referral, screening in self.session.exec(query)]

    def referrals(self) -> list[Referral]:
        return list(self.session.exec(select(Referral).order_by(col(Referral.created_at))))

    def set_referral_status(
        self, referral_id: str, status: str, actor: str, note: str | None = None
    ) -> Referral | None:
        """A coordinator's step on a referral (contacted, booked…) with their note: kept in its
        history with who did it (the note encrypted). The caller audits it."""
        referral = self.session.get(Referral, referral_id)
        screening = self._locked(referral.screening_id) if referral is not None else None
        if referral is not None and screening is not None:
            self.session.refresh(referral)  # as it stands now their turns wait
        if referral is None or referral.status == "cancelled":
            return None
        referral.status, referral.updated_at = status, utcnow()
        self.session.add(referral)
        self._recount(screening, status)
        sealed = self.cipher.seal(note) if note else None
        self.session.add(
            ReferralEvent(referral_id=referral_id, actor=actor, status=status, note_sealed=sealed)
        )
        return referral

    def referral_history(self, referral_id: str) -> list[tuple[ReferralEvent, str | None]]:
        """Each status set on a referral, oldest first, with its note opened."""
        events = self.session.exec(
            select(ReferralEvent)
            .where(ReferralEvent.referral_id == referral_id)
            .order_by(col(ReferralEvent.id))
        )
        return [(e, self.cipher.open(e.note_sealed) if e.note_sealed else None) for e in events]

    def _forget_notes(self, referral_ids: list[str]) -> None:
        """Notes may say anything about a person: they go with the person's data."""
        if referral_ids:
            self.session.exec(
                update(ReferralEvent)
                .where(col(ReferralEvent.referral_id).in_(referral_ids))
                .values(note_sealed=None)
            )

    # Questionnaires: which wording of a trial was served when ----------------------

    def questionnaire_versions(self, trial_id: str) -> list[QuestionnaireVersion]:
        """The versions of a trial's questions served so far, in the order they were first served."""
        query = (
            select(QuestionnaireVersion)
            .where(QuestionnaireVersion.trial_id == trial_id)
            .order_by(col(QuestionnaireVersion.served_from), col(QuestionnaireVersion.id))
        )
        return list(self.session.exec(query))

    def add_questionnaire_version(
        self, trial_id: str, version: str, resource: dict[str, Any], served_from: datetime
    ) -> None:
        self.session.add(
            QuestionnaireVersion(
                trial_id=trial_id, version=version, resource=resource, served_from=served_from
            )
        )

    # Accounts: who signs in to the coordinator console --------------------------

    def account(self, name: str) -> Account | None:
        return self.session.exec(select(Account).where(Account.name == name)).first()

    def account_by_id(self, account_id: int) -> Account | None:
        return self.session.get(Account, account_id)

    def accounts(self) -> list[Account]:
        return list(self.session.exec(select(Account).order_by(col(Account.name))))

    def save_account(self, account: Account) -> Account:
        """A new account, or changes to one (its name must be new)."""
        self.session.add(account)
        self.session.flush()
        return account

    def totp_secret(self, account: Account) -> str | None:
        return self.cipher.open(account.totp_sealed) if account.totp_sealed else None

    def set_totp_secret(self, account: Account, secret: str | None) -> None:
        account.totp_sealed = self.cipher.seal(secret) if secret else None
        account.totp_last_step = None
        self.session.add(account)

    def add_console_session(self, account: Account, token_hash: str, now: datetime) -> ConsoleSession:
        session = ConsoleSession(token_hash=token_hash, account_id=account.id or 0, began_at=now, used_at=now)
        self.session.add(session)
        self.session.flush()
        return session

    def console_session(self, token_hash: str) -> ConsoleSession | None:
        return self.session.exec(
            select(ConsoleSession).where(ConsoleSession.token_hash == token_hash)
        ).first()

    def touch_console_session(self, session: ConsoleSession, now: datetime) -> None:
        session.used_at = now
        self.session.add(session)

    def end_console_sessions(self, account_id: int, keep: str | None = None) -> None:
        """End an account's sessions at once (all of them, or all but the one `keep` names)."""
        query = delete(ConsoleSession).where(col(ConsoleSession.account_id) == account_id)
        if keep is not None:
            query = query.where(col(ConsoleSession.token_hash) != keep)
        self.session.exec(query)

    def end_console_session(self, token_hash: str) -> None:
        self.session.exec(delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash))

    # Resume links: a web chat session, continued on another device ---------------

    def add_resume_link(
        self, channel: str, opens: dict[str, Any], token_hash: str, expires_at: datetime
    ) -> None:
        """A new link to open a session (`opens["session"]`), which replaces the links it had;
        links long expired go too."""
        key = self.person_key(channel, opens["session"])
        self.session.exec(
            delete(ResumeLink).where(
                (col(ResumeLink.session_key) == key)
                | (col(ResumeLink.expires_at) < utcnow() - timedelta(days=30))
            )
        )
        sealed = self.cipher.seal(opens)
        self.session.add(
            ResumeLink(token_hash=token_hash, session_key=key, session_sealed=sealed, expires_at=expires_at)
        )

    def resume_link(self, token_hash: str) -> tuple[ResumeLink, dict[str, Any]] | None:
        """A link, and what it opens."""
        link = self.session.exec(select(ResumeLink).where(ResumeLink.token_hash == token_hash)).first()
        return (link, self.cipher.open(link.session_sealed)) if link else None

    def use_resume_link(self, token_hash: str) -> bool:
        """Mark a link used; False if it was already (two devices at once: only one gets it)."""
        used = self.session.exec(
            update(ResumeLink)
            .where(col(ResumeLink.token_hash) == token_hash, col(ResumeLink.used_at).is_(None))
            .values(used_at=utcnow())
        )
        return bool(used.rowcount)

    # Replies: the outbox of what the bot says to people --------------------------

    def add_replies(
        self, channel: str, external_id: str, replies: list[tuple[dict[str, Any], str | None]]
    ) -> list[int]:
        """Put (reply, prompt) pairs in the person's outbox, in order; return their ids."""
        recipient = self.person_key(channel, external_id)
        if not replies:
            return []
        now = utcnow()
        # The channel sends them at once; the resending loop leaves them to it until then.
        due = now + timedelta(seconds=2)
        rows = [
            {
                "channel": channel,
                "recipient": recipient,
                "sealed": self._seal({"to": external_id, "reply": reply}),
                "prompt": prompt,
                "attempts": 0,
                "next_attempt_at": due,
                "created_at": now,
            }
            for reply, prompt in replies
        ]
        # One statement for them all (SQLAlchemy's "insertmanyvalues"); each row's id found by its
        # token (each sealing is unique): asking for the rows' order costs SQLite a statement a row.
        ids = {sealed: id for id, sealed in self.session.execute(_ADD_REPLIES, rows)}
        return [ids[row["sealed"]] for row in rows]

    def unsent_replies(self, channel: str, external_id: str) -> list[tuple[int, dict[str, Any]]]:
        """A person's replies not yet sent, oldest first, as (id, reply)."""
        rows = self.session.exec(_UNSENT, params={"recipient": self.person_key(channel, external_id)})  # type: ignore[call-overload]
        return [(id, self.open(sealed)["reply"]) for id, sealed in rows]

    def recipients_due(self, channel: str, now: datetime, limit: int = 100) -> list[str]:
        """The channel ids of people with a reply due to be sent (again)."""
        query = (
            select(OutgoingReply)
            .where(OutgoingReply.channel == channel, OutgoingReply.next_attempt_at <= now)
            .order_by(col(OutgoingReply.id))
            .limit(limit)
        )
        return list(dict.fromkeys(self.cipher.open(row.sealed)["to"] for row in self.session.exec(query)))

    def replies_sent(
        self, channel: str, external_id: str, ids: list[int], position: int | None = None
    ) -> None:
        """Forget sent replies; the prompts they carried have now reached the person, at `position`."""
        recipient = self.person_key(channel, external_id)
        sent = self.session.exec(_SENT, params={"recipient": recipient, "ids": ids})  # type: ignore[call-overload]
        delivered: dict[int, int] = {}
        for (prompt,) in sent:
            if prompt:
                screening_id, _, sequence = prompt.partition(".")
                delivered[int(screening_id)] = max(delivered.get(int(screening_id), 0), int(sequence))
        for screening_id, sequence in delivered.items():
            self.session.exec(
                _DELIVERED,  # type: ignore[call-overload]
                params={
                    "screening": screening_id,
                    "channel": channel,
                    "recipient": recipient,
                    "sequence": sequence,
                    "position": position,
                },
            )

    def postpone_replies(self, channel: str, external_id: str, delay_seconds: float) -> None:
        """Sending failed: try this person's replies again later, backing off each time."""
        recipient = self.person_key(channel, external_id)
        for row in self.session.exec(select(OutgoingReply).where(OutgoingReply.recipient == recipient)):
            row.attempts += 1
            # Someone is waiting for this: back off, but never beyond half a minute.
            row.next_attempt_at = utcnow() + timedelta(seconds=min(delay_seconds * 2**row.attempts, 30))
            self.session.add(row)

    def drop_replies(
        self, channel: str, external_id: str, *, prompts_only: bool = False, ids: list[int] | None = None
    ) -> int:
        """Forget a person's unsent replies: all (unreachable), the questions among them, or `ids`."""
        recipient = self.person_key(channel, external_id)
        query = delete(OutgoingReply).where(OutgoingReply.recipient == recipient)
        if prompts_only:
            query = query.where(col(OutgoingReply.prompt).is_not(None))
        if ids is not None:
            query = query.where(col(OutgoingReply.id).in_(ids))
        return self.session.exec(query).rowcount or 0  # type: ignore[attr-defined]

    # Notifications: the outbox of messages to the study team and the operator ------

    def add_notifications(
        self,
        referral_id: str | None,
        kind: str,
        targets: list[tuple[str, str]],
        about: dict[str, Any] | None = None,
    ) -> list[Notification]:
        """A notification of `kind` for each (destination, detail) that has none yet for this referral."""
        rows = []
        for destination, detail in targets:
            if referral_id is not None:
                exists = select(Notification.id).where(
                    Notification.referral_id == referral_id,
                    Notification.destination == destination,
                    Notification.kind == kind,
                )
                if self.session.exec(exists).first() is not None:
                    continue
            rows.append(
                Notification(
                    referral_id=referral_id,
                    kind=kind,
                    destination=destination,
                    detail=detail,
                    about=about or {},
                )
            )
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def due_destinations(self, now: datetime, schemes: tuple[str, ...]) -> list[str]:
        """Destinations of `schemes` with a notification due now."""
        query = select(Notification.destination).where(*self._due(now, schemes)).distinct()
        return sorted(self.session.exec(query))

    @staticmethod
    def _due(now: datetime, schemes: tuple[str, ...]) -> tuple[Any, ...]:
        """Due now, and in its destination's order: nothing before it to the same destination still
        waits (for a retry, or with whoever is sending it), so nothing overtakes what failed."""
        earlier = aliased(Notification)
        waiting_before = (
            select(earlier.id)
            .where(
                earlier.destination == Notification.destination,
                col(earlier.status).in_(WAITING),
                col(earlier.id) < Notification.id,
                earlier.next_attempt_at > now,
            )
            .exists()
        )
        return (
            col(Notification.status).in_(WAITING),
            Notification.next_attempt_at <= now,
            or_(false(), *(col(Notification.destination).startswith(f"{scheme}:") for scheme in schemes)),
            ~waiting_before,
        )

    def claim_notifications(
        self,
        now: datetime,
        lease_seconds: float,
        schemes: tuple[str, ...],
        limit: int = 50,
        destination: str | None = None,
    ) -> list[Notification]:
        """Take the notifications due now to destinations of `schemes` (telegram, mailto…) for
        `lease_seconds`: nobody else sends them meanwhile.

        On PostgreSQL rows another process has just claimed are skipped, not waited for
        (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time anyway. A process that
        dies while sending leaves its claims to expire, and they are sent again.
        """
        query = (
            select(Notification)
            .where(*self._due(now, schemes))
            .where(true() if destination is None else Notification.destination == destination)
            .order_by(col(Notification.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = list(self.session.exec(query))
        for row in claimed:
            row.next_attempt_at = now + timedelta(seconds=lease_seconds)
            self.session.add(row)
        self.session.flush()
        return claimed

    def backlog(self) -> dict[str, int]:
        """How much waits to be sent: replies to people, notifications pending and failing."""
        replies = self.session.exec(select(func.count()).select_from(OutgoingReply)).one()
        statuses = self.session.exec(
            select(Notification.status, func.count())
            .where(col(Notification.status).in_(WAITING))
            .group_by(Notification.status)
        )
        return {"replies": replies, "pending": 0, "failing": 0, **dict(statuses.all())}

    def notification(self, notification_id: int) -> Notification | None:
        return self.session.get(Notification, notification_id)

    def notifications(self, statuses: tuple[str, ...] | None = None) -> list[Notification]:
        query = select(Notification).order_by(col(Notification.id))
        if statuses:
            query = query.where(col(Notification.status).in_(statuses))
        return list(self.session.exec(query))

    def referral_notifications(self, referral_id: str) -> list[Notification]:
        query = (
            select(Notification).where(Notification.referral_id == referral_id).order_by(col(Notification.id))
        )
        return list(self.session.exec(query))

    def destination_failing(self, destination: str) -> bool:
        """Whether a notification to `destination` has been refused for good (and not yet delivered)."""
        query = select(Notification.id).where(
            Notification.destination == destination, Notification.status == "failing"
        )
        return self.session.exec(query).first() is not None

    def postpone_destination(self, destination: str, until: datetime) -> None:
        """Everything still to go to `destination` waits until `until`, in its order."""
        self.session.exec(
            update(Notification)
            .where(
                Notification.destination == destination,
                col(Notification.status).in_(WAITING),
                Notification.next_attempt_at < until,
            )
            .values(next_attempt_at=until)
        )

    def renew_claim(self, notification_id: int, held_until: datetime, until: datetime) -> bool:
        """Keep a claim until `until`, if it is still this claimant's: its lease is still the
        `held_until` it set. False when it ran out and another claimant took the notification."""
        renewed = self.session.exec(
            update(Notification)
            .where(
                col(Notification.id) == notification_id,
                col(Notification.status).in_(WAITING),
                col(Notification.next_attempt_at) == held_until,
            )
            .values(next_attempt_at=until)
        )
        return renewed.rowcount == 1

    def release_notifications(self, ids: list[int], until: datetime) -> None:
        """Claimed but not sent (one before them failed): due again at `until`, not when the claim ends."""
        self.session.exec(
            update(Notification)
            .where(col(Notification.id).in_(ids), col(Notification.status).in_(WAITING))
            .values(next_attempt_at=until)
        )

    def retry_refused(self, destinations: set[str], now: datetime, lease_seconds: float) -> None:
        """A new notification to a destination that refused is the moment to try it again: what
        waits for it is due now, the refused one first, so that once the destination is back
        its notifications arrive in order and soon, not the new one first and the rest an hour
        later. What is claimed (for `lease_seconds` at most) is left to whoever is sending it."""
        for destination in destinations:
            if self.destination_failing(destination):
                self.session.exec(
                    update(Notification)
                    .where(
                        Notification.destination == destination,
                        col(Notification.status).in_(WAITING),
                        Notification.next_attempt_at > now + timedelta(seconds=lease_seconds),
                    )
                    .values(next_attempt_at=now)
                )

    def move_notifications(self, old: str, new: str) -> None:
        """Notifications to `old` not yet sent go to `new` (a Telegram group that became a supergroup)."""
        self.session.exec(
            update(Notification)
            .where(Notification.destination == old, col(Notification.status).in_(WAITING))
            .values(destination=new)
        )

    def cancel_notifications(self, referral_ids: list[str], reason: str) -> None:
        """Notifications about these referrals not yet sent are not sent at all."""
        self.session.exec(
            update(Notification)
            .where(
                col(Notification.referral_id).in_(referral_ids),
                col(Notification.status).in_(WAITING),
            )
            .values(status="cancelled", last_error=reason)
        )

    def audit(self, actor: str, action: str, subject: str, **detail: Any) -> None:
        self.session.add(AuditEvent(actor=actor, action=action, subject=subject, detail=detail))

    def audit_trail(self, after: int = 0, limit: int | None = None) -> list[AuditEvent]:
        """The audit trail, oldest first: `limit` rows after row `after` (an index range), or all."""
        query = select(AuditEvent).where(col(AuditEvent.id) > after).order_by(col(AuditEvent.id))
        return list(self.session.exec(query.limit(limit) if limit else query))

    def audit_page(self, limit: int, before: int | None = None) -> list[AuditEvent]:
        """The `limit` latest audit rows (before row `before`, if given), newest first: an index
        range on the key, whatever the length of the trail."""
        query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
        if before is not None:
            query = query.where(col(AuditEvent.id) < before)
        return list(self.session.exec(query))

    # Retention ---------------------------------------------------------------

    def purge(self, finished_before: datetime, idle_before: datetime) -> list[int]:
        """De-identify screenings past retention; return their ids.

        Finished screenings older than `finished_before`, and unfinished ones untouched
        since `idle_before` (closed as abandoned), lose everything personal: answers that
        identify or were typed freely, every raw input, and
        the person's channel id once none of their screenings is kept whole (a purged referral's
        notifications not yet sent are cancelled). Option answers
        and outcomes stay, for statistics.
        """
        # A few statements for them all, whatever their number: one per screening, each syncing
        # the session, made a daily purge of 100,000 take hours (issue 22).
        due = select(Screening.id).where(
            col(Screening.purged_at).is_(None),
            ((Screening.status == "finished") & (col(Screening.finished_at) < finished_before))
            | ((Screening.status != "finished") & (col(Screening.updated_at) < idle_before)),
        )
        purged = [i for i in self.session.exec(due.with_for_update()) if i is not None]
        if purged:
            ids = due.scalar_subquery()
            referrals = select(Referral.id).where(col(Referral.screening_id).in_(ids)).scalar_subquery()
            bulk = {"synchronize_session": False}
            self.session.exec(
                delete(Answer).where(col(Answer.screening_id).in_(ids), col(Answer.sealed).is_not(None)),
                execution_options=bulk,
            )
            self.session.exec(
                update(Answer).where(col(Answer.screening_id).in_(ids)).values(raw=None),
                execution_options=bulk,
            )
            self.session.exec(
                update(Notification)
                .where(col(Notification.referral_id).in_(referrals), col(Notification.status).in_(WAITING))
                .values(status="cancelled", last_error="purged"),
                execution_options=bulk,
            )
            self.session.exec(
                update(ReferralEvent)
                .where(col(ReferralEvent.referral_id).in_(referrals))
                .values(note_sealed=None),
                execution_options=bulk,
            )
            self.session.exec(
                delete(Reminder).where(col(Reminder.screening_id).in_(ids)), execution_options=bulk
            )
            self.session.exec(
                update(Screening)
                .where(col(Screening.id).in_(ids))
                .values(
                    status=case((Screening.status == "finished", "finished"), else_="abandoned"),
                    pending=None,
                    pending_answer=None,
                    purged_at=utcnow(),
                ),
                execution_options=bulk,
            )
            self.session.expire_all()  # what the session holds of them is stale now
        self.erased = self.erased or bool(purged)
        # People none of whose screenings is kept whole lose their channel id, and what waits for it.
        kept = select(Screening.id).where(
            Screening.participant_id == Participant.id, col(Screening.purged_at).is_(None)
        )
        gone = select(Participant.id).where(col(Participant.ref).is_not(None), ~kept.exists())
        addresses = select(Participant.external_id).where(col(Participant.id).in_(gone.scalar_subquery()))
        bulk = {"synchronize_session": False}
        self.session.exec(
            delete(OutgoingReply).where(col(OutgoingReply.recipient).in_(addresses.scalar_subquery())),
            execution_options=bulk,
        )
        self.session.exec(
            delete(ResumeLink).where(col(ResumeLink.session_key).in_(addresses.scalar_subquery())),
            execution_options=bulk,
        )
        self.session.exec(
            update(Participant)
            .where(col(Participant.id).in_(gone.scalar_subquery()))
            .values(ref=None, external_id=literal("purged:").concat(cast(col(Participant.id), String))),
            execution_options=bulk,
        )
        self.session.expire_all()
        return purged

    # Reminders ----------------------------------------------------------------

    def add_reminder(self, screening: ScreeningState, channel: str, external_id: str, due_on: date) -> None:
        """Tell the person on `due_on` that the screening's study may include them (one waiting at a time)."""
        self.cancel_reminders(screening.participant_id)
        self.session.add(
            Reminder(
                screening_id=screening.id or 0,
                trial_id=screening.trial_id,
                due_on=due_on,
                channel=channel,
                sealed=self.cipher.seal({"to": external_id}),
                locale=screening.locale or "en",
            )
        )

    def cancel_reminders(self, participant_id: int) -> None:
        screenings = select(Screening.id).where(Screening.participant_id == participant_id)
        self.session.exec(
            update(Reminder)
            .where(col(Reminder.screening_id).in_(screenings), Reminder.status == "waiting")
            .values(status="cancelled")
        )

    def reminder_for(self, participant_id: int) -> Reminder | None:
        """The person's reminder still waiting or due, if any."""
        screenings = select(Screening.id).where(Screening.participant_id == participant_id)
        query = select(Reminder).where(
            col(Reminder.screening_id).in_(screenings), Reminder.status != "cancelled"
        )
        return self.session.exec(query.order_by(col(Reminder.id).desc())).first()

    def due_reminders(self, on: date, trial_id: str | None = None) -> list[Reminder]:
        """Reminders due by `on` and not sent: what the console lists as due for re-screening."""
        query = select(Reminder).where(Reminder.status == "waiting", col(Reminder.due_on) <= on)
        if trial_id:
            query = query.where(Reminder.trial_id == trial_id)
        return list(self.session.exec(query.order_by(col(Reminder.due_on))))

    def reminder_address(self, reminder: Reminder) -> str:
        return self.cipher.open(reminder.sealed)["to"]

    def reminded(self, reminder: Reminder) -> None:
        reminder.status, reminder.sent_at = "sent", utcnow()
        self.session.add(reminder)

    # Erasure ----------------------------------------------------------------

    def erase_participant(self, participant: Participant) -> Erasure:
        """Delete a person and everything they told us; their open referrals are withdrawn.

        The referral rows stay, emptied and cancelled, so the study team sees the
        person withdrew; notifications about them not yet sent are cancelled.
        """
        theirs = self.session.exec(
            select(
                Screening.id,
                Screening.trial_id,
                Screening.locale,
                Screening.source,
                Screening.started_at,
                Screening.counted,
            ).where(Screening.participant_id == participant.id)
        ).all()
        screening_ids = [row[0] for row in theirs]
        # They leave the funnel too: counts that keep a person could single them out in a small cell.
        for _, *where, started_at, counted in theirs:
            self.tally.move((funnel.cell(*where, started_at), counted), None)
        withdrawn = list(
            self.session.exec(
                select(Referral.id).where(
                    col(Referral.screening_id).in_(screening_ids),
                    col(Referral.status).not_in(("cancelled", "replaced")),
                )
            )
        )
        self._forget_notes(
            list(self.session.exec(select(Referral.id).where(col(Referral.screening_id).in_(screening_ids))))
        )
        if screening_ids:
            self.session.exec(
                update(Referral)
                .where(col(Referral.screening_id).in_(screening_ids))
                .values(status="cancelled", updated_at=utcnow())
            )
        self.cancel_notifications(withdrawn, "withdrawn")
        # Unsent replies may quote answers (a summary): they go too, and links to the session.
        self.session.exec(delete(OutgoingReply).where(OutgoingReply.recipient == participant.external_id))
        self.session.exec(delete(ResumeLink).where(col(ResumeLink.session_key) == participant.external_id))
        self.erased = True
        # The database cascades to screenings, answers and consents, and empties referrals.
        self.session.exec(delete(Participant).where(col(Participant.id) == participant.id))
        self.session.expunge_all()
        return Erasure(participant.id or 0, len(screening_ids), withdrawn)
