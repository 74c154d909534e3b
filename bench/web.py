"""Simulated patients completing screenings over HTTP against `intake web` on SQLite.

    .venv/bin/python -m bench.web [--patients 20] [--screenings 2]

Starts `intake web` as its own process on a fresh data directory, then runs
`--patients` people at once, each completing `--screenings` whole screenings by
form posts, as a browser with JavaScript off does: post the answer, follow the
redirect, read the next page (26 answers a screening, each one committed before
its page comes back). Prints answers per second, the latency of one answer (post
to next page) and the server process's peak memory (VmHWM); and, as the baseline
measured in the same run, the same answers through the engine alone (no HTTP, four
threads, as `bench.engine` does). The simulated patients answer as fast as the server
lets them, so the bench lifts the per-person rate limit and the tap settling time.
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
from html import unescape
from pathlib import Path

import httpx

from bench.engine import ANSWERS, engine_on, run
from bot.testing.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def _field(html: str, name: str) -> str:
    # The answer box's form is the last on the page with these hidden fields.
    found = re.findall(rf'name="{name}" value="([^"]*)"', html)
    return unescape(found[-1]) if found else ""


async def patient(base: str, screenings: int, latencies: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=60) as browser:
        page = (await browser.get("/?lang=en&src=bench")).text
        for n in range(screenings):
            if n:  # the next screening: start again, and confirm
                for text in ("/restart", "yes"):
                    form = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": text}
                    page = (await browser.post("/say", data=form)).text
            for answer in ANSWERS[2 if n else 0 :]:  # the consents are carried over
                form = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": answer}
                began = time.perf_counter()
                response = await browser.post("/say", data=form)
                latencies.append(time.perf_counter() - began)
                response.raise_for_status()
                page = response.text
            if "Your reference is" not in page:
                raise RuntimeError("a screening did not end in a referral:\n" + re.sub(r"<[^>]+>", "", page))


def _peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) / 1024 if match else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--screenings", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base_ms, base_elapsed = run(engine_on(f"sqlite:///{folder}/baseline.db"), args.patients, 4)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TELEGRAM_"))}
        env |= {
            "INTAKE_DATA_DIR": folder,
            "INTAKE_TRIALS": "nct07295067",  # the patients answer its questions
            "INTAKE_WEB_PORT": str(port),
            "INTAKE_WEB_TAP_SETTLE": "0",
            "INTAKE_WEB_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_NEW_VISITORS_PER_MINUTE": "1000000",
            "INTAKE_WEB_ADDRESS_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_TOTAL_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_NOTIFY": "",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "web"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient() as probe:
                for _ in range(200):
                    try:
                        await probe.get(f"{base}/static/chat.css")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
            started_mb = _peak_memory_mb(server.pid)
            latencies: list[float] = []
            began = time.perf_counter()
            await asyncio.gather(*(patient(base, args.screenings, latencies) for _ in range(args.patients)))
            elapsed = time.perf_counter() - began
            peak_mb = _peak_memory_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    ms = sorted(x * 1000 for x in latencies)
    pct = statistics.quantiles(ms, n=100)
    print(f"patients {args.patients} at once, {args.screenings} screenings each, {len(ms)} answers")
    print(f"throughput   {len(ms) / elapsed:.1f} answers/s ({elapsed:.1f} s)")
    print(
        f"per answer   p50 {pct[49]:.0f} ms  p95 {pct[94]:.0f} ms  p99 {pct[98]:.0f} ms  max {ms[-1]:.0f} ms"
    )
    print(f"server peak  {peak_mb:.0f} MB (after start-up {started_mb:.0f} MB)")
    base = sorted(x * 1000 for x in base_ms)
    print(
        f"baseline     engine alone, {args.patients} screenings, 4 threads: "
        f"{len(base) / base_elapsed:.1f} turns/s, p50 {statistics.median(base):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
