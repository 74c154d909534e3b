"""Running the real Telegram application against the fake Bot API, and people who use it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.telegram_app import build_application
from bot.testing.fake_telegram import FakeTelegram
from bot.wiring import build_engine
from dialogs.engine import Address, Engine

COORDINATOR = 9001


def settings_for(tg: FakeTelegram, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": tg.token,
        "telegram_api_root": tg.root,
        "data_dir": data_dir,
        "coordinator_chat_ids": str(COORDINATOR),
        "coordinator_language": "en",
        "delivery_interval": 0.2,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# The engine of the bot running against each fake Bot API (by its root URL), so that a user can
# tell when everything the bot had to say has been sent: its outbox for them is empty.
_ENGINES: dict[str, Engine] = {}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Application, Engine]]:
    """The application from the production factory, started and stopped as run_polling does."""
    engine = build_engine(settings)
    _ENGINES[settings.telegram_api_root] = engine
    application = build_application(settings, engine)
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)
    await application.start()
    try:
        yield application, engine
    finally:
        await application.updater.stop()
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()
        _ENGINES.pop(settings.telegram_api_root, None)


class TelegramUser:
    """A person in a private chat with the bot, through the fake Bot API."""

    def __init__(
        self, tg: FakeTelegram, user_id: int, language_code: str = "en", patience: float = 10
    ) -> None:
        self.tg = tg
        self.id = user_id
        self.language_code = language_code
        self.patience = patience  # seconds to wait for the bot's first reply

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.tg.messages_to(self.id)

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    async def _replies(self, before: int, send: Any) -> list[dict[str, Any]]:
        send()
        await self.tg.wait_for(
            lambda: len(self.messages) > before, timeout=self.patience, what=f"a reply to user {self.id}"
        )
        return await self.settled(before)

    async def settled(self, before: int) -> list[dict[str, Any]]:
        """The new messages, once the bot has stopped sending for a moment and, where the bot runs
        in this process, has nothing left in its outbox for this user (a slow machine can leave
        more than a moment between two replies to one message)."""
        count = -1
        deadline = time.monotonic() + 10
        while count != len(self.messages) or (await self._replies_waiting() and time.monotonic() < deadline):
            count = len(self.messages)
            await asyncio.sleep(0.12)
        return self.messages[before:]

    async def _replies_waiting(self) -> bool:
        engine = _ENGINES.get(self.tg.root)
        if engine is None:
            return False  # the bot is another process: the pause is all there is to go by
        return bool(await asyncio.to_thread(engine.outbox, Address("telegram", str(self.id))))

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self._replies(
            len(self.messages), lambda: self.tg.send_text(self.id, text, language_code=self.language_code)
        )

    async def command(self, name: str, args: str = "") -> list[dict[str, Any]]:
        return await self.say(f"/{name}" + (f" {args}" if args else ""))

    async def tap(self, value: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Tap the button for option `value` under `message` (default: the last one with buttons)."""
        message = message or next(m for m in reversed(self.messages) if self.tg.buttons(m))
        data = next(d for _, d in self.tg.buttons(message) if d.rsplit(":", 1)[-1] == value)
        return await self._replies(
            len(self.messages),
            lambda: self.tg.tap(self.id, message["message_id"], data, language_code=self.language_code),
        )

    async def send(self, push: Any) -> list[dict[str, Any]]:
        return await self._replies(len(self.messages), push)
