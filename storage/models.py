"""The tables. Every change to them comes with an alembic migration.

Answers are never overwritten: a changed answer supersedes the previous row,
so the history of what a person said, and how, is kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _when(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _parent(table: str, ondelete: str, nullable: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey(f"{table}.id", ondelete=ondelete), index=True, nullable=nullable
        ),
    )


class Participant(SQLModel, table=True):
    """A person as a channel knows them (a Telegram user, a console user, a web session)."""

    __tablename__ = "participant"
    # AUTOINCREMENT on SQLite: an erased person's id is never given to someone else.
    __table_args__ = (UniqueConstraint("channel", "external_id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    # A keyed hash of the channel's id for the person: found by it, never readable from it.
    external_id: str = Field(max_length=128)
    # The channel's id itself, encrypted.
    ref: str | None = None
    created_at: datetime = _when()


class Screening(SQLModel, table=True):
    """One pass through a trial's pre-screening questions."""

    __tablename__ = "screening"
    # Never reused after an erasure, so the audit trail and old buttons name one screening only.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = _parent("participant", "CASCADE")
    trial_id: str = Field(max_length=64, index=True)
    locale: str | None = Field(default=None, max_length=16)
    source: str | None = Field(default=None, max_length=64)
    # Where the dialog stands: a question id or one of the dialog's own states.
    state: str = Field(max_length=64)
    # The record's lifecycle: active, finished, or abandoned (closed by retention).
    status: str = Field(default="active", max_length=16, index=True)
    editing: bool = False
    # The person asked for every question to be read aloud too (/voice).
    read_aloud: bool = False
    # A menu or the pause over `state` (dialogs.machine.MENUS): the machine's state is then "_<pending>".
    pending: str | None = Field(default=None, max_length=16)
    # An interpreted answer waiting for the person's "that's right" (question, value, what
    # they wrote), encrypted; stored as an answer only once confirmed.
    pending_answer: str | None = None
    # The prompt last put to the person: its key (a question id, or "_confirm" and the like),
    # its sequence number within the screening, and the highest sequence number known to
    # have reached them. A typed answer belongs to the delivered prompt, a tap to its own.
    prompt_key: str | None = Field(default=None, max_length=64)
    prompt_seq: int = 0
    delivered_seq: int = 0
    # Where the delivered prompt stands in the conversation, if the channel numbers messages.
    delivered_position: int | None = None
    outcome: str | None = Field(default=None, max_length=32)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    uncertain: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started_at: datetime = _when()
    updated_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    # When retention removed its personal data (it stays for statistics).
    purged_at: datetime | None = _when(nullable=True)
    # The funnel steps it is counted at in `funnel_count` (storage.funnel): what a change moves.
    counted: str = Field(default="", max_length=160)


class Answer(SQLModel, table=True):
    """An answer as given: the stored value, the raw input, how, and when."""

    __tablename__ = "answer"

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = _parent("screening", "CASCADE")
    question_id: str = Field(max_length=64)
    # Option values and numbers stay queryable for statistics; what identifies a person or
    # was typed freely is in `sealed`, encrypted, and `value` is empty.
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    sealed: str | None = None
    # What the person sent, encrypted.
    raw: str | None = None
    via: str = Field(max_length=16)
    # Interpreted from free words and confirmed by the person after a read-back.
    read_back: bool = False
    # For a spoken answer: how sure the speech engine was of its transcript (0..1).
    confidence: float | None = None
    answered_at: datetime = _when()
    superseded_at: datetime | None = _when(nullable=True)


