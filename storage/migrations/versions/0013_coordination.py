"""phone numbers stored as E.164; the versions of each trial's questionnaire as served

Phone answers were stored as typed digits ("13812345678", "+44 20…" without its spaces); they
become E.164 ("+8613812345678"), a number without a country code being mainland China's. They
are encrypted, so this needs the key and the trial files' phone questions (`EncryptedData`,
handed in by `intake migrate` and by every command that migrates); a number phonenumbers does
not take is left as it was. Going down leaves them as they are: the older code reads E.164.

A new table keeps each version of a trial's questions (its FHIR Questionnaire) from the time a
process first served it, so an exported response is tied to the wording it answered.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import phonenumbers
import sqlalchemy as sa
import sqlmodel

import storage.models
from alembic import context, op
from storage.crypto import unlock

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("served_from", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_questionnaire_version_trial_id", "questionnaire_version", ["trial_id"])
    _phones_as_e164()


def downgrade() -> None:
    op.drop_index("ix_questionnaire_version_trial_id", table_name="questionnaire_version")
    op.drop_table("questionnaire_version")


def _e164(stored: object) -> str | None:
    """A phone number as stored before (digits, perhaps after a +) as E.164; None if it is not one."""
    if not isinstance(stored, str):
        return None
    try:
        number = phonenumbers.parse(stored, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phones_as_e164() -> None:
    connection = op.get_bind()
    data = context.config.attributes.get("data")
    rows = connection.execute(
        sa.text(
            "SELECT answer.id, answer.sealed, answer.question_id, screening.trial_id FROM answer "
            "JOIN screening ON screening.id = answer.screening_id WHERE answer.sealed IS NOT NULL"
        )
    ).all()
    if not rows:
        return
    if data is None:
        raise RuntimeError(
            "migration 0013 rewrites the stored phone numbers, which are encrypted: run it with the "
            "key, through `intake migrate` or by starting the bot"
        )
    phones = [row for row in rows if (row.trial_id, row.question_id) in data.phone_questions]
    if not phones:
        return
    sealed_lookup_key = connection.execute(sa.text("SELECT sealed_lookup_key FROM crypto_state")).scalar()
    cipher, _ = unlock(data.keys(), sealed_lookup_key)
    for row in phones:
        number = _e164(cipher.open(row.sealed))
        if number is not None:
            connection.execute(
                sa.text("UPDATE answer SET sealed = :sealed WHERE id = :id"),
                {"sealed": cipher.seal(number), "id": row.id},
            )
