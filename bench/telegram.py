"""Updates per second through the real Telegram Application, against the fake Bot API.

    .venv/bin/python -m bench.telegram [--users 40] [--answers 6] [--latency 0.05]

Every Bot API call takes `--latency` seconds at the fake server, as a round trip
to Telegram does. Each user sends `--answers` answers, each only after the
bot's reply to the one before (as a person does). Prints updates handled per
second, the CPU time per update (of this process: the bot, the fake Bot API and the
users) and the latency from sending an update to the bot's reply to it; and, as the
baseline of the same run, the same for a no-op python-telegram-bot bot with the same
rate limiter, which answers each message with one message; and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import running, settings_for

ANSWERS = ["yes", "yes", "1", "42", "yes", "yes", "yes", "yes", "yes", "no"]


async def user(tg: FakeTelegram, user_id: int, answers: int, latencies: list[float], greeting: int) -> None:
    """One person: /start, then each answer once the question it answers has arrived (the bot's
    greeting is `greeting` messages, its reply to each answer one: the next question)."""
    for n, text in enumerate(["/start", *ANSWERS[:answers]]):
        before = len(tg.messages_to(user_id))
        expected = before + (greeting if n == 0 else 1)
        began = time.perf_counter()
        tg.send_text(user_id, text)
        await tg.wait_for(lambda e=expected: len(tg.messages_to(user_id)) >= e, timeout=60)
        latencies.append(time.perf_counter() - began)


@asynccontextmanager
async def noop_bot(tg: FakeTelegram) -> AsyncIterator[None]:
    """The baseline: python-telegram-bot polling the same fake Bot API, with the same rate limiter
    and as many updates at once, answering each message with one message and doing nothing else."""

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "ok")

    application = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(f"{tg.root}/bot")
        .concurrent_updates(256)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, reply))
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)
    await application.start()
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@dataclass(frozen=True)
class Load:
    ms: list[float]  # from each update to the bot's reply, sorted
    elapsed: float
    cpu: float  # seconds of this process's CPU (the bot, the fake Bot API and the users)
    updates: int

    def line(self, name: str) -> str:
        pct = statistics.quantiles(self.ms, n=100)
        return (
            f"{name:<12} {self.updates / self.elapsed:5.1f} updates/s  CPU {self.cpu_ms:.2f} ms/update  "
            f"reply after p50 {pct[49]:.0f} ms  p95 {pct[94]:.0f} ms  p99 {pct[98]:.0f} ms"
        )

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.updates


async def load(tg: FakeTelegram, users: int, answers: int, greeting: int) -> Load:
    latencies: list[float] = []
    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(user(tg, 10_000 + n, answers, latencies, greeting) for n in range(users)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Load(sorted(x * 1000 for x in latencies), elapsed, cpu, users * (answers + 1))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTelegram() as tg, running(settings_for(tg, Path(folder), coordinator_chat_ids="")):
            tg.latency = args.latency
            bot = await load(tg, args.users, args.answers, greeting=2)  # the study's intro, then its question
            calls = Counter(call.method for call in tg.calls if call.method != "getUpdates")
    async with FakeTelegram() as tg, noop_bot(tg):
        tg.latency = args.latency
        noop = await load(tg, args.users, args.answers, greeting=1)
    print(f"users {args.users}, {bot.updates} updates, Bot API latency {args.latency * 1000:.0f} ms")
    print(bot.line("the bot"))
    print(noop.line("no-op bot"))
    p99 = statistics.quantiles(bot.ms, n=100)[98] - statistics.quantiles(noop.ms, n=100)[98]
    print(
        f"ratio        CPU {bot.cpu_ms / noop.cpu_ms:.2f}x, throughput {noop.elapsed / bot.elapsed:.2f}x, "
        f"p99 {p99:+.0f} ms"
    )
    print(f"Bot API calls of the bot (but getUpdates): {dict(calls)}")


if __name__ == "__main__":
    asyncio.run(main())