class Consent(SQLModel, table=True):
    """A consent given or refused, with the version of the text the person saw."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = _parent("screening", "CASCADE")
    scope: str = Field(max_length=32)
    version: str = Field(max_length=32)
    granted: bool
    locale: str = Field(max_length=16)
    text_hash: str = Field(max_length=64)
    given_at: datetime = _when()


class Referral(SQLModel, table=True):
    """A candidate passed on to the study team; created with the outcome, in one transaction."""

    __tablename__ = "referral"
    # The console lists them newest first, a page at a time, by this key.
    __table_args__ = (Index("ix_referral_created_at_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    # The same person's earlier referral for this trial that this one replaces (a redone screening).
    replaces: str | None = Field(default=None, max_length=32)
    # Kept (emptied) when a person erases their data, so the study team sees it was withdrawn.
    screening_id: int | None = _parent("screening", "SET NULL", nullable=True)
    trial_id: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=32, index=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CryptoState(SQLModel, table=True):
    """The lookup key for keyed hashes, encrypted under the configured key (one row)."""

    __tablename__ = "crypto_state"

    id: int | None = Field(default=None, primary_key=True)
    sealed_lookup_key: str


class Notification(SQLModel, table=True):
    """One message to one destination about a referral (or an alert to the operator).

    The outbox of notifications: planned in the transaction that creates or closes the
    referral, sent by a worker in whatever long-running process is up, retried until it
    arrives. What it says is rendered when it is sent, from what is stored then.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("referral_id", "destination", "kind"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    # None for an alert to the operator.
    referral_id: str | None = Field(
        default=None,
        sa_column=Column(ForeignKey("referral.id", ondelete="CASCADE"), index=True, nullable=True),
    )
    # referral (a new referral), closed (withdrawn or replaced since), alert (to the operator).
    kind: str = Field(default="referral", max_length=16)
    # Where it goes, as configured: telegram:<chat id>, mailto:<address>, wecom+https://….
    destination: str = Field(max_length=512)
    # card (every answer and the contact) or notice (no health data: reference, outcome, time).
    detail: str = Field(default="notice", max_length=16)
    # pending (due at next_attempt_at), failing (refused for good so far; retried slowly and
    # reported), sent, cancelled (the referral was withdrawn before it went out).
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    last_error: str | None = Field(default=None, max_length=200)
    # What the destination calls the sent message (a Telegram message id), to edit it later.
    sent_ref: str | None = Field(default=None, max_length=64)
    # For an alert: which notification is failing, and why (never health data).
    about: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what to which record, never the personal data itself."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutgoingReply(SQLModel, table=True):
    """A reply to a person, written with the change it reports and deleted once sent.

    The outbox of replies: if sending fails or the process dies, the reply is sent
    again later, so a question is never lost between the database and the person.
    """

    __tablename__ = "outgoing_reply"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    # The person, as the keyed hash `Participant.external_id` holds: not a foreign key, since
    # the last words to someone who has just had their data erased must still go out.
    recipient: str = Field(max_length=128, index=True)
    # {"to": the channel's id for the person, "reply": text, options, prompt…}, encrypted:
    # a summary carries answers.
    sealed: str
    # The prompt it asks ("<screening>.<sequence>"), delivered once this row is sent.
    prompt: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    next_attempt_at: datetime = _when()
    created_at: datetime = _when()


class ProcessedInput(SQLModel, table=True):
    """Inputs already handled (e.g. Telegram update ids), so a redelivery has no effect."""

    __tablename__ = "processed_input"
    # `intake purge` forgets those older than a day.
    __table_args__ = (Index("ix_processed_input_at", "at"),)

    key: str = Field(primary_key=True, max_length=96)
    at: datetime = _when()


class Account(SQLModel, table=True):
    """A study team member who signs in to the coordinator console."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    # coordinator (referrals of their trials), monitor (read-only, de-identified), operator.
    role: str = Field(max_length=16)
    # The trials a coordinator or monitor works on; empty: every trial.
    trials: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    password_hash: str = Field(max_length=255)  # argon2id
    # The TOTP secret, encrypted; None until one is set up.
    totp_sealed: str | None = None
    totp_required: bool = False
    # The TOTP time step of the last code accepted: a code is good once, not twice in its window.
    totp_last_step: int | None = None
    disabled: bool = False
    created_at: datetime = _when()


class ConsoleSession(SQLModel, table=True):
    """A signed-in console session, kept here so that signing out, a reset or a disabling
    ends it at once. The cookie holds a random token; only its keyed hash is stored."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: int = _parent("account", "CASCADE")
    began_at: datetime = _when()
    used_at: datetime = _when()


class ResumeLink(SQLModel, table=True):
    """A link to continue a web chat session on another device: good once, for a few days.
    The link holds a random token; only its keyed hash is stored, beside the session it opens."""

    __tablename__ = "resume_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The session as `Participant.external_id` and `OutgoingReply.recipient` hold it (a keyed
    # hash), so that erasing the person takes their links too; and the session id, encrypted.
    session_key: str = Field(max_length=128, index=True)
    session_sealed: str
    created_at: datetime = _when()
    expires_at: datetime = _when()
    used_at: datetime | None = _when(nullable=True)


class ReferralEvent(SQLModel, table=True):
    """A step in a referral's follow-up: who set which status when, with their note."""

    __tablename__ = "referral_event"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    referral_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("referral.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    at: datetime = _when()
    actor: str = Field(max_length=64)
    status: str = Field(max_length=32)
    # The coordinator's note, encrypted: it may say anything about the person.
    note_sealed: str | None = None


class Reminder(SQLModel, table=True):
    """A person excluded only for now, who asked to be told when a study may include them: on
    `due_on` a message goes to them where the channel can send one (Telegram), and the console lists
    them as due for re-screening. It goes with their screening (erasure, purge), and /stop ends it."""

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = _parent("screening", "CASCADE")
    trial_id: str = Field(max_length=64, index=True)
    due_on: date = Field(index=True)
    channel: str = Field(max_length=32)
    # Where to send it: the channel's id for the person, encrypted.
    sealed: str
    locale: str = Field(max_length=16)
    status: str = Field(default="waiting", max_length=16, index=True)  # waiting, sent, cancelled
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class QuestionnaireVersion(SQLModel, table=True):
    """A trial's questions as served from `served_from` on: its FHIR Questionnaire, named by a
    hash of its content, so that an answer can be tied to the wording it answered."""

    __tablename__ = "questionnaire_version"

    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    resource: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    served_from: datetime = _when()


class FunnelCount(SQLModel, table=True):
    """How many screenings of a trial reached a funnel step, in one bucket of a dimension: a
    language, a source ("" for none) or a day (UTC) begun (ISO): kept by storage.funnel with
    every change it counts."""

    __tablename__ = "funnel_count"

    trial_id: str = Field(max_length=64, primary_key=True)
    dimension: str = Field(max_length=16, primary_key=True)  # language, source, day
    bucket: str = Field(max_length=64, primary_key=True)
    step: str = Field(max_length=32, primary_key=True)
    n: int = 0
