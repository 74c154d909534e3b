"""Builds the parts from settings: the one place channels and commands get them from."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine as SQLAlchemyEngine
from telegram import Bot

from bot.config import ConfigError, Settings
from bot.coordination.cards import Cards
from bot.coordination.service import Coordination
from bot.destinations import DestinationError, EmailSender, Sender, TelegramSender, WeComSender
from bot.notifications import Notifier, Planner
from dialogs.engine import Engine
from dialogs.i18n import pick_locale, shipped_locales
from dialogs.trial import Trials
from storage.crypto import key_file_keys, parse_keys
from storage.database import EncryptedData, make_engine, migrate, require_current_schema
from storage.repository import Store

if TYPE_CHECKING:
    from bot.speech.listener import Listener
    from bot.speech.speaker import Speaker


def build_engine(settings: Settings) -> Engine:
    """For the long-running commands: load the trial, bring the schema up to date, wire the engine.

    The engine's effects (a referral created or withdrawn) become notifications to the
    configured destinations, in the same transaction.
    """
    trials = settings.served_trials
    database = make_engine(settings.database)
    migrate_database(settings, database)
    planner = Planner(settings.destinations, settings.delivery_lease)
    engine = Engine(trials, open_store(settings, database), on_effects=planner.plan)
    # From now on this process serves these versions of the trials' questions.
    build_coordination(settings, engine.store, trials).record_questionnaires()
    return engine


def migrate_database(settings: Settings, database: SQLAlchemyEngine) -> None:
    """Bring the schema up to date, with what a migration needs to rewrite encrypted values."""
    phones = frozenset(
        (trial.registry_id, q.id)
        for trial in settings.served_trials
        for q in trial.questions
        if q.kind == "phone"
    )
    migrate(database, data=EncryptedData(lambda: _keys(settings, database), phones))


def operator_store(settings: Settings) -> Store:
    """The store, for an operator's command: it reads and changes data, never the schema."""
    database = make_engine(settings.database)
    require_current_schema(database)
    return open_store(settings, database)


def open_store(settings: Settings, database: SQLAlchemyEngine) -> Store:
    """The store, with personal fields encrypted under the configured key (or the data directory's)."""
    return Store.open(database, _keys(settings, database))


def _keys(settings: Settings, database: SQLAlchemyEngine) -> list[str]:
    if settings.encryption_key:
        return parse_keys(settings.encryption_key)
    return key_file_keys(settings.data_dir / "encryption.key", may_create=not Store.is_encrypted(database))


def coordinator_locale(settings: Settings) -> str:
    return pick_locale(settings.coordinator_language)


def cards(settings: Settings, trials: Trials) -> Cards:
    return Cards(trials, coordinator_locale(settings), settings.timezone, settings.console_address)


def build_coordination(settings: Settings, store: Store, trials: Trials | None = None) -> Coordination:
    """The study team's service, for the console, the Telegram coordinator commands and the CLI;
    what it withdraws (an erasure) becomes notifications to the configured destinations."""
    return Coordination(
        store,
        trials or settings.served_trials,
        shipped_locales(),
        locale=coordinator_locale(settings),
        timezone=settings.timezone,
        console_url=settings.console_address,
        on_effects=Planner(settings.destinations, settings.delivery_lease).plan,
    )


def build_notifier(settings: Settings, engine: Engine, bot: Bot | None) -> Notifier:
    """The delivery worker, with a sender for every kind of destination this process can reach.

    A mailto: destination without an SMTP server is a configuration error; a Telegram chat
    without a bot (the console, `intake deliver` with no token) waits for a process that has one.
    """
    destinations, alerts = settings.destinations, settings.alert_destinations
    schemes = {d.scheme for d in (*destinations, *alerts)}
    senders: dict[str, Sender] = {"wecom": WeComSender()}
    smtp = settings.smtp
    if smtp is not None:
        senders["mailto"] = EmailSender(smtp)
    elif "mailto" in schemes:
        raise DestinationError(
            "INTAKE_NOTIFY or INTAKE_ALERT_TO has mailto: destinations: set INTAKE_SMTP_HOST"
        )
    if bot is not None:
        senders["telegram"] = TelegramSender(bot)
    elif "telegram" in schemes:
        print(
            "note: Telegram destinations are served by a process with TELEGRAM_BOT_TOKEN "
            "(`intake telegram` or `intake deliver`); their notifications wait until one runs",
            file=sys.stderr,
        )
    return Notifier(
        engine.store,
        cards(settings, engine.trials),
        destinations,
        alerts,
        senders,
        interval=settings.delivery_interval,
        failing_retry=settings.failing_retry_interval,
        lease=settings.delivery_lease,
    )


