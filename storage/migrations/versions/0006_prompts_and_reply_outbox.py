"""prompts and reply outbox

Each question put to a person gets a sequence number, and what reached them is
recorded, so that an answer applies only to the question the person saw. Replies
go through an outbox. Interpreted answers wait, encrypted, for the person's
confirmation. On SQLite, participant and screening ids become AUTOINCREMENT so
that an erased person's ids are never given to someone else.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:42:44.881427
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import storage.models  # noqa: F401  (column types used below)
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _never_reuse_ids(table: str, on: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL sequences never hand out an id twice
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": on}):
        pass


def upgrade() -> None:
    op.create_table(
        "outgoing_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("sealed", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prompt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("outgoing_reply", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outgoing_reply_recipient"), ["recipient"], unique=False)

    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))

    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_back", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_answer", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("prompt_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("prompt_seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delivered_seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("delivered_position", sa.Integer(), nullable=True))
    _never_reuse_ids("participant", True)
    _never_reuse_ids("screening", True)


def downgrade() -> None:
    _never_reuse_ids("screening", False)
    _never_reuse_ids("participant", False)
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.drop_column("delivered_position")
        batch_op.drop_column("delivered_seq")
        batch_op.drop_column("prompt_seq")
        batch_op.drop_column("prompt_key")
        batch_op.drop_column("pending_answer")

    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("read_back")

    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("replaces")

    with op.batch_alter_table("outgoing_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_reply_recipient"))

    op.drop_table("outgoing_reply")
