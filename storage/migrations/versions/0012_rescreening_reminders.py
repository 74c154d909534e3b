"""reminders: a person excluded only for now is told when a study may include them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from storage.models import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("screening_id", sa.Integer(), sa.ForeignKey("screening.id", ondelete="CASCADE"), nullable=False),
        sa.Column("trial_id", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.String(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="waiting"),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_reminder_screening_id", "reminder", ["screening_id"])
    op.create_index("ix_reminder_trial_id", "reminder", ["trial_id"])
    op.create_index("ix_reminder_due_on", "reminder", ["due_on"])
    op.create_index("ix_reminder_status", "reminder", ["status"])


def downgrade() -> None:
    op.drop_table("reminder")