def build_web(
    settings: Settings,
    engine: Engine,
    notifier: Notifier,
    *,
    deliver: bool,
    listener: Listener | None = None,
    speaker: Speaker | None = None,
) -> list[WebServer]:
    """What the web serves, where: the web chat with the coordinator console, or, when
    INTAKE_CONSOLE_PORT is set, the chat and the console on ports of their own. With `deliver`,
    the chat's app runs the notifier (when nothing else in the process does)."""
    from bot.web import WebOptions, build_web_app  # Starlette loads only where the web is served
    from bot.web.console import ConsoleOptions

    options = WebOptions(
        public_url=settings.public_url,
        trusted_proxies=settings.trusted_proxies,
        tap_settle=settings.web_tap_settle,
        session_days=settings.web_session_days,
        session_lifetime_days=settings.web_session_lifetime_days,
        resume_days=settings.web_resume_days,
        requests_per_minute=settings.web_requests_per_minute,
        address_requests_per_minute=settings.web_address_requests_per_minute,
        new_visitors_per_minute=settings.web_new_visitors_per_minute,
        total_requests_per_minute=settings.web_total_requests_per_minute,
        metrics_from=settings.metrics_networks,
        console=ConsoleOptions(locale=coordinator_locale(settings), timezone=settings.timezone),
    )
    listener = listener or build_listener(settings)
    speaker = speaker or build_speaker(settings)

    def server(parts: tuple[str, ...], host: str, port: int, delivers: bool) -> WebServer:
        app = build_web_app(
            engine, notifier, options, deliver=delivers, parts=parts, listener=listener, speaker=speaker
        )
        return WebServer(parts, app, host, port)

    if settings.console_port is None:
        return [server(("chat", "console"), settings.web_host, settings.web_port, deliver)]
    return [
        server(("chat",), settings.web_host, settings.web_port, deliver),
        server(("console",), settings.console_host, settings.console_port, False),
    ]


@dataclass(frozen=True)
class WebServer:
    parts: tuple[str, ...]  # "chat", "console"
    app: Any
    host: str
    port: int

    @property
    def name(self) -> str:
        return " and ".join({"chat": "web chat", "console": "coordinator console"}[p] for p in self.parts)

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}/"


def build_listener(settings: Settings) -> Listener:
    """Speech-to-text for the configured languages (none: every recording gets "please type")."""
    from bot.speech.listener import Listener  # PyAV and NumPy load only where voice is heard
    from bot.speech.models import with_packaged

    return Listener(
        with_packaged(settings.speech_model_dirs, settings.data_dir / "speech-models"),
        workers=settings.speech_workers,
        queue_limit=settings.speech_queue,
        timeout=settings.speech_timeout,
    )


def build_speaker(settings: Settings) -> Speaker:
    """Questions read aloud, with the configured engine per language (a wrong one: an error now)."""
    from bot.speech.speaker import Speaker
    from bot.speech.synthesis import voice_from

    voices = {}
    for where, spec in settings.speech_voice_specs.items():
        try:
            voices[where] = voice_from(spec)
        except ValueError as error:
            raise ConfigError(f"INTAKE_SPEECH_VOICES: {where}={spec}: {error}") from None
    return Speaker(voices)


def in_background(notifier: Notifier) -> Callable[[], None]:
    """Run the notifier in a thread of its own (beside a synchronous channel); return its stop,
    which delivers what is due one last time (a referral made just before leaving goes out)."""
    thread = threading.Thread(target=lambda: asyncio.run(notifier.run()), daemon=True, name="notifier")
    thread.start()

    def stop() -> None:
        notifier.finish()
        thread.join(timeout=60)

    return stop
