"""Several instances of the bot on one PostgreSQL, behind round-robin proxies: for
tests/test_instances.py and bench/instances.py.

Two `intake web` and two `intake telegram --webhook` processes, each with a data directory of
its own (nothing shared but the database and the settings), the fake Bot API posting updates
to the webhook proxy, and an SMTP server on loopback receiving the study team's notices. Web
patients open a connection per request, so consecutive requests of one person reach
different instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.likely import ANSWERS
from bot.testing.ports import free_port
from bot.testing.proxy import RoundRobin
from bot.testing.telegram_harness import _ENGINES, TelegramUser
from dialogs.engine import Engine
from dialogs.trial import find_trial
from storage.crypto import new_key
from storage.database import make_engine
from storage.repository import Store

ROOT = Path(__file__).resolve().parents[2]
COORDINATOR = 9001
TEAM = "team@example.org"
SECRET = "instances-webhook-secret"
QUESTIONS = [q for q in ANSWERS if not q.startswith("_") and q != "summary"]


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the PostgreSQL server `server_url` names, dropped afterwards."""
    name = f"intake_instances_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Inbox:
    """The study team's mailbox: an SMTP server on loopback that takes `delay` over each message
    (a slow relay: a notice is in flight, claimed, for that long)."""

    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@dataclass
