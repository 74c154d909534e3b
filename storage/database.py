"""Database engines: SQLite tuned for a bot's many small writes, or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every transaction starts
with BEGIN IMMEDIATE: two handlers writing at once then queue for the lock
instead of failing with "database is locked" half-way through.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from storage.files import private_file

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://…)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database)
        for path in (database, *(database.with_name(database.name + end) for end in ("-wal", "-shm"))):
            if path == database or path.exists():
                private_file(path)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
    event.listen(engine, "connect", _tune_sqlite)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN, rather than pysqlite's own deferred one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten, not left in free pages: an erasure leaves nothing behind.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@dataclass(frozen=True)
class EncryptedData:
    """What a migration that rewrites encrypted values needs: the keys (asked for only when such
    values are stored), and which answers are phone numbers, as (trial id, question id) pairs
    from the trial files (storage knows no trial)."""

    keys: Callable[[], list[str]]
    phone_questions: frozenset[tuple[str, str]] = frozenset()


def migrate(engine: Engine, revision: str = "head", data: EncryptedData | None = None) -> None:
    """Bring the schema to `revision` (upgrades only; see `downgrade`). A migration that rewrites
    encrypted values (0013: phone numbers) refuses to run on a database holding some without `data`."""
    _run_migration(engine, lambda cfg: command.upgrade(cfg, revision), data)


def downgrade(engine: Engine, revision: str) -> None:
    _run_migration(engine, lambda cfg: command.downgrade(cfg, revision))


def _run_migration(engine: Engine, step: Any, data: EncryptedData | None = None) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch migrations copy tables; with foreign keys on, dropping the old
            # copy would cascade-delete every child row. Off for the migration only.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        config.attributes["data"] = data
        step(config)
        if sqlite:
            broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"migration left {len(broken)} rows with broken foreign keys")


class SchemaError(RuntimeError):
    """The database is not at the schema this version reads; the message says what to run."""


def require_current_schema(engine: Engine) -> None:
    """For commands that only read or change data: never migrate behind the operator's back."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        raise SchemaError(
            f"there is no database at {shown_url(engine)} yet: start the bot, or run `intake migrate`"
        )
    if current != head:
        raise SchemaError(
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `intake migrate` (back the database up first)"
        )


def shown_url(engine: Engine | str) -> str:
    """The database URL as it may be printed: never its password."""
    url = engine.url if isinstance(engine, Engine) else make_url(engine)
    return url.render_as_string(hide_password=True)


class DatabaseInUse(RuntimeError):
    """Another process (a running bot) has the database open."""


@contextmanager
def in_use(engine: Engine, *, exclusive: bool = False) -> Iterator[None]:
    """Mark an embedded database as in use for as long as this runs.

    Running channels hold it shared; a restore needs it exclusively and is refused
    while anyone else holds it (it would roll their conversations back under them).
    The mark is a lock on a file beside the database, so it goes with the process.
    PostgreSQL needs none: it is never restored by this program.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".lock")
    private_file(path)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"{database} is in use by another intake process (a running bot?): stop it first"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
