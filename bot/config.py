"""Settings, from environment variables or a `.env` file in the working directory.

Every setting is documented in the README; the defaults run the bot on an
embedded SQLite database under ./data with no configuration at all.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    trial: str = Field(default="nct07295067", description="The trial file (dialogs/trials/<trial>.yaml).")
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
    telegram_timeout: float = Field(
        default=10.0, description="Seconds to wait for a Bot API answer before a request counts as timed out."
    )
    coordinator_chat_ids: str = Field(
        default="",
        description="Comma-separated Telegram chat ids (people or groups) that receive referrals.",
    )
    delivery_interval: float = Field(
        default=5.0, description="Seconds between looks for referrals to deliver (also woken at once)."
    )

    @property
    def coordinators(self) -> list[int]:
        """The allowlisted coordinator chats; a malformed entry is a start-up error, not a silent skip."""
        ids = [part.strip() for part in self.coordinator_chat_ids.split(",") if part.strip()]
        try:
            return [int(i) for i in ids]
        except ValueError as error:
            raise ValueError(f"INTAKE_COORDINATOR_CHAT_IDS: not a chat id: {error}") from None

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'intake.db'}"
