"""voice: how sure the speech engine was of a spoken answer's transcript, and whether a
person asked for the questions to be read aloud

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of the table on SQLite would lose AUTOINCREMENT
    # (a screening id must never be given to anyone else after an erasure).
    op.add_column("answer", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column("screening", sa.Column("read_aloud", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("screening", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("read_aloud")
    with op.batch_alter_table("answer") as batch_op:
        batch_op.drop_column("confidence")
