"""How fast the dialog engine answers, on a real database.

    .venv/bin/python -m bench.engine [--people 200] [--threads 4] [--database-url URL]

Runs whole screenings (24 answers each, every one committed before the reply)
from several threads at once and prints throughput, latency percentiles of a
single turn, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bot.testing.likely import ANSWERS
from dialogs.engine import Address, Engine, Start, Text
from dialogs.trial import find_trial
from storage.crypto import new_key
from storage.database import make_engine, migrate
from storage.repository import Store

TURNS = 60  # more than a screening takes: a bench that loops is a bench that fails


def engine_on(url: str) -> Engine:
    """The engine on a new database at `url`, schema made, with a fresh key."""
    database = make_engine(url)
    migrate(database)
    return Engine(find_trial("nct07295067"), Store.open(database, [new_key()]))


def run(engine: Engine, people: int, threads: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def person(n: int) -> None:
        address = Address("bench", f"p{n}")
        mine = []
        message: Start | Text = Start()
        for _ in range(TURNS):
            began = time.perf_counter()
            engine.handle(address, message, locale="en", dedupe_key=f"{n}:{len(mine)}")
            replies = engine.outbox(address)
            engine.sent(address, replies)  # what a channel does once it has sent them
            mine.append(time.perf_counter() - began)
            asks = next((r.asks for r in reversed(replies) if r.asks), None)
            if asks not in ANSWERS:
                break  # finished: nothing more is asked
            message = Text(ANSWERS[asks])
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    pool = [
        threading.Thread(target=lambda k=k: [person(n) for n in range(k, people, threads)])
        for k in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = engine_on(url)
        latencies, elapsed = run(engine, args.people, args.threads)
        with engine.store.transaction() as records:
            screenings = records.screenings()
            finished = sum(1 for s in screenings if s.status == "finished")
            likely = sum(1 for s in screenings if s.outcome == "likely_eligible")

    ms = sorted(x * 1000 for x in latencies)
    pct = statistics.quantiles(ms, n=100)
    print(f"database      {url.split(':')[0]}")
    print(f"people        {args.people} ({finished} finished, {likely} likely), {args.threads} threads")
    print(f"turns         {len(ms)} in {elapsed:.2f} s = {len(ms) / elapsed:.0f} turns/s")
    print(
        f"turn latency  p50 {pct[49]:.2f} ms  p95 {pct[94]:.2f} ms  p99 {pct[98]:.2f} ms  max {ms[-1]:.2f} ms"
    )
    print(f"peak memory   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    assert finished == likely == args.people, "every screening must finish as a likely candidate"


if __name__ == "__main__":
    main()