class Instance:
    kind: str  # "web" or "telegram"
    port: int
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class Cluster:
    """The instances, their proxies and the world around them, until the block ends."""

    def __init__(
        self, database_url: str, workdir: Path, *, settle: float = 0.0, mail_delay: float = 0.05
    ) -> None:
        self.database_url, self.workdir, self.settle = database_url, workdir, settle
        self.inbox = Inbox(mail_delay)
        self.key = new_key()
        self.tg = FakeTelegram()
        self.instances: list[Instance] = []
        self.web: RoundRobin
        self.webhook: RoundRobin

    def _env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TELEGRAM_"))}
        return env | {
            # The same everywhere: the database, its key, the trials, where notices go, the secret.
            "INTAKE_DATABASE_URL": self.database_url,
            "INTAKE_ENCRYPTION_KEY": self.key,
            "INTAKE_TRIALS": "nct07295067",
            "INTAKE_NOTIFY": f"telegram:{COORDINATOR},mailto:{TEAM}",
            "INTAKE_COORDINATOR_CHAT_IDS": str(COORDINATOR),
            "INTAKE_COORDINATOR_LANGUAGE": "en",
            "INTAKE_SMTP_HOST": "127.0.0.1",
            "INTAKE_SMTP_PORT": str(self.smtp_port),
            "INTAKE_SMTP_SECURITY": "none",
            "INTAKE_DELIVERY_INTERVAL": "0.3",
            # Longer than a batch of 20 notices takes on a busy machine: a lease that runs out
            # while its holder is still sending lets another send the rest again.
            "INTAKE_DELIVERY_LEASE": "10",
            "INTAKE_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "INTAKE_WEB_TAP_SETTLE": str(self.settle),
            "INTAKE_WEB_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_NEW_VISITORS_PER_MINUTE": "1000000",
            "INTAKE_WEB_ADDRESS_REQUESTS_PER_MINUTE": "1000000",
            "INTAKE_WEB_TOTAL_REQUESTS_PER_MINUTE": "1000000",
            # Its own: a data directory (nothing on disk is shared), its port.
            "INTAKE_DATA_DIR": str(self.workdir / name),
            "LANG": "C.UTF-8",
        }

    def _start(self, kind: str, number: int) -> Instance:
        port = free_port()
        env = self._env(f"{kind}{number}")
        if kind == "web":
            args, env["INTAKE_WEB_PORT"] = ["web"], str(port)
        else:
            env |= {
                "TELEGRAM_BOT_TOKEN": self.tg.token,
                "TELEGRAM_API_ROOT": self.tg.root,
                "INTAKE_TELEGRAM_WEBHOOK_PORT": str(port),
            }
            args = ["telegram", "--webhook", f"{self.webhook.url}/telegram"]
        log = (self.workdir / f"{kind}{number}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        return Instance(kind, port, process)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Cluster]:
        self.smtp_port = free_port()
        controller = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
        controller.start()
        try:
            async with self.tg, RoundRobin([]) as self.web, RoundRobin([]) as self.webhook:
                # The first migrates the fresh database; the others find it current.
                first = self._start("web", 1)
                self.instances = [first]
                await self._ready(first)
                self.instances += [
                    self._start("web", 2),
                    self._start("telegram", 1),
                    self._start("telegram", 2),
                ]
                for instance in self.instances[1:]:
                    await self._ready(instance)
                self.web.backends[:] = [i.port for i in self.instances if i.kind == "web"]
                self.webhook.backends[:] = [i.port for i in self.instances if i.kind == "telegram"]
                try:
                    yield self
                finally:
                    for instance in self.instances:
                        if instance.process.poll() is None:
                            instance.process.terminate()
                    for instance in self.instances:
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            instance.process.wait(timeout=10)
        finally:
            controller.stop()

    async def _ready(self, instance: Instance) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as probe:
            while True:
                try:
                    if (await probe.get(f"http://127.0.0.1:{instance.port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if instance.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"an instance did not start: see its log in {self.workdir}")
                await asyncio.sleep(0.1)

    def engine(self) -> Engine:
        """The engine on the cluster's database, in this process: what is stored, read as the bot
        reads it; and Telegram patients wait for their outbox to be empty through it."""
        engine = Engine(find_trial("nct07295067"), Store.open(make_engine(self.database_url), [self.key]))
        _ENGINES[self.tg.root] = engine
        return engine

    def of(self, kind: str) -> list[Instance]:
        return [i for i in self.instances if i.kind == kind]


def _asks(html: str) -> str | None:
    found = re.findall(r'data-asks="([^"]*)"', html)
    return unescape(found[-1]) if found else None


def _field(html: str, name: str) -> str:
    found = re.findall(rf'name="{name}" value="([^"]*)"', html)
    return unescape(found[-1]) if found else ""


@dataclass
class WebPatient:
    """Someone answering by typing, through the proxy: a connection per request, so each request
    may reach either instance. What the bot acknowledged (303 after a post) is in `acked`."""

    base: str
    acked: list[str] = field(default_factory=list)
    session: str = ""
    finished: bool = False
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)  # requests that got no answer, by error

    async def run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as browser:
            page = await self._get(browser, "/?lang=en")
            for _ in range(80):  # more than a screening takes: a patient who loops fails
                asks = _asks(page)
                if asks not in ANSWERS:
                    self.finished = "Your reference is" in page
                    return
                form = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": ANSWERS[asks]}
                began = time.perf_counter()
                try:
                    answer = await browser.post("/say", data=form)
                except httpx.TransportError as error:  # its instance died under it: not acknowledged
                    self.failures[type(error).__name__] += 1
                else:
                    if answer.status_code == 303:
                        self.latencies.append(time.perf_counter() - began)
                        self.acked.append(asks)
                page = await self._get(browser, "/")

    async def _get(self, browser: httpx.AsyncClient, url: str) -> str:
        for _ in range(50):
            try:
                response = await browser.get(url, follow_redirects=True)
            except httpx.TransportError as error:
                self.failures[type(error).__name__] += 1
                await asyncio.sleep(0.1)
                continue
            self.session = browser.cookies.get("intake_session", "").partition(".")[0]
            return response.text
        raise RuntimeError("the web chat could not be reached")


async def telegram_patient(tg: FakeTelegram, user_id: int, patience: float = 10) -> None:
    """Someone typing every answer to the bot on Telegram, each once the bot has said all it had
    to (updates reach whichever instance the proxy gives Telegram's post to), then confirming."""
    user = TelegramUser(tg, user_id, patience=patience)
    try:
        await user.command("start")
        for question in QUESTIONS:
            await user.say(ANSWERS[question])
        await user.tap("confirm")
    except (RuntimeError, StopIteration, AssertionError) as error:
        said = [m.get("text", "")[:80] for m in user.messages[-6:]]
        raise AssertionError(
            f"Telegram patient {user_id} went astray; the bot's last words: {said}"
        ) from error
