"""A fresh database for one bench run: a new SQLite file, or a new database on a PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(postgres: str | None, folder: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database called `name`: a file in `folder`, or on the server
    `postgres` (a URL whose role may create databases), dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    database = f"intake_bench_{name}_{os.getpid()}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(postgres).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
