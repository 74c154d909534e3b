"""Notifications delivered per second to three destinations, with and without one failing;
then how long cards wait after a failure.

    .venv/bin/python -m bench.notifications [--referrals 100] [--latency 0.05] [--failing-retry 60]

Each referral is announced to a Telegram chat (the fake Bot API, every call taking
`--latency` seconds), an email inbox (an SMTP server on loopback) and a WeCom-style
webhook (a local HTTP server). Prints notifications per second, and how long each
waited from the referral to its delivery; then the same with the Telegram chat
refusing everything (the bot was blocked), which must not slow the other two.

Then two failures, with the notifier's loop running as in a long-running process:

- one transient error (a 500) on the first of 20 cards to a chat: how long until all 20
  arrived, and whether in order;
- a chat that refused a card (the bot was blocked; it is tried again every `--failing-retry`
  seconds, an hour by default in production) and comes back: how long after the next card is
  made each of the two arrives, and in which order.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from telegram import Bot

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import settings_for
from bot.wiring import build_engine, build_notifier
from dialogs.engine import Address, Engine, Start, Text
from storage.models import utcnow

# A whole screening of TRIAL that ends in a referral: exact answers and option labels, nothing read back.
TRIAL = "nct07295067"
ANSWERS = [
    *("yes", "yes", "1", "42", "yes", "yes", "yes", "yes", "about the same"),
    *("no",) * 9,
    *("yes", "no", "Tested, all negative", "yes", "Li Wei", "+86 138 1234 5678", "1"),
]


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def _webhook() -> tuple[web.AppRunner, int]:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    app = web.Application()
    app.router.add_post("/send", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _refer(engine: Engine, n: int) -> None:
    address = Address("bench", f"p{n}")
    for message in (Start(), *(Text(a) for a in ANSWERS)):
        engine.handle(address, message, locale="en")
        engine.sent(address, engine.outbox(address))


async def run(referrals: int, latency: float, blocked: bool) -> dict[str, list[float]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    runner, hook_port = await _webhook()
    try:
        async with FakeTelegram() as tg:
            tg.latency = latency
            if blocked:
                tg.blocked.add(9001)
            with tempfile.TemporaryDirectory() as folder:
                notify = (
                    f"telegram:9001 mailto:team@example.org wecom+http://127.0.0.1:{hook_port}/send?key=k"
                )
                settings = settings_for(
                    tg,
                    Path(folder),
                    notify=notify,
                    smtp_host="127.0.0.1",
                    smtp_port=smtp_port,
                    smtp_security="none",
                    trials=TRIAL,
                )
                engine = build_engine(settings)
                for n in range(referrals):
                    _refer(engine, n)
                async with Bot(tg.token, base_url=f"{tg.root}/bot") as bot:
                    notifier = build_notifier(settings, engine, bot)
                    began, began_at = time.perf_counter(), utcnow()
                    while await notifier.deliver_due():
                        pass
                    elapsed = time.perf_counter() - began
                with engine.store.transaction() as records:
                    rows = records.notifications()
    finally:
        smtp.stop()
        await runner.cleanup()
    waits: dict[str, list[float]] = {}
    for row in rows:
        if row.status == "sent" and row.sent_at:
            waits.setdefault(row.destination.split(":")[0], []).append(
                (row.sent_at - began_at).total_seconds()
            )
    print(
        f"{'blocked chat' if blocked else 'all healthy':13} {sum(map(len, waits.values()))} delivered "
        f"in {elapsed:.1f} s = {sum(map(len, waits.values())) / elapsed:.0f}/s; "
        f"failing {sum(r.status == 'failing' for r in rows)}"
    )
    for scheme, seconds in sorted(waits.items()):
        ms = sorted(s * 1000 for s in seconds)
        print(f"  {scheme:9} p50 {statistics.median(ms):6.0f} ms  max {ms[-1]:6.0f} ms after delivery began")
    return waits


async def _cards(tg: FakeTelegram, engine: Engine) -> list[tuple[float, str]]:
    """(when, referral) of each card that arrived at the chat, in arrival order: the last call
    that sent it (one before it failed)."""
    with engine.store.transaction() as records:
        references = [r.id for r in records.referrals()]
    last: dict[str, float] = {}
    for call in tg.calls_to("sendMessage"):
        text = call.params.get("text", "")
        if call.params.get("chat_id") == 9001 and (
            reference := next((r for r in references if r in text), None)
        ):
            last[reference] = call.at
    return sorted((at, reference) for reference, at in last.items())


async def failures(latency: float, failing_retry: float) -> None:
    async with FakeTelegram() as tg:
        tg.latency = latency
        with tempfile.TemporaryDirectory() as folder:
            settings = settings_for(
                tg, Path(folder), trials=TRIAL, delivery_interval=0.2, failing_retry_interval=failing_retry
            )
            engine = build_engine(settings)
            async with Bot(tg.token, base_url=f"{tg.root}/bot") as bot:
                notifier = build_notifier(settings, engine, bot)
                for n in range(20):
                    _refer(engine, n)
                tg.fail("sendMessage", "500", chat_id=9001)
                began = time.monotonic()
                loop = asyncio.create_task(notifier.run())
                try:
                    while len(tg.messages_to(9001)) < 20 and time.monotonic() - began < 180:
                        await asyncio.sleep(0.05)
                    took = time.monotonic() - began
                    cards = await _cards(tg, engine)
                    with engine.store.transaction() as records:
                        order = [r.id for r in sorted(records.referrals(), key=lambda r: r.created_at)]
                    print(
                        f"transient error on the first of 20 cards: {len(tg.messages_to(9001))} arrived in "
                        f"{took:.1f} s, {'in order' if [r for _, r in cards] == order else 'OUT OF ORDER'}"
                    )

                    tg.blocked.add(9001)
                    _refer(engine, 100)
                    while not any(n.status == "failing" for n in _notifications(engine)):
                        await asyncio.sleep(0.05)
                    tg.blocked.discard(9001)  # the bot is back in the chat
                    _refer(engine, 101)
                    made = time.monotonic()
                    limit = failing_retry + 30
                    while len(tg.messages_to(9001)) < 22 and time.monotonic() - made < limit:
                        await asyncio.sleep(0.05)
                    late = (await _cards(tg, engine))[20:]
                    waits = ", ".join(f"{r[:6]}… after {at - made:.2f} s" for at, r in late)
                    with engine.store.transaction() as records:
                        refused = sorted(records.referrals(), key=lambda r: r.created_at)[20].id
                    first = (
                        "the refused card first" if late and late[0][1] == refused else "the new card first"
                    )
                    print(
                        f"back after a refusal (retried every {failing_retry:.0f} s): {len(late)} of 2 "
                        f"within {limit:.0f} s of the next card: {waits or 'none'}; {first}"
                    )
                finally:
                    loop.cancel()
                    await asyncio.gather(loop, return_exceptions=True)


def _notifications(engine: Engine) -> list[Any]:
    with engine.store.transaction() as records:
        return records.notifications()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--referrals", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--failing-retry", type=float, default=60.0)
    args = parser.parse_args()
    print(f"{args.referrals} referrals to 3 destinations; Bot API latency {args.latency * 1000:.0f} ms")
    await run(args.referrals, args.latency, blocked=False)
    await run(args.referrals, args.latency, blocked=True)
    await failures(args.latency, args.failing_retry)


if __name__ == "__main__":
    asyncio.run(main())
