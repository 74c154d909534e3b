"""What everything that lists costs as the database grows.

    .venv/bin/python -m bench.size [--sizes 1000,100000] [--postgres URL]

Fills a database (a new SQLite file, or a new database on the PostgreSQL server `--postgres`
names, dropped afterwards) with finished screenings by bulk insert, not through the dialog (on
PostgreSQL, `--base` of them from Python and whole copies of those in SQL: `Filler.multiply`):
participants, screenings with every answer stored as the app stores it (what identifies a
person or was typed freely encrypted), consents, 20% referred (with follow-up events), audit
rows and processed update ids. At each size it measures one new patient's turn through
Engine.handle, the console's pages (the referral list's first and a later page, one card, the
call list, the funnel, the audit trail), the CSV export (time and peak memory), `intake
screenings --json` (time and peak memory) and a purge (rolled back, so the next size starts
from the same data), and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import JSON, func, select, text
from sqlmodel import SQLModel

from bench.databases import fresh_database
from bench.engine import ANSWERS, TURNS
from bot.accounts import hash_password
from bot.config import Settings
from bot.web import WebOptions, build_web_app
from bot.web.console import ConsoleOptions
from bot.wiring import build_engine
from dialogs.engine import Address, Engine, Start, Text
from dialogs.trial import Question, Trial
from storage.crypto import Cipher
from storage.funnel import recount
from storage.models import (
    Account,
    Answer,
    AuditEvent,
    Consent,
    Participant,
    ProcessedInput,
    Referral,
    ReferralEvent,
    Screening,
)

TRIAL = "nct07295067"
LOCALES = ("zh_Hans", "en", "zh_Hant", "ru", "es", "ar")
SOURCES = ("poster_beijing", "wechat_post", "clinic_flyer", "radio", None)
# How a referral stands some time after it came in.
FOLLOW_UP = (
    ("pending", 40),
    ("contacted", 20),
    ("booked", 10),
    ("enrolled", 5),
    ("unreachable", 10),
    ("not_eligible_after_call", 5),
    ("declined", 5),
    ("cancelled", 3),
    ("replaced", 2),
)
OUTCOMES = (("likely_eligible", 30), ("needs_review", 20), ("not_eligible", 50))
INPUTS_PER_SCREENING = 17  # update ids a screening leaves in processed_input
SPREAD_DAYS = 360  # screenings began over this many days before now: a first purge takes half
PASSWORD = "bench horse battery staple"
REFERABLE = 0.9 * 0.5  # finished, and not "not eligible": the share of screenings that may be referred


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _value(question: Question, rng: random.Random) -> Any:
    if question.kind == "consent":
        return "yes"
    if question.kind == "number":
        return rng.randint(18, 70)
    if question.kind == "phone":
        return f"+86138{rng.randint(10_000_000, 99_999_999)}"
    if question.kind == "text":
        return rng.choice(("Li Wei", "Wang Fang", "Zhang Min", "Chen Jing"))
    if question.options:
        return rng.choice(question.options).value
    return rng.choice(("yes", "no"))


@dataclass
class Filler:
    """Adds finished screenings to a database by bulk insert, as the app would have stored them."""

    database: Any  # a SQLAlchemy engine
    cipher: Cipher
    trial: Trial
    seed: int = 22
    inputs_per_screening: int = INPUTS_PER_SCREENING
    referred_share: float = 0.2

    def __post_init__(self) -> None:
        self.now = datetime.now(UTC)
        self.questions = [q for q in self.trial.questions]

    def count(self) -> int:
        with self.database.connect() as connection:
            return connection.execute(select(func.count()).select_from(Screening)).scalar_one()

    def fill(self, total: int, batch: int = 2000) -> None:
        """Add screenings until there are `total`."""
        while (have := self.count()) < total:
            self._batch(have, min(batch, total - have))
        if self.database.dialect.name == "postgresql":  # explicit ids: the sequences move past them
            with self.database.begin() as connection:
                for table in ("participant", "screening"):
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                    )

    def multiply(self, total: int) -> None:
        """On PostgreSQL, copy the bench's screenings in SQL until there are about `total` (a
        whole number of copies of what is there): 1,000,000 filled from Python at ~100 a second
        would take hours. Each table's rows are copied with their screening, ids offset by a
        copy's stride: participants, screenings, answers, consents, referrals and their events,
        audit rows and update ids; then the copies are counted in the funnel as the app counts.

        A copy differs from a real row: its encrypted blobs (answers, the channel id, notes) are
        its original's, byte for byte; its keyed channel hash is the original's with ":<its id>"
        after it (no real id hashes to it); its referral id is an md5 of the original's; and it began,
        finished and was referred at its original's moments (the same days and weeks)."""
        assert self.database.dialect.name == "postgresql", "multiplied in PostgreSQL's SQL"
        with self.database.begin() as connection:
            low, high = connection.execute(
                text("SELECT min(id), max(id) FROM screening WHERE id >= 1000000")
            ).one()
            stride = high - low + 1
            copies = round(total / stride) - 1
            if copies < 1:
                return
            new_id = "{id} + k * :stride"
            # Unique across rounds too: a second round copies the first's copies (another stride).
            reference = "substr(md5({id} || ':' || k || ':' || :stride), 1, 12)"
            changed: dict[str, dict[str, str]] = {
                "participant": {"id": new_id, "external_id": "external_id || ':' || (id + k * :stride)"},
                "screening": {"id": new_id, "participant_id": new_id},
                "answer": {"id": "", "screening_id": new_id},
                "consent": {"id": "", "screening_id": new_id},
                "referral": {"id": reference, "screening_id": new_id, "replaces": ""},
                "referral_event": {"id": "", "referral_id": reference},
                "audit_event": {
                    "id": "",
                    "subject": "'screening:' || (substr(subject, 11)::bigint + k * :stride)",
                },
                "processed_input": {
                    "key": "'telegram:' || (split_part(key, ':', 2)::bigint + k * :stride)"
                    " || ':' || split_part(key, ':', 3)"
                },
            }
            mine = {
                "participant": "id >= 1000000",
                "screening": "id >= 1000000",
                "answer": "screening_id >= 1000000",
                "consent": "screening_id >= 1000000",
                "referral": "screening_id >= 1000000",
                "referral_event": "referral_id IN (SELECT id FROM referral WHERE screening_id >= 1000000)",
                "audit_event": "actor = 'bench'",
            }
            for name, overrides in changed.items():
                table = SQLModel.metadata.tables[name]
                columns = [c.name for c in table.columns if overrides.get(c.name, None) != ""]
                values = [overrides[c].format(id=c) if c in overrides else c for c in columns]
                if name == "processed_input":  # only the bench's own, within its screenings' keys
                    screening = (
                        "CASE WHEN key ~ '^telegram:[0-9]+:[0-9]+$' THEN split_part(key, ':', 2)::bigint END"
                    )
                    where = f"{screening} BETWEEN :low AND :high"
                else:
                    where = mine[name]
                connection.execute(
                    text(
                        f"INSERT INTO {name} ({', '.join(columns)}) SELECT {', '.join(values)} "
                        f"FROM {name}, generate_series(1, :copies) AS k WHERE {where}"
                    ),
                    {"stride": stride, "copies": copies, "low": low, "high": high},
                )
            recount(connection, range(high + 1, high + 1 + copies * stride))
            for table in ("participant", "screening", "answer", "consent", "referral_event", "audit_event"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                )

    def _batch(self, first: int, n: int) -> None:
        # A batch's own stream of chance: another filler, or this one again, makes other rows.
        rng, seal = random.Random(f"{self.seed}:{self.trial.registry_id}:{first}"), self.cipher.seal
        rows: dict[Any, list[dict[str, Any]]] = {
            t: [] for t in (Participant, Screening, Answer, Consent, Referral, ReferralEvent, AuditEvent)
        }
        inputs = []
        base = first + 1_000_000  # ids of their own, after whatever the dialog made
        for k in range(n):
            pid = sid = base + k
            began = self.now - timedelta(days=rng.uniform(0, SPREAD_DAYS))
            ended = began + timedelta(minutes=rng.uniform(3, 30))
            status = "finished" if rng.random() < 0.9 else "active"
            outcome = _pick(rng, OUTCOMES) if status == "finished" else None
            external = f"bench-{sid}"
            rows[Participant].append(
                {
                    "id": pid,
                    "channel": "telegram",
                    "external_id": self.cipher.lookup(f"telegram:{external}"),
                    "ref": seal(external),
                    "created_at": began,
                }
            )
            answered = self.questions if status == "finished" else self.questions[: rng.randint(0, 8)]
            rows[Screening].append(
                {
                    "id": sid,
                    "participant_id": pid,
                    "trial_id": self.trial.registry_id,
                    "locale": rng.choice(LOCALES) if rng.random() < 0.98 else None,
                    "source": rng.choice(SOURCES),
                    "state": "done" if status == "finished" else self.questions[len(answered)].id,
                    "status": status,
                    "editing": False,
                    "read_aloud": False,
                    "prompt_seq": len(answered),
                    "delivered_seq": len(answered),
                    "outcome": outcome,
                    "reasons": ["diabetes"] if outcome == "not_eligible" else [],
                    "uncertain": ["serology"] if outcome == "needs_review" else [],
                    "started_at": began,
                    "updated_at": ended,
                    "finished_at": ended if status == "finished" else None,
                }
            )
            for question in answered:
                value = _value(question, rng)
                typed = question.private or rng.random() < 0.3
                rows[Answer].append(
                    {
                        "screening_id": sid,
                        "question_id": question.id,
                        "value": None if question.private else value,
                        "sealed": seal(value) if question.private else None,
                        "raw": seal(str(value)) if typed else None,
                        "via": "text" if typed else "tap",
                        "read_back": False,
                        "answered_at": began,
                    }
                )
                if question.scope is not None:
                    rows[Consent].append(
                        {
                            "screening_id": sid,
                            "scope": question.scope,
                            "version": self.trial.consent_version,
                            "granted": rng.random() < 0.97,
                            "locale": "en",
                            "text_hash": "0" * 64,
                            "given_at": began,
                        }
                    )
            for n_input in range(self.inputs_per_screening):
                inputs.append({"key": f"telegram:{sid}:{n_input}", "at": began})
            rows[AuditEvent].append(
                {
                    "at": ended,
                    "actor": "bench",
                    "action": "viewed_referral",
                    "subject": f"screening:{sid}",
                    "detail": {},
                }
            )
            if outcome not in (None, "not_eligible") and rng.random() < self.referred_share / REFERABLE:
                reference = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
                step = _pick(rng, FOLLOW_UP)
                rows[Referral].append(
                    {
                        "id": reference,
                        "screening_id": sid,
                        "trial_id": self.trial.registry_id,
                        "outcome": outcome,
                        "status": step,
                        "created_at": ended,
                        "updated_at": ended,
                    }
                )
                if step not in ("pending", "cancelled", "replaced"):
                    rows[ReferralEvent].append(
                        {
                            "referral_id": reference,
                            "at": ended + timedelta(days=1),
                            "actor": "console:bench",
                            "status": step,
                            "note_sealed": seal("called, spoke to her mother"),
                        }
                    )
        with self.database.begin() as connection:
            for model, values in [*rows.items(), (ProcessedInput, inputs)]:
                if values:
                    _insert(connection, model.__table__, values)  # type: ignore[attr-defined]
            recount(connection, range(base, base + n))  # as the app counts them in the funnel


