"""indexes for listing at size: referrals newest first, update ids by age

The console pages the referral list by its key (created_at, id), newest first, and `intake
purge` forgets update ids older than a day: each an index range, not a scan of the table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_referral_created_at_id", "referral", ["created_at", "id"])
    op.create_index("ix_processed_input_at", "processed_input", ["at"])


def downgrade() -> None:
    op.drop_index("ix_processed_input_at", table_name="processed_input")
    op.drop_index("ix_referral_created_at_id", table_name="referral")
