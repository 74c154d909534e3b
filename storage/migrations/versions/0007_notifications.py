"""notifications

Referral deliveries to Telegram chats become notifications to any destination
(telegram:, mailto:, a WeCom webhook), each with a detail level, plus alerts to
the operator. Existing deliveries are carried over: a Telegram chat got the full
card; one that was blocked or failed is retried on the slow schedule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import storage.models  # noqa: F401  (column types used below)
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("sent_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("about", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("referral_id", "destination", "kind"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_referral_id"), ["referral_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_status"), ["status"], unique=False)

    op.execute(
        """
        INSERT INTO notification (referral_id, kind, destination, detail, status, attempts,
                                  next_attempt_at, last_error, sent_ref, about, created_at, sent_at)
        SELECT referral_id, 'referral', 'telegram:' || chat_id, 'card',
               CASE status WHEN 'sent' THEN 'sent' WHEN 'pending' THEN 'pending' ELSE 'failing' END,
               attempts, next_attempt_at, last_error,
               CASE WHEN message_id IS NULL THEN NULL ELSE chat_id || ':' || message_id END,
               '{}', next_attempt_at, sent_at
        FROM referral_delivery
        """
    )
    with op.batch_alter_table("referral_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_delivery_status"))
        batch_op.drop_index(batch_op.f("ix_referral_delivery_referral_id"))
    op.drop_table("referral_delivery")


def downgrade() -> None:
    op.create_table(
        "referral_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("referral_id", "chat_id"),
    )
    with op.batch_alter_table("referral_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_delivery_referral_id"), ["referral_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_delivery_status"), ["status"], unique=False)
    # Only Telegram cards existed before; what went elsewhere has no place to go back to.
    op.execute(
        """
        INSERT INTO referral_delivery (referral_id, chat_id, status, attempts, next_attempt_at, sent_at)
        SELECT referral_id, substr(destination, 10),
               CASE status WHEN 'sent' THEN 'sent' WHEN 'pending' THEN 'pending' ELSE 'failed' END,
               attempts, next_attempt_at, sent_at
        FROM notification
        WHERE kind = 'referral' AND destination LIKE 'telegram:%' AND referral_id IS NOT NULL
        """
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_status"))
        batch_op.drop_index(batch_op.f("ix_notification_referral_id"))
    op.drop_table("notification")
