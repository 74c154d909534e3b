"""Many patients at once on two instances of each server, one of each killed mid-load.

    INTAKE_TEST_POSTGRES_URL=postgresql+psycopg://… .venv/bin/python -m bench.instances \\
        [--web 100] [--telegram 20] [--no-kill]

The cluster of tests/test_instances.py (bot/testing/instances.py) at the issue's size: two
`intake web` and two `intake telegram --webhook` processes on a fresh PostgreSQL database
behind round-robin proxies. `--web` patients type a whole screening each through the web
proxy (a connection per request), `--telegram` patients through the fake Bot API's webhook
posts; once 40% of the web answers are in, one web and one webhook instance get SIGKILL.
Prints the answers per second, the latency of an acknowledged answer, the requests that lost
their instance, and the checks: every answer stored once and in order, every referral's card
and notice sent once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

from bot.testing.instances import (
    COORDINATOR,
    QUESTIONS,
    TEAM,
    Cluster,
    WebPatient,
    fresh_database,
    telegram_patient,
)
from storage.models import Notification, Referral


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--web", type=int, default=100)
    parser.add_argument("--telegram", type=int, default=20)
    parser.add_argument("--no-kill", action="store_true")
    args = parser.parse_args()
    server = os.environ.get("INTAKE_TEST_POSTGRES_URL")
    if not server:
        sys.exit("set INTAKE_TEST_POSTGRES_URL to a PostgreSQL server and a role that may create databases")
    with fresh_database(server) as url, tempfile.TemporaryDirectory() as folder:
        cluster = Cluster(url, Path(folder))
        async with cluster.running():
            engine = cluster.engine()
            web = [WebPatient(cluster.web.url) for _ in range(args.web)]
            began = time.perf_counter()
            tasks = [asyncio.create_task(p.run()) for p in web]
            tasks += [
                asyncio.create_task(telegram_patient(cluster.tg, 80001 + n, patience=120))
                for n in range(args.telegram)
            ]
            if not args.no_kill:
                half = args.web * len(QUESTIONS) * 0.4
                await cluster.tg.wait_for(lambda: sum(len(p.acked) for p in web) >= half, timeout=600)
                cluster.of("web")[0].kill()
                cluster.of("telegram")[0].kill()
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - began

            def rows(table: type) -> list:  # type: ignore[type-arg]
                with engine.store.transaction() as records:
                    return list(records.session.exec(select(table)))

            await cluster.tg.wait_for(
                lambda: all(n.status == "sent" for n in rows(Notification)), timeout=120, what="deliveries"
            )
            referrals = rows(Referral)
            cards, mails = cluster.tg.messages_to(COORDINATOR), cluster.inbox.messages
            with engine.store.transaction() as records:
                histories = []
                for channel, who in [("web", p.session) for p in web] + [
                    ("telegram", str(80001 + n)) for n in range(args.telegram)
                ]:
                    participant = records.participant(channel, who)
                    screening = records.latest_screening(participant.id or 0) if participant else None
                    histories.append(
                        [a.question_id for a in records.answer_history(screening.id or 0)]
                        if screening
                        else []
                    )
    answers = sum(len(p.acked) for p in web)
    ms = sorted(x * 1000 for p in web for x in p.latencies)
    pct = statistics.quantiles(ms, n=100)
    print(
        f"cores {os.cpu_count()}; {args.web} web + {args.telegram} Telegram patients at once, {elapsed:.1f} s"
    )
    print(
        f"web          {answers / elapsed:.1f} acknowledged answers/s; "
        f"p50 {pct[49]:.0f} ms  p99 {pct[98]:.0f} ms"
    )
    print(
        f"killed       {'none' if args.no_kill else 'one web and one webhook instance (SIGKILL) at 40%'}; "
        f"requests with no answer, sent again: {dict(sum((p.failures for p in web), Counter()))}"
    )
    stored_right = sum(h == QUESTIONS for h in histories)
    print(f"stored       {stored_right}/{len(histories)} screenings hold every answer once, in order")
    print(f"finished     {sum(p.finished for p in web)}/{args.web} web, {len(referrals)} referrals")
    card_counts = [sum(f"Referral {r.id}" in c["text"] for c in cards) for r in referrals]
    mail_counts = [sum(r.id in str(m["Subject"]) for m in mails if TEAM in str(m["To"])) for r in referrals]
    for what, counts in (("cards", card_counts), ("notices", mail_counts)):
        print(
            f"{what:<12} {counts.count(1)}/{len(referrals)} referrals exactly once, "
            f"{counts.count(0)} never, {sum(c > 1 for c in counts)} more than once"
        )


if __name__ == "__main__":
    asyncio.run(main())
