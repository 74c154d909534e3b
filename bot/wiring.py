"""Builds the dialog engine from settings: the one place channels get it from."""

from __future__ import annotations

from bot.config import Settings
from dialogs.engine import Engine
from dialogs.trial import find_trial
from storage.database import make_engine, migrate
from storage.repository import Store


def build_engine(settings: Settings) -> Engine:
    """Load the trial, bring the database schema up to date, and wire the engine."""
    trial = find_trial(settings.trial)
    database = make_engine(settings.database)
    migrate(database)
    return Engine(trial, Store(database))