def _insert(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into `table` through the driver's executemany, converted as the column types would
    convert them (SQLAlchemy's own conversion, row by row, took most of the fill's time)."""
    sqlite = connection.dialect.name == "sqlite"
    columns = list(rows[0])
    kinds = {c: "json" if isinstance(table.c[c].type, JSON) else "" for c in columns}
    moments: dict[datetime, str] = {}

    def stored(column: str, value: Any) -> Any:
        if value is None:
            return None
        if kinds[column] == "json":
            return json.dumps(value)
        if isinstance(value, datetime) and sqlite:  # as SQLAlchemy's SQLite DATETIME stores it, in UTC
            if value not in moments:  # a screening's rows share their moments
                moments[value] = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return moments[value]
        return value

    marker = "?" if sqlite else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    connection.exec_driver_sql(sql, [tuple(stored(c, row[c]) for c in columns) for row in rows])


# Measuring ------------------------------------------------------------------------------------


class Console:
    """The console's ASGI app, called directly: a body is counted as it streams, never gathered
    whole (httpx's ASGI transport gathers it, which would measure the bench, not the app)."""

    def __init__(self, app: Any, cookie: str) -> None:
        self.app, self.cookie = app, cookie

    async def get(self, url: str, keep: bool = True) -> tuple[int, bytes, int]:
        path, _, query = url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"intake.test"), (b"cookie", self.cookie.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("intake.test", 80),
        }
        status, body, size = 0, bytearray(), 0

        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:  # the request, once; then, as a client that stays, nothing until the end
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if keep:
                    body.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, bytes(body), size


async def _sign_in(app: Any, engine: Engine) -> str:
    with engine.store.transaction() as records:
        if records.account("bench") is None:
            records.save_account(
                Account(name="bench", role="operator", password_hash=hash_password(PASSWORD))
            )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        form = await client.get("/coordinator/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, "no sign-in form"
        data = {"csrf": csrf[1], "name": "bench", "password": PASSWORD, "code": ""}
        signed = await client.post("/coordinator/login", data=data)
        assert signed.status_code == 303, signed.text
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def _timed(work: Callable[[], Any], budget: float = 20.0, at_most: int = 7) -> tuple[list[float], Any]:
    """Run `work` a few times (at least once, within `budget` seconds): its durations in ms."""
    durations: list[float] = []
    result = None
    spent = 0.0
    while len(durations) < at_most and (not durations or spent < budget):
        began = time.perf_counter()
        result = work()
        durations.append((time.perf_counter() - began) * 1000)
        spent += durations[-1] / 1000
    return durations, result


def _p(durations: list[float], q: float) -> float:
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def _peak_memory() -> Iterator[dict[str, float]]:
    """This process's peak resident memory while the block runs, above what it held before (MiB)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM, the high-water mark, to the current size
    before = _status("VmRSS")
    found: dict[str, float] = {}
    yield found
    found["peak"] = (_status("VmHWM") - before) / 1024


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise LookupError(field)


def _turns(engine: Engine, size: int, people: int = 4) -> list[float]:
    """Whole screenings of new people through Engine.handle: each turn's duration in ms."""
    durations = []
    for n in range(people):
        address = Address("bench", f"size-{size}-{n}")
        message: Start | Text = Start()
        for turn in range(TURNS):
            began = time.perf_counter()
            engine.handle(address, message, locale="en", dedupe_key=f"size-{size}-{n}-{turn}")
            replies = engine.outbox(address)
            engine.sent(address, replies)
            durations.append((time.perf_counter() - began) * 1000)
            asks = next((r.asks for r in reversed(replies) if r.asks), None)
            if asks not in ANSWERS:
                break
            message = Text(ANSWERS[asks])
    return durations


def _command(env: dict[str, str], *args: str) -> tuple[float, float]:
    """`intake …args` with its output thrown away: seconds, and its peak memory in MiB."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"intake {' '.join(args)} failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return elapsed, usage.ru_maxrss / 1024


def measure(
    engine: Engine, settings: Settings, filler: Filler, size: int, env: dict[str, str]
) -> dict[str, str]:
    figures: dict[str, str] = {}
    turns = _turns(engine, size)
    figures["turn p50 / p95"] = f"{_p(turns, 0.5):.1f} / {_p(turns, 0.95):.1f} ms"
    options = WebOptions(
        console=ConsoleOptions(locale="en", timezone="UTC"), console_requests_per_minute=10**6
    )
    app = build_web_app(engine, options=options, deliver=False)
    loop = asyncio.new_event_loop()
    try:
        console = Console(app, loop.run_until_complete(_sign_in(app, engine)))

        def get(url: str, keep: bool = True) -> tuple[int, bytes, int]:
            status, body, size_ = loop.run_until_complete(console.get(url, keep))
            assert status == 200, (url, status, body[:300])
            return status, body, size_

        def page(name: str, url: str) -> bytes:
            durations, (_, body, size_) = _timed(lambda: get(url))
            figures[name] = f"{_p(durations, 0.5):.0f} / {_p(durations, 0.95):.0f} ms, {size_ / 1024:.0f} KiB"
            print(f"  {name}: {figures[name]}", file=sys.stderr, flush=True)
            return body

        first = page("list, first page", "/coordinator/")
        later = "n/a (no paging)"
        url = "/coordinator/"
        body = first
        for _ in range(3):  # the fourth page, by the "next" links
            found = re.search(r'<a rel="next" href="([^"]+)"', body.decode())
            if not found:
                break
            url = found[1].replace("&amp;", "&")
            body = get(url)[1]
        else:
            durations, (_, _, size_) = _timed(lambda: get(url))  # noqa: B023 (run at once)
            later = f"{_p(durations, 0.5):.0f} / {_p(durations, 0.95):.0f} ms, {size_ / 1024:.0f} KiB"
        figures["list, fourth page"] = later
        reference = re.search(r'href="/coordinator/referrals/(\w+)"', first.decode())
        assert reference, "no referral listed"
        page("one card", f"/coordinator/referrals/{reference[1]}")
        page("call list", "/coordinator/calls")
        page("funnel", "/coordinator/funnel")
        page("audit trail", "/coordinator/audit")
        with _peak_memory() as memory:
            durations, (_, _, size_) = _timed(
                lambda: get(f"/coordinator/exports/{TRIAL}/full.csv", keep=False), budget=0, at_most=1
            )
        figures["CSV export (full)"] = (
            f"{durations[0] / 1000:.2f} s, {size_ / 1024:,.0f} KiB, +{memory['peak']:.0f} MiB peak"
        )
    finally:
        loop.close()
    seconds, peak = _command(env, "screenings", "--json")
    figures["intake screenings --json"] = f"{seconds:.1f} s, {peak:.0f} MiB peak"
    figures["purge (rolled back)"] = _purge(engine)
    with engine.store.engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(ProcessedInput)).scalar_one()
    figures["processed_input rows (before the purge)"] = f"{kept:,}"
    return figures


def _purge(engine: Engine) -> str:
    """A purge as `intake purge` runs it (retention 180 days, idle 30), rolled back afterwards."""
    now = datetime.now(UTC)
    began = time.perf_counter()
    with engine.store.transaction() as records:
        purged = records.purge(now - timedelta(days=180), now - timedelta(days=30))
        forgot = records.forget_inputs(now - timedelta(days=1)) if hasattr(records, "forget_inputs") else 0
        elapsed = time.perf_counter() - began
        records.discard()
    return f"{elapsed:.2f} s ({len(purged):,} screenings, {forgot:,} update ids)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000", help="screenings, comma-separated, ascending")
    parser.add_argument("--postgres", help="a PostgreSQL server URL whose role may create databases")
    parser.add_argument(
        "--base",
        type=int,
        default=10_000,
        help="on PostgreSQL, screenings filled from Python before the rest are copied in SQL",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table: dict[int, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as folder, fresh_database(args.postgres, Path(folder), "size") as url:
        env = {**os.environ, "INTAKE_DATA_DIR": folder, "INTAKE_DATABASE_URL": url, "INTAKE_TRIALS": TRIAL}
        settings = Settings(_env_file=None, data_dir=Path(folder), database_url=url, trials=TRIAL)  # type: ignore[call-arg]
        engine = build_engine(settings)
        filler = Filler(engine.store.engine, engine.store.cipher, engine.trials.first)
        for size in sizes:
            began = time.perf_counter()
            have = filler.count()
            if args.postgres and size > args.base:  # a base from Python, copied in SQL
                filler.fill(args.base)
                filler.multiply(size)
            else:
                filler.fill(size)
            rate = (size - have) / (time.perf_counter() - began)
            print(f"filled {size:,} screenings ({rate:,.0f}/s)", file=sys.stderr, flush=True)
            table[size] = {
                "fill rate": f"{rate:,.0f} screenings/s",
                **measure(engine, settings, filler, size, env),
            }
            print(table[size], file=sys.stderr, flush=True)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    rows = list(dict.fromkeys(k for figures in table.values() for k in figures))
    print(f"| {backend} | " + " | ".join(f"{s:,}" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for row in rows:
        print(f"| {row} | " + " | ".join(table[s].get(row, "") for s in sizes) + " |")


if __name__ == "__main__":
    main()
