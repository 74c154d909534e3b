"""Builds the dialog engine from settings: the one place channels get it from."""

from __future__ import annotations

from sqlalchemy import Engine as SQLAlchemyEngine

from bot.config import Settings
from dialogs.engine import Engine
from dialogs.trial import find_trial
from storage.crypto import key_file_keys, parse_keys
from storage.database import make_engine, migrate
from storage.repository import Store


def build_engine(settings: Settings) -> Engine:
    """Load the trial, bring the database schema up to date, and wire the engine."""
    trial = find_trial(settings.trial)
    database = make_engine(settings.database)
    migrate(database)
    return Engine(trial, open_store(settings, database))


def open_store(settings: Settings, database: SQLAlchemyEngine) -> Store:
    """The store, with personal fields encrypted under the configured key (or the data directory's)."""
    if settings.encryption_key:
        keys = parse_keys(settings.encryption_key)
    else:
        keys = key_file_keys(
            settings.data_dir / "encryption.key", may_create=not Store.is_encrypted(database)
        )
    return Store.open(database, keys)
