"""coordinator console: accounts and the referral follow-up history

Accounts sign in to the coordinator console (argon2 password hashes, an encrypted
TOTP secret, lockout counters). Each status a coordinator sets on a referral
becomes a referral event with its note (encrypted); the statuses set so far are
carried over from the audit trail, without notes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import storage.models  # noqa: F401  (column types used below)
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("trials", sa.JSON(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("totp_sealed", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("totp_required", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "referral_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("note_sealed", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("referral_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_event_referral_id"), ["referral_id"], unique=False)
    # The history so far is in the audit trail ("referral:<id>", {"status": …}).
    events = sa.table(
        "referral_event",
        sa.column("referral_id", sa.String),
        sa.column("at", storage.models.UTCDateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("status", sa.String),
    )
    audit = sa.table(
        "audit_event",
        sa.column("id", sa.Integer),
        sa.column("at", storage.models.UTCDateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("subject", sa.String),
        sa.column("detail", sa.JSON),
    )
    connection = op.get_bind()
    known = {row[0] for row in connection.execute(sa.text("SELECT id FROM referral"))}
    carried = []
    query = sa.select(audit.c.at, audit.c.actor, audit.c.subject, audit.c.detail).where(
        audit.c.action == "referral_status"
    )
    for at, actor, subject, detail in connection.execute(query.order_by(audit.c.id)):
        referral_id, status = subject.removeprefix("referral:"), (detail or {}).get("status")
        if referral_id in known and status:
            carried.append({"referral_id": referral_id, "at": at, "actor": actor, "status": status})
    if carried:
        op.bulk_insert(events, carried)


def downgrade() -> None:
    op.drop_table("referral_event")
    op.drop_table("account")
