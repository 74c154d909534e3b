"""Builds the dialog engine from settings: the one place channels get it from."""

from __future__ import annotations

import logging

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


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces every migration at INFO; that is noise in a chat. httpx logs every
    # request URL at INFO, and a Bot API URL contains the bot's token.
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
