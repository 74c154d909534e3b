"""How long others wait while one chat floods the bot, against the same run's baseline.

    .venv/bin/python -m bench.fairness [--flood 500] [--others 10] [--latency 0.02]

One chat sends `--flood` messages at once (a stuck key, a script); right after,
`--others` people each send one message. Prints how long those people wait for
their reply, with chat locks taken before a concurrency slot (what the bot does)
and after it (python-telegram-bot's own order, the baseline), in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from unittest import mock

from bot import update_processor
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import running, settings_for
from bot.update_processor import PerChatUpdateProcessor

FLOODER = 20_000


class SlotFirst(PerChatUpdateProcessor):
    """The baseline: a concurrency slot first, then the chat's lock."""

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        async with self._slots:
            key = update_processor._chat_of(update)
            if key is None:
                await coroutine
                return
            async with self.chat(key):
                await coroutine


async def waits(flood: int, others: int, latency: float) -> tuple[list[float], float]:
    """Seconds each other person waited for a reply, and how long the flood took."""
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTelegram() as tg, running(settings_for(tg, Path(folder), coordinator_chat_ids="")):
            tg.latency = latency
            for n in range(others):  # everyone has started already
                tg.send_text(30_000 + n, "/start")
            await tg.wait_for(lambda: all(tg.messages_to(30_000 + n) for n in range(others)), timeout=120)
            began = time.perf_counter()
            for _ in range(flood):
                tg.send_text(FLOODER, "hello")
            await asyncio.sleep(0.05)  # the flood has been fetched and is being worked through
            before = {n: len(tg.messages_to(30_000 + n)) for n in range(others)}
            sent = time.perf_counter()
            for n in range(others):
                tg.send_text(30_000 + n, "yes")

            async def reply(n: int) -> float:
                await tg.wait_for(lambda: len(tg.messages_to(30_000 + n)) > before[n], timeout=600)
                return time.perf_counter() - sent

            replies = await asyncio.gather(*(reply(n) for n in range(others)))
            await tg.wait_for(lambda: len(tg.messages_to(FLOODER)) >= flood, timeout=600)
            return list(replies), time.perf_counter() - began


def _line(name: str, seconds: list[float], flood_took: float) -> str:
    ms = sorted(s * 1000 for s in seconds)
    median = statistics.median(ms)
    return (
        f"{name:28} others wait  p50 {median:6.0f} ms  max {ms[-1]:6.0f} ms   (flood took {flood_took:.1f} s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flood", type=int, default=500)
    parser.add_argument("--others", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    print(f"one chat sends {args.flood} messages at once; {args.others} others send one each")
    fair, took = await waits(args.flood, args.others, args.latency)
    with mock.patch("bot.telegram_app.PerChatUpdateProcessor", SlotFirst):
        baseline, baseline_took = await waits(args.flood, args.others, args.latency)
    print(_line("chat lock, then slot (bot)", fair, took))
    print(_line("slot, then chat lock (PTB)", baseline, baseline_took))


if __name__ == "__main__":
    asyncio.run(main())
