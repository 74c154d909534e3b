"""Updates of one chat in order, different chats in parallel, and fairly.

python-telegram-bot processes updates one at a time by default (a slow database
or Bot API round trip then holds up every other person), or fully concurrently
(two quick messages of one person could then overtake each other). This
processor keeps a lock per chat: each chat's updates run in arrival order,
while other chats proceed. Whatever else talks to a chat (resending replies
that failed) takes the same lock, through `chat`.

The chat's lock is taken before a slot of the concurrency limit, not after (as
python-telegram-bot's own order would): otherwise one chat sending hundreds of
messages at once fills every slot with updates that only wait for its lock, and
everybody else waits behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_of(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        async with self.chat(key), self._slots:
            await coroutine

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Unused: `process_update` orders the chat's lock and the slot itself."""
        await coroutine

    @asynccontextmanager
    async def chat(self, key: int) -> AsyncIterator[None]:
        """Hold chat `key` for one piece of work; others for the same chat wait their turn."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Forget a chat's lock once nobody waits on it, so memory stays flat.
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _chat_of(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user else None
