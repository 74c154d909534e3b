"""console sessions kept server-side, single-use resume links, TOTP codes good once

Console sessions become rows (a keyed hash of the cookie's token), so that signing out, a
reset or a disabling ends them at once; the account's `generation`, which did that for
signed cookies, goes. Failed sign-ins are slowed per address and per account in the
running process instead of locking the account, so `failed_logins` and `locked_until` go
too. Web chat resume links become rows of their own, apart from the session cookie. An
account remembers the TOTP time step of the last code it accepted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import storage.models
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.drop_column("generation")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")
    op.create_table(
        "console_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("began_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_console_session_account_id", "console_session", ["account_id"])
    op.create_table(
        "resume_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("session_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("session_sealed", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_resume_link_session_key", "resume_link", ["session_key"])


def downgrade() -> None:
    op.drop_index("ix_resume_link_session_key", table_name="resume_link")
    op.drop_table("resume_link")
    op.drop_index("ix_console_session_account_id", table_name="console_session")
    op.drop_table("console_session")
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        # Every session a signed cookie of generation 1 named has ended with its row.
        batch_op.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_column("totp_last_step")
