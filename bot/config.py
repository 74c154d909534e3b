"""Settings, from environment variables or a `.env` file in the working directory.

Every setting is documented in the README; the defaults run the bot on an
embedded SQLite database under ./data with no configuration at all.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.destinations import Destination, DestinationError, SmtpSettings, parse_destinations

if TYPE_CHECKING:
    from dialogs.trial import Trials


class ConfigError(ValueError):
    """A configured value the bot cannot use: said at start-up, in one line, naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the embedded database lives.")
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path/intake.db or postgresql+psycopg://user:pass@host/db; "
        "default: SQLite in the data directory.",
    )
    encryption_key: str | None = Field(
        default=None,
        description="Fernet key(s), newest first, comma-separated; default: <data dir>/encryption.key, "
        "created on first run.",
    )
    trials: str = Field(
        default="",
        description="The trials served, comma-separated (dialogs/trials/<trial>.yaml), the first where a "
        "link without one leads; default: every trial file.",
    )
    coordinator_language: str = Field(
        default="zh_Hans", description="The language of referral cards and coordinator views."
    )
    timezone: str = Field(default="Asia/Shanghai", description="The time zone coordinators read times in.")
    retention_days: int = Field(
        default=180, description="Days a finished screening keeps its personal data (see `intake purge`)."
    )
    abandon_after_days: int = Field(
        default=30, description="Days without activity after which an unfinished screening is closed."
    )
    log_level: str = Field(default="WARNING", description="DEBUG, INFO, WARNING or ERROR.")
    telegram_bot_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "INTAKE_TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_root: str = Field(
        default="https://api.telegram.org",
        validation_alias=AliasChoices("TELEGRAM_API_ROOT", "INTAKE_TELEGRAM_API_ROOT"),
        description="Any Bot API server: Telegram's, a self-hosted one, or a test fake.",
    )
    telegram_bot_username: str | None = Field(
        default=None, description="The bot's @username, for the Telegram links `intake qr` prints."
    )
    telegram_timeout: float = Field(
        default=10.0, description="Seconds to wait for a Bot API answer before a request counts as timed out."
    )
    telegram_concurrent_updates: int = Field(
        default=256, description="Updates handled at once (each chat's in order, chats side by side)."
    )
    telegram_webhook_host: str = Field(
        default="127.0.0.1", description="Where `intake telegram --webhook` listens for Telegram's updates."
    )
    telegram_webhook_port: int = Field(default=8081, description="The port it listens on.")
    telegram_webhook_secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,256}$",
        description="The secret Telegram sends with each update (1-256 of A-Z a-z 0-9 _ -), the same for "
        "every instance; default: <data dir>/telegram-webhook.secret, created on first run.",
    )
    coordinator_chat_ids: str = Field(
        default="",
        description="Comma-separated Telegram chat ids (people or groups) that may use the coordinator "
        "commands, each optionally after a trial and '=' (nct06079125=-1002222222: that trial only).",
    )
    delivery_interval: float = Field(
        default=5.0, description="Seconds between looks for notifications to deliver (also woken at once)."
    )
    notify: str = Field(
        default="",
        description="Where referrals are announced: telegram:<chat id>, mailto:<address> or wecom+https://… "
        "(a WeCom group robot), each optionally #card or #notice, and optionally after a trial and '=' "
        "(that trial's referrals only); default: telegram:<id>#card for every coordinator chat.",
    )
    alert_to: str = Field(
        default="", description="Where the operator hears that a notification keeps failing (same format)."
    )
    delivery_lease: float = Field(
        default=120.0,
        description="Seconds a claimed notification is left to the instance sending it; after that "
        "another instance sends it (one that died holding it). Longer than a batch of 20 takes to send.",
    )
    failing_retry_interval: float = Field(
        default=3600.0, description="Seconds between tries of a notification its destination refused."
    )
    public_url: str | None = Field(
        default=None, description="The bot's public address (https://…), for links in notices."
    )
    web_host: str = Field(default="127.0.0.1", description="Where `intake web` listens.")
    web_port: int = Field(default=8080, description="The port `intake web` listens on.")
    web_trusted_proxies: str = Field(
        default="",
        description="Addresses or networks of reverse proxies whose X-Forwarded-For names the client "
        "(comma-separated); none by default, not even loopback.",
    )
    metrics_from: str = Field(
        default="127.0.0.1/8,::1",
        description="Addresses or networks that may read /metrics (comma-separated): the web's client "
        "address as INTAKE_WEB_TRUSTED_PROXIES resolves it; loopback by default.",
    )
    console_port: int | None = Field(
        default=None,
        description="A port of its own for the coordinator console (then not on the web chat's port).",
    )
    console_host: str = Field(default="127.0.0.1", description="Where the console's own port listens.")
    console_url: str | None = Field(
        default=None,
        description="The console as coordinators reach it, for links in notices "
        "(default: INTAKE_PUBLIC_URL/coordinator).",
    )
    web_tap_settle: float = Field(
        default=1.0,
        ge=0,
        description="Seconds a new web page ignores taps, so a double tap cannot answer the next question.",
    )
    web_session_days: int = Field(
        default=90, ge=1, description="Days a web session lasts unused; each visit renews it."
    )
    web_session_lifetime_days: int = Field(
        default=180, ge=1, description="Days a web session lasts at most, however often it is used."
    )
    web_resume_days: int = Field(
        default=7, ge=1, description="Days a resume link (to continue on another device) works, once."
    )
    web_requests_per_minute: int = Field(
        default=120, ge=1, description="Requests a minute one web chat visitor may make (then 429)."
    )
    web_address_requests_per_minute: int = Field(
        default=2400, ge=1, description="Requests a minute from one network address, everyone behind it."
    )
    web_new_visitors_per_minute: int = Field(
        default=60, ge=1, description="New web chat visitors a minute from one network address."
    )
    web_total_requests_per_minute: int = Field(
        default=6000, ge=1, description="Requests a minute the web chat takes from everyone together."
    )
    speech_models: str = Field(
        default="",
        description="Speech-to-text models by language: 'en=/srv/whisper-small,*=/srv/whisper-small' "
        "('*': any language). Default, for each language not named: the packaged models, whisper "
        "tiny.en for English and the multilingual base for the others.",
    )
    speech_voices: str = Field(
        default="",
        description="Text-to-speech engines by locale or language, for questions read aloud: "
        "'zh_Hans=command:/srv/tts/zh,ru=espeak:ru' (espeak, espeak:<voice>, command:<program>; "
        "'*': any). Default: espeak-ng for every language.",
    )
    speech_workers: int = Field(
        default=max(1, (os.cpu_count() or 2) // 2), ge=1, description="Recordings transcribed at once."
    )
    speech_queue: int = Field(default=8, ge=1, description="Recordings that may wait; then 'try again'.")
    speech_timeout: float = Field(default=60.0, gt=0, description="Seconds a transcription may take.")
    smtp_host: str | None = Field(default=None, description="The SMTP server that sends mailto: notices.")
    smtp_port: int = Field(default=587, description="Its port.")
    smtp_security: str = Field(default="starttls", description="starttls, ssl or none.")
    smtp_user: str | None = Field(default=None, description="The SMTP login, if the server wants one.")
    smtp_password: str | None = Field(default=None, description="Its password.")
    smtp_from: str = Field(default="trial-intake@localhost", description="The notices' From address.")

    @property
    def coordinators(self) -> list[int]:
        """The allowlisted coordinator chats."""
        return list(self.coordinator_trials)

    @property
    def coordinator_trials(self) -> dict[int, frozenset[str] | None]:
        """Each allowlisted coordinator chat and the registry ids of the trials it works on (None:
        every trial); a malformed entry or an unknown trial is a start-up error, not a silent skip."""
        chats: dict[int, frozenset[str] | None] = {}
        for entry in self.coordinator_chat_ids.replace(",", " ").split():
            trial, _, chat = entry.rpartition("=")
            try:
                chat_id = int(chat)
            except ValueError:
                raise ConfigError(f"INTAKE_COORDINATOR_CHAT_IDS: not a chat id: {entry!r}") from None
            scope = frozenset({self.trial_named(trial, "INTAKE_COORDINATOR_CHAT_IDS")}) if trial else None
            earlier = chats.get(chat_id, frozenset())
            chats[chat_id] = None if scope is None or earlier is None else earlier | scope
        return chats

    def load_trials(self) -> Trials:
        """The trials served; an unknown or malformed trial file is a start-up error naming it."""
        from dialogs.trial import TrialDefinitionError, load_trials

        slugs = [part.strip() for part in self.trials.split(",") if part.strip()]
        try:
            return load_trials(slugs or None)
        except TrialDefinitionError as error:
            raise ConfigError(f"INTAKE_TRIALS: {error}") from None

    @cached_property
    def served_trials(self) -> Trials:
        return self.load_trials()

    def trial_named(self, name: str, setting: str) -> str:
        """The registry id of a served trial named by its slug or registry id in `setting`."""
        trial = self.served_trials.find(name)
        if trial is None:
            served = ", ".join(t.slug for t in self.served_trials)
            raise ConfigError(f"{setting}: {name!r} is not a trial served here ({served})")
        return trial.registry_id

    @property
    def trusted_proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The reverse proxies whose X-Forwarded-For names the client; a malformed entry is a
        start-up error."""
        return _networks("INTAKE_WEB_TRUSTED_PROXIES", self.web_trusted_proxies)

    @property
    def metrics_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """Who may read /metrics; a malformed entry is a start-up error."""
        return _networks("INTAKE_METRICS_FROM", self.metrics_from)

    @field_validator("timezone")
    @classmethod
    def _a_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (for example Asia/Shanghai)") from None
        return value

    @field_validator("coordinator_language")
    @classmethod
    def _a_shipped_language(cls, value: str) -> str:
        from dialogs.i18n import negotiate, shipped_locales

        if negotiate(value) is None:
            raise ValueError(f"{value!r} is none of the shipped languages ({', '.join(shipped_locales())})")
        return value

    @property
    def destinations(self) -> list[Destination]:
        """Where referrals are announced (a malformed entry is a start-up error)."""
        if self.notify.strip():
            found = parse_destinations(self.notify, "INTAKE_NOTIFY")
        else:
            found = parse_destinations(
                " ".join(
                    f"telegram:{chat}#card"
                    if trials is None
                    else " ".join(f"{t}=telegram:{chat}#card" for t in trials)
                    for chat, trials in self.coordinator_trials.items()
                ),
                "INTAKE_COORDINATOR_CHAT_IDS",
            )
        return [replace(d, trial=self.trial_named(d.trial, "INTAKE_NOTIFY")) if d.trial else d for d in found]

    @property
    def console_address(self) -> str | None:
        """Where coordinators open the console, for links in notices; None: nowhere public."""
        if self.console_url:
            return self.console_url.rstrip("/")
        if self.public_url and self.console_port is None:
            return f"{self.public_url.rstrip('/')}/coordinator"
        return None  # the console is on an internal port whose address the bot cannot know

    @property
    def speech_model_dirs(self) -> dict[str, Path]:
        """The configured model directories by ISO language ("*": any); a malformed entry is a
        start-up error. The packaged models fill in the rest (`bot.speech.models.with_packaged`)."""
        models = {}
        for entry, language, folder in _pairs(
            self.speech_models, "INTAKE_SPEECH_MODELS", "language=/path/to/model"
        ):
            model = Path(folder)
            if not (model / "model.bin").is_file():
                raise ConfigError(f"INTAKE_SPEECH_MODELS: {entry!r}: no whisper model there (model.bin)")
            models[language.lower()] = model
        return models

    @property
    def speech_voice_specs(self) -> dict[str, str]:
        """Text-to-speech engine specs by locale or language; a malformed entry is a start-up error."""
        return {
            where: spec
            for _, where, spec in _pairs(self.speech_voices, "INTAKE_SPEECH_VOICES", "locale=engine")
        }

    @property
    def alert_destinations(self) -> list[Destination]:
        return parse_destinations(self.alert_to, "INTAKE_ALERT_TO")

    @property
    def smtp(self) -> SmtpSettings | None:
        if not self.smtp_host:
            return None
        if self.smtp_security not in ("starttls", "ssl", "none"):
            raise DestinationError("INTAKE_SMTP_SECURITY: use starttls, ssl or none")
        return SmtpSettings(
            self.smtp_host,
            self.smtp_port,
            self.smtp_security,
            self.smtp_user,
            self.smtp_password,
            self.smtp_from,
        )

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'intake.db'}"


def _pairs(value: str, setting: str, shape: str) -> list[tuple[str, str, str]]:
    """The `key=value` entries of a setting (separated by commas or spaces), each with its text;
    an entry of another shape is a start-up error."""
    pairs = []
    for entry in value.replace(",", " ").split():
        key, _, item = entry.partition("=")
        if not key or not item:
            raise ConfigError(f"{setting}: {entry!r} is not {shape}")
        pairs.append((entry, key, item))
    return pairs


def _networks(setting: str, value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    networks = []
    for entry in value.replace(",", " ").split():
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(f"{setting}: {entry!r} is not an address or a network") from None
    return tuple(networks)
