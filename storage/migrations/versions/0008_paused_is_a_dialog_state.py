"""paused is a dialog state

A paused screening was marked in `status`; pausing is now a state of the dialog's
machine, kept in `pending` like the menus, and `status` is the record's lifecycle
only (active, finished, abandoned).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 00:58:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A menu open over a paused screening is dropped: it is asked again when the person is back.
    op.execute("UPDATE screening SET status = 'active', pending = 'paused' WHERE status = 'paused'")


def downgrade() -> None:
    op.execute("UPDATE screening SET status = 'paused', pending = NULL WHERE pending = 'paused'")
