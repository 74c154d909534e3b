"""Simulated patients completing screenings over HTTP against `intake web` on SQLite.

    .venv/bin/python -m bench.web [--patients 20] [--screenings 2] [--postgres URL]

Starts `intake web` as its own process on a fresh data directory (and SQLite there, or a new
database on the PostgreSQL server `--postgres` names, dropped afterwards), then runs
`--patients` people at once, each completing `--screenings` whole screenings by
form posts, as a browser with JavaScript off does: post the answer, follow the
redirect, read the next page (26 answers a screening, each one committed before
its page comes back). Prints answers per second, the latency of one answer (post
to next page), the server's CPU time per answer and its peak memory (VmHWM); and, as baselines
measured in the same run, the same load on a no-op Starlette app (`bench.noop_web`,
served by uvicorn as `intake web` is) with the ratio of the two, and the same answers
through the engine alone (no HTTP, four threads, as `bench.engine` does). The simulated
patients answer as fast as the server lets them, so the bench lifts the per-person rate
limit and the tap settling time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx

from bench.databases import fresh_database
from bench.engine import ANSWERS, TURNS, engine_on, run
from bot.testing.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def _field(html: str, name: str) -> str:
    # The answer box's form is the last on the page with these hidden fields.
    found = re.findall(rf'name="{name}" value="([^"]*)"', html)
    return unescape(found[-1]) if found else ""


def _asks(html: str) -> str | None:
    """What the page's last question asks (its question id, or a menu such as "_confirm")."""
    found = re.findall(r'data-asks="([^"]*)"', html)
    return unescape(found[-1]) if found else None


async def patient(base: str, screenings: int, latencies: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=60) as browser:
        page = (await browser.get("/?lang=en&src=bench")).text
        for n in range(screenings):
            if n:  # the next screening: start again, and confirm (the consents are carried over)
                for text in ("/restart", "yes"):
                    form = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": text}
                    page = (await browser.post("/say", data=form)).text
            for _ in range(TURNS):
                asks = _asks(page)
                if asks not in ANSWERS:
                    break  # finished: nothing more is asked
                form = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": ANSWERS[asks]}
                began = time.perf_counter()
                response = await browser.post("/say", data=form)
                latencies.append(time.perf_counter() - began)
                response.raise_for_status()
                page = response.text
            if "Your reference is" not in page:
                raise RuntimeError("a screening did not end in a referral:\n" + re.sub(r"<[^>]+>", "", page))


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far (user and system): what an answer costs the server
    whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) / 1024 if match else float("nan")


async def load(command: list[str], env: dict[str, str], port: int, patients: int, screenings: int) -> Load:
    """Start the server `command` runs, let the patients loose on it, stop it: what it did."""
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(400):
                try:
                    await probe.get(f"{base}/favicon.ico")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        started_mb, cpu = _peak_memory_mb(server.pid), _cpu_seconds(server.pid)
        latencies: list[float] = []
        began = time.perf_counter()
        await asyncio.gather(*(patient(base, screenings, latencies) for _ in range(patients)))
        elapsed, cpu = time.perf_counter() - began, _cpu_seconds(server.pid) - cpu
        ms = sorted(x * 1000 for x in latencies)
        return Load(ms, elapsed, _peak_memory_mb(server.pid), started_mb, cpu * 1000 / len(ms))
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass(frozen=True)
class Load:
    ms: list[float]  # each answer, post to next page, sorted
    elapsed: float
    peak_mb: float
    started_mb: float
    cpu_ms: float  # the server's CPU time per answer

    @property
    def rate(self) -> float:
        return len(self.ms) / self.elapsed

    def line(self, name: str) -> str:
        pct = statistics.quantiles(self.ms, n=100)
        return (
            f"{name:<13}{self.rate:6.1f} answers/s  p50 {pct[49]:.0f} ms  p95 {pct[94]:.0f} ms  "
            f"p99 {pct[98]:.0f} ms  server CPU {self.cpu_ms:.1f} ms/answer  peak {self.peak_mb:.0f} MB"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--screenings", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL server URL whose role may create databases")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.postgres, Path(folder), "engine") as url,
    ):
        engine = engine_on(url)
        base_ms, base_elapsed = run(engine, args.patients, 4)
        engine.store.engine.dispose()  # its connections closed, PostgreSQL may drop the database
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.postgres, Path(folder), "web") as url,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TELEGRAM_"))}
        env |= {
            "INTAKE_DATA_DIR": folder,
            "INTAKE_DATABASE_URL": url,
            "INTAKE_TRIALS": "nct07295067",  # the patients answer its questions
            "INTAKE_WEB_PORT": str(port),
            "INTAKE_WEB_TAP_SETTLE": "0",
            "INTAKE_WEB_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_NEW_VISITORS_PER_MINUTE": "1000000",
            "INTAKE_WEB_ADDRESS_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_TOTAL_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_NOTIFY": "",
        }
        chat = await load([sys.executable, "-m", "bot", "web"], env, port, args.patients, args.screenings)
    noop_command = [sys.executable, "-m", "bench.noop_web", str(port)]
    noop = await load(noop_command, dict(os.environ), port, args.patients, args.screenings)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"patients {args.patients} at once, {args.screenings} screenings each, {len(chat.ms)} answers")
    print(f"database     {backend}")
    print(chat.line("intake web"))
    print(noop.line("no-op app"))
    print(
        f"ratio        {chat.rate / noop.rate:.2f}x the no-op app's answers/s, "
        f"{chat.cpu_ms / noop.cpu_ms:.1f}x its CPU per answer"
    )
    base = sorted(x * 1000 for x in base_ms)
    print(
        f"engine alone {args.patients} screenings, 4 threads: "
        f"{len(base) / base_elapsed:.1f} turns/s, p50 {statistics.median(base):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
