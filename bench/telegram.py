"""Updates per second through the real Telegram Application, against the fake Bot API.

    .venv/bin/python -m bench.telegram [--users 40] [--answers 6] [--latency 0.05]

Every Bot API call takes `--latency` seconds at the fake server, as a round trip
to Telegram does. Each user sends `--answers` answers, each only after the
bot's reply to the one before (as a person does). Prints updates handled per
second and the latency from sending an update to the bot's last reply to it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import running, settings_for

ANSWERS = ["yes", "yes", "1", "42", "yes", "yes", "yes", "yes", "yes", "no"]


async def user(tg: FakeTelegram, user_id: int, answers: int, latencies: list[float]) -> None:
    for text in ["/start", *ANSWERS[:answers]]:
        before = len(tg.messages_to(user_id))
        began = time.perf_counter()
        tg.send_text(user_id, text)
        # The reply to every input here ends with the next question: one message with a prompt.
        await tg.wait_for(lambda b=before: len(tg.messages_to(user_id)) > b, timeout=60)
        latencies.append(time.perf_counter() - began)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTelegram() as tg, running(settings_for(tg, Path(folder), coordinator_chat_ids="")):
            tg.latency = args.latency
            began = time.perf_counter()
            await asyncio.gather(*(user(tg, 10_000 + n, args.answers, latencies) for n in range(args.users)))
            elapsed = time.perf_counter() - began
    updates = args.users * (args.answers + 1)
    ms = sorted(x * 1000 for x in latencies)
    pct = statistics.quantiles(ms, n=100)
    print(f"users {args.users}, {updates} updates, Bot API latency {args.latency * 1000:.0f} ms")
    print(f"throughput   {updates / elapsed:.1f} updates/s ({elapsed:.1f} s)")
    print(
        f"reply after  p50 {pct[49]:.0f} ms  p95 {pct[94]:.0f} ms  p99 {pct[98]:.0f} ms  max {ms[-1]:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
