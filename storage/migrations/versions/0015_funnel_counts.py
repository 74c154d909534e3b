"""the funnel's counters, kept with each change they count

A funnel counted each screening at every look: 11 s at 100,000 (issue 22). Each screening now
keeps the steps it is counted at, and `funnel_count` the counts per trial, step and language,
source or day begun; both are filled here from what is stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.funnel import recount

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "screening", sa.Column("counted", sa.String(length=160), nullable=False, server_default="")
    )
    op.create_table(
        "funnel_count",
        sa.Column("trial_id", sa.String(length=64), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("trial_id", "dimension", "bucket", "step"),
    )
    recount(op.get_bind())


def downgrade() -> None:
    op.drop_table("funnel_count")
    # Not a batch copy: on SQLite dropping the old copy of the table cascaded to its answers.
    op.execute("ALTER TABLE screening DROP COLUMN counted")
