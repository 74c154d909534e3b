"""Online backups of the embedded SQLite database, and restoring one.

SQLite's backup API copies the database inside one read transaction, so the
copy is a consistent snapshot even while the bot keeps writing (WAL mode lets
writers go on). PostgreSQL is backed up with its own tools: `pg_dump -Fc`
while running, `pg_restore` to restore.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlmodel import Session, select

from storage.files import private_file
from storage.models import AuditEvent

POSTGRES_HINT = (
    "this database is PostgreSQL: back it up with `pg_dump --format=custom --file=intake.dump <url>` "
    "and restore with `pg_restore --clean --dbname=<url> intake.dump`"
)


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why."""


def backup(engine: Engine, target: Path) -> None:
    """Copy the live database to `target` (a new file), consistently, while it is in use."""
    _require_sqlite(engine)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file")
    private_file(target)  # as private as the database it copies
    source = engine.raw_connection()
    try:
        with sqlite3.connect(target) as destination:
            source.driver_connection.backup(destination)  # type: ignore[union-attr]
        destination.close()
        _check(target)
    finally:
        source.close()


def restore(engine: Engine, source: Path) -> None:
    """Replace the database's contents with the backup at `source`. Stop the bot first."""
    _require_sqlite(engine)
    if not source.exists():
        raise BackupError(f"{source}: no such backup")
    _check(source)
    engine.dispose()
    target = engine.raw_connection()
    try:
        with sqlite3.connect(source) as backup_file:
            backup_file.backup(target.driver_connection)  # type: ignore[arg-type]
        backup_file.close()
    finally:
        target.close()


def _check(path: Path) -> None:
    try:
        with sqlite3.connect(path) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a usable database: {error}") from None
    if verdict != "ok":
        raise BackupError(f"{path} is damaged: {verdict}")


def _require_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        raise BackupError(POSTGRES_HINT)


def audit_database(engine: Engine, actor: str, action: str, subject: str, **detail: object) -> None:
    """An audit row for what works on the database file itself (a backup, a restore), without
    the encryption key."""
    with Session(engine) as session:
        session.add(AuditEvent(actor=actor, action=action, subject=subject, detail=detail))
        session.commit()


def erased_participants(engine: Engine, action: str) -> list[int]:
    """Who has been erased, by participant id (never reused), as the audit trail's `action` rows
    record it: read before a restore, without the key, to erase them again after it."""
    if not inspect(engine).has_table("audit_event"):
        return []  # restoring into an empty database
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == action))
        return sorted({int(e.detail["participant"]) for e in events if e.detail.get("participant")})
