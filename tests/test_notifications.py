"""Referrals reach the study team wherever it is: a Telegram chat, an email inbox, a WeCom group.

Real destinations on loopback: the fake Bot API, an SMTP server (aiosmtpd), and an HTTP server
playing WeCom's group robot. Nothing is lost when one of them fails, and none holds back another.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlmodel import select
from telegram import Bot

from bot.config import Settings
from bot.destinations import DestinationError, parse_destinations
from bot.notifications import Notifier
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.ports import free_port
from bot.testing.telegram_harness import COORDINATOR, running, settings_for
from bot.wiring import build_engine, build_notifier
from dialogs.engine import Engine
from storage.models import AuditEvent, Notification, Referral
from tests.conftest import LIKELY_B1, Person
from tests.test_telegram import _referred

NAME, PHONE = "Li Wei", "+8613812345678"
WEBHOOK_KEY = "b1d0e5c0-secret-robot-key"


# Destinations on loopback ----------------------------------------------------------


@dataclass
class Inbox:
    """What an SMTP server on loopback received; addresses in `refuse` are refused (550)."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["X-Envelope-To"]]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()  # aiosmtpd's controller cannot start on port 0
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Robot:
    """A WeCom group robot's webhook: records what is posted; `status`/`errcode` make it fail."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    errcode: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.query.get("key") != WEBHOOK_KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        if self.status != 200:
            return web.Response(status=self.status)
        if self.errcode:
            return web.json_response({"errcode": self.errcode, "errmsg": "refused"})
        self.posts.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts(self) -> list[str]:
        return [post["text"]["content"] for post in self.posts]


@pytest.fixture
async def robot() -> AsyncIterator[Robot]:
    webhook = Robot()
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", webhook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    webhook.url = f"wecom+http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WEBHOOK_KEY}"
    try:
        yield webhook
    finally:
        await runner.cleanup()


def _settings(tg: FakeTelegram, tmp_path: Path, smtp_port: int, **overrides: Any) -> Settings:
    return settings_for(
        tg,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        smtp_from="bot@hospital.example",
        **overrides,
    )


def _refer(engine: Engine, who: str = "p1") -> str:
    person = Person(engine, who)
    person.start()
    person.answer_all(LIKELY_B1)
    return str(person.stored()["referral"]["id"])


def _rows(engine: Engine, table: Any) -> list[Any]:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


def _statuses(engine: Engine) -> dict[str, str]:
    return {n.destination: n.status for n in _rows(engine, Notification) if n.kind == "referral"}


@asynccontextmanager
async def notifying(tg: FakeTelegram, settings: Settings) -> AsyncIterator[tuple[Engine, Notifier]]:
    """An engine whose referrals are planned as notifications, and a notifier with a bot of its own."""
    engine = build_engine(settings)
    async with Bot(tg.token, base_url=f"{tg.root}/bot") as bot:
        yield engine, build_notifier(settings, engine, bot)


async def _deliver(notifier: Notifier, rounds: int = 1) -> None:
    for _ in range(rounds):
        await notifier.deliver_due()


# Where referrals go ------------------------------------------------------------


async def test_a_telegram_referral_reaches_a_chat_an_inbox_and_a_webhook_each_at_its_level(
    tmp_path: Path, inbox: tuple[Inbox, int], robot: Robot
) -> None:
    mail, port = inbox
    async with FakeTelegram() as tg:
        notify = f"telegram:{COORDINATOR} mailto:team@hospital.example {robot.url}"
        settings = _settings(tg, tmp_path, port, notify=notify, public_url="https://intake.example.org/")
        async with running(settings) as (_, engine):
            await _referred(tg, engine, 1001)
            await tg.wait_for(
                lambda: set(_statuses(engine).values()) == {"sent"}, timeout=20, what="all sent"
            )
    (referral,) = _rows(engine, Referral)

    [card] = tg.messages_to(COORDINATOR)
    assert referral.id in card["text"] and NAME in card["text"] and PHONE in card["text"]
    assert "Diabetes" in card["text"], "the full card carries the answers"
    assert tg.buttons(card), "with the buttons that record a call"

    [email] = mail.to("team@hospital.example")
    body = email.get_payload(decode=True).decode()
    assert email["Subject"] == f"New referral {referral.id} for NCT07295067"
    assert email["From"] == "bot@hospital.example"
    assert f"https://intake.example.org/coordinator/referrals/{referral.id}" in body
    assert "May be a candidate" in body
    [post] = robot.texts()
    assert referral.id in post and f"coordinator/referrals/{referral.id}" in post
    for notice in (body, post, email["Subject"]):
        assert NAME not in notice and PHONE not in notice and "Diabetes" not in notice, "no health data"

    sent = [e for e in _rows(engine, AuditEvent) if e.action == "notification_sent"]
    assert sorted(e.detail["detail"] for e in sent) == ["card", "notice", "notice"], (
        "every disclosure audited"
    )
    stored = {n.destination for n in _rows(engine, Notification)}
    assert not any(WEBHOOK_KEY in d for d in stored), "the webhook's key is never stored"


def test_a_console_referral_reaches_the_inbox_without_any_telegram(
    tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    from tests.test_processes import intake

    mail, port = inbox
    answers = "".join(v + "\n" for v in LIKELY_B1.values()) + "1\n"
    env = {
        "INTAKE_NOTIFY": "mailto:team@hospital.example",
        "INTAKE_SMTP_HOST": "127.0.0.1",
        "INTAKE_SMTP_PORT": str(port),
        "INTAKE_SMTP_SECURITY": "none",
        "INTAKE_DELIVERY_INTERVAL": "0.2",
    }
    result = intake(tmp_path, "chat", "--lang", "en", stdin=answers, env=env)
    assert result.returncode == 0, result.stderr
    assert "Your reference is" in result.stdout
    reference = result.stdout.split("Your reference is ")[1][:12]
    [email] = mail.to("team@hospital.example")
    assert reference in email["Subject"]


def test_intake_deliver_sends_what_a_channel_left(tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    """A deployment with no channel process up: `intake deliver` sends the waiting notifications."""
    import subprocess
    import sys
    import time

    from tests.test_processes import ROOT, _env

    mail, port = inbox
    env = {
        **_env(tmp_path),
        "INTAKE_NOTIFY": "mailto:team@hospital.example",
        "INTAKE_SMTP_HOST": "127.0.0.1",
        "INTAKE_SMTP_PORT": str(port),
        "INTAKE_SMTP_SECURITY": "none",
    }
    settings = Settings(_env_file=None, data_dir=tmp_path, notify="mailto:team@hospital.example")  # type: ignore[call-arg]
    reference = _refer(build_engine(settings))
    assert mail.messages == [], "nothing sent it yet"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "deliver"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not mail.messages and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    [email] = mail.to("team@hospital.example")
    assert reference in email["Subject"], stderr


# Failures stay with their own notification -------------------------------------------


async def test_a_migrated_group_a_blocked_chat_and_a_refused_address_hold_back_nobody(
    tmp_path: Path, inbox: tuple[Inbox, int], robot: Robot
) -> None:
    mail, port = inbox
    async with FakeTelegram() as tg:
        old_group, new_group, blocked = -1001, -100777, 9002
        tg.migrated[old_group] = new_group
        tg.blocked.add(blocked)
        mail.refuse.add("gone@hospital.example")
        notify = (
            f"telegram:{old_group} telegram:{blocked} mailto:gone@hospital.example "
            f"mailto:team@hospital.example {robot.url}"
        )
        settings = _settings(tg, tmp_path, port, notify=notify, alert_to="mailto:ops@hospital.example")
        async with notifying(tg, settings) as (engine, notifier):
            references = [_refer(engine, f"p{n}") for n in range(3)]
            await _deliver(notifier, rounds=2)  # the second round follows the migration at once

    statuses = [(n.destination, n.status) for n in _rows(engine, Notification) if n.kind == "referral"]
    sent = {d for d, s in statuses if s == "sent"}
    failing = {d for d, s in statuses if s == "failing"}
    assert sent == {f"telegram:{new_group}", "mailto:team@hospital.example", parse(robot.url).name}
    assert failing == {f"telegram:{blocked}", "mailto:gone@hospital.example"}
    assert len(tg.messages_to(new_group)) == 3 and len(mail.to("team@hospital.example")) == 3
    assert len(robot.posts) == 3
    assert tg.messages_to(old_group) == []
    # A refusing destination is tried once, and what else waits for it waits with it, in order.
    blocked_tries = [c for c in tg.calls_to("sendMessage") if c.params["chat_id"] == blocked]
    assert len(blocked_tries) == 1
    waiting = [n for n in _rows(engine, Notification) if n.destination == f"telegram:{blocked}"]
    assert (
        len({n.next_attempt_at for n in waiting}) == 1 and [n.status for n in waiting].count("failing") == 1
    )

    # The operator hears once per refusing destination and once about the migration, without health data.
    alerts = mail.to("ops@hospital.example")
    subjects = [str(a["Subject"]).strip() for a in alerts]
    assert subjects.count("A notification cannot be delivered") == 2, subjects
    assert subjects.count("A Telegram group became a supergroup: update INTAKE_NOTIFY") == 1
    bodies = "\n".join(a.get_payload(decode=True).decode() for a in alerts)
    assert (
        "Forbidden" in bodies
        and "SMTP: the recipient was refused" in bodies
        and "intake deliveries" in bodies
    )
    assert str(new_group) in bodies and references[0] in bodies
    assert NAME not in bodies and PHONE not in bodies


async def test_a_transient_failure_is_retried_and_a_refusal_retried_slowly(
    tmp_path: Path, inbox: tuple[Inbox, int], robot: Robot
) -> None:
    _, port = inbox
    async with FakeTelegram() as tg:
        settings = _settings(tg, tmp_path, port, notify=robot.url, failing_retry_interval=3600)
        engine = build_engine(settings)
        notifier = build_notifier(settings, engine, None)
        _refer(engine)
        robot.status = 502
        await _deliver(notifier)
        [n] = _rows(engine, Notification)
        assert (n.status, n.attempts, n.last_error) == ("pending", 1, "webhook: HTTP 502")
        assert (n.next_attempt_at - n.created_at).total_seconds() < 10, "retried soon"
        robot.status = 200
        await _deliver(notifier)
        assert robot.posts == [], "not before its time"
        _due_now(engine)
        await _deliver(notifier)
        assert len(robot.posts) == 1 and [n.status for n in _rows(engine, Notification)] == ["sent"]

        _refer(engine, "p2")
        robot.errcode = 93000  # the robot was removed from the group
        await _deliver(notifier)
        failing = [n for n in _rows(engine, Notification) if n.status == "failing"]
        assert len(failing) == 1 and failing[0].last_error == "webhook: errcode 93000"
        assert (failing[0].next_attempt_at - failing[0].created_at).total_seconds() > 3000, "slowly"
        robot.errcode = 0
        _due_now(engine)
        await _deliver(notifier)
        assert len(robot.posts) == 2, "a refused notification arrives once the destination is fixed"


@asynccontextmanager
async def delivering(notifier: Notifier) -> AsyncIterator[None]:
    """The notifier's loop running, as in a long-running process."""
    task = asyncio.create_task(notifier.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _card_order(tg: FakeTelegram, references: list[str]) -> list[str]:
    """Which referral each card in the coordinator chat is about, in the order they arrived."""
    texts = [msg["text"] for msg in tg.messages_to(COORDINATOR)]
    return [next(r for r in references if r in text) for text in texts]


async def test_one_transient_failure_gives_the_rest_of_its_batch_back_at_once(tmp_path: Path) -> None:
    """Cards are claimed in batches for two minutes. One that fails for a moment waits its short
    backoff; the cards claimed with it wait with it, in order, and not for the batch's claim. A
    card made meanwhile waits behind them."""
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path, delivery_interval=0.2)
        async with notifying(tg, settings) as (engine, notifier):
            references = [_refer(engine, f"p{n}") for n in range(4)]
            tg.fail("sendMessage", "500", chat_id=COORDINATOR)  # the first card, once
            began = asyncio.get_running_loop().time()
            async with delivering(notifier):
                await tg.wait_for(lambda: _rows(engine, Notification)[0].attempts == 1, what="the failure")
                references.append(await asyncio.to_thread(_refer, engine, "p4"))  # within its backoff
                await tg.wait_for(
                    lambda: len(tg.messages_to(COORDINATOR)) == 5, timeout=30, what="every card"
                )
            took = asyncio.get_running_loop().time() - began
    assert _card_order(tg, references) == references, "in order: the newer card overtakes none"
    assert took < 10, f"{took:.1f} s: the failed card's backoff (2 s), not the batch's 2-minute claim"


async def test_a_destination_that_comes_back_gets_its_waiting_cards_first_and_soon(tmp_path: Path) -> None:
    """A chat that refused (the bot was removed) waits an hour between tries. When it comes back,
    the next card is the moment to try again: the one refused goes first, then the new one."""
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path, delivery_interval=0.2, failing_retry_interval=3600)
        async with notifying(tg, settings) as (engine, notifier):
            tg.blocked.add(COORDINATOR)
            refused = _refer(engine, "p1")
            await _deliver(notifier)
            assert _statuses(engine) == {f"telegram:{COORDINATOR}": "failing"}
            tg.blocked.discard(COORDINATOR)  # the bot is back in the chat
            async with delivering(notifier):
                newer = _refer(engine, "p2")
                began = asyncio.get_running_loop().time()
                await tg.wait_for(
                    lambda: len(tg.messages_to(COORDINATOR)) == 2, timeout=30, what="both cards"
                )
                took = asyncio.get_running_loop().time() - began
    assert _card_order(tg, [refused, newer]) == [refused, newer], "the refused card is not overtaken"
    assert took < 5, f"{took:.1f} s"


def _due_now(engine: Engine) -> None:
    with engine.store.transaction() as records:
        for n in records.notifications(("pending", "failing")):
            n.next_attempt_at = n.created_at
            records.session.add(n)


# Withdrawn after it went out ----------------------------------------------------------


async def test_an_erased_person_s_card_is_edited_to_say_withdrawn_and_the_notices_follow(
    tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    mail, port = inbox
    async with FakeTelegram() as tg:
        settings = _settings(
            tg, tmp_path, port, notify=f"telegram:{COORDINATOR} mailto:team@hospital.example"
        )
        async with notifying(tg, settings) as (engine, notifier):
            reference = _refer(engine)
            await _deliver(notifier)
            assert NAME in tg.messages_to(COORDINATOR)[0]["text"]
            person = Person(engine, "p1")
            person.command("delete")
            person.tap("yes")
            await _deliver(notifier)
    [card] = tg.messages_to(COORDINATOR)
    assert card["text"] == f"<b>Referral {reference} was withdrawn: the person had their data erased.</b>"
    assert not tg.buttons(card), "the answers and the buttons leave the chat"
    subjects = [str(m["Subject"]).strip() for m in mail.to("team@hospital.example")]
    assert subjects == [
        f"New referral {reference} for NCT07295067",
        f"Referral {reference} was withdrawn: the person had their data erased.",
    ]


async def test_a_withdrawal_before_the_card_went_out_sends_nothing(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path)
        async with notifying(tg, settings) as (engine, notifier):
            _refer(engine)
            person = Person(engine, "p1")
            person.command("delete")
            person.tap("yes")
            await _deliver(notifier)
    assert tg.messages_to(COORDINATOR) == []
    assert [(n.status, n.last_error) for n in _rows(engine, Notification)] == [("cancelled", "withdrawn")]


# Two processes, one notification -------------------------------------------------------


class _Recording:
    """A destination that takes `seconds` to accept a notification, and records each it got."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def send(self, target: str, message: Any) -> str | None:
        await asyncio.sleep(self.seconds)
        with self.lock:
            self.sent.append((target, message.card.title))
        return None

    async def edit(self, target: str, sent_ref: str, message: Any) -> bool:
        return False


def _in_threads(work: Callable[[Notifier], None], notifiers: list[Notifier]) -> list[BaseException]:
    """`work` for each notifier in a thread of its own (as separate processes would), all at once;
    what any of them raised."""
    errors: list[BaseException] = []

    def run(notifier: Notifier) -> None:
        try:
            work(notifier)
        except BaseException as error:  # what the tests look for
            errors.append(error)

    threads = [threading.Thread(target=run, args=(notifier,)) for notifier in notifiers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_workers_never_send_the_same_notification(database_url: str, tmp_path: Path) -> None:
    """On PostgreSQL claims skip rows another worker holds (FOR UPDATE SKIP LOCKED); on SQLite
    they queue. Either way each notification goes out exactly once."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, database_url=database_url, notify="telegram:1 telegram:2"
    )
    engine = build_engine(settings)
    for n in range(15):
        _refer(engine, f"p{n}")
    sender = _Recording(seconds=0.01)

    # Three processes' worth: each its own engine and connection pool (built here: migrations are
    # not for threads), each notifier delivering from a thread of its own.
    notifiers = [build_notifier(settings, build_engine(settings), None) for _ in range(3)]

    def worker(notifier: Notifier) -> None:
        notifier.senders["telegram"] = sender
        for _ in range(5):
            asyncio.run(notifier.deliver_due())

    assert _in_threads(worker, notifiers) == []
    assert len(sender.sent) == 30 and len(set(sender.sent)) == 30, "30 notifications, each sent once"
    assert {n.status for n in _rows(engine, Notification)} == {"sent"}


def test_a_batch_slower_to_send_than_its_lease_is_still_sent_once(database_url: str, tmp_path: Path) -> None:
    """A slow destination (a mail server taking its time) can outlast the lease of the batch a
    sender claimed; another sender then claims the rest. Each claim is renewed before its
    notification is sent, so the first sender stops where the second took over: once each."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, database_url=database_url, notify="telegram:1"
    )
    engine = build_engine(settings)
    for n in range(12):
        _refer(engine, f"p{n}")
    sender = _Recording(seconds=0.15)  # twelve take 1.8 s; a claim lasts 1 s, several sends

    def waiting() -> int:
        with engine.store.transaction() as records:
            backlog = records.backlog()
        return backlog["pending"] + backlog["failing"]

    notifiers = [build_notifier(settings, build_engine(settings), None) for _ in range(2)]

    def worker(notifier: Notifier) -> None:
        notifier.senders["telegram"] = sender
        notifier.lease = 1.0
        deadline = time.monotonic() + 30
        while waiting() and time.monotonic() < deadline:
            asyncio.run(notifier.deliver_due())

    assert _in_threads(worker, notifiers) == []
    assert len(sender.sent) == 12 and len(set(sender.sent)) == 12, "12 notifications, each sent once"
    assert {n.status for n in _rows(engine, Notification)} == {"sent"}


def test_a_claim_skips_what_another_transaction_holds(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time")
    from datetime import timedelta

    from storage.models import utcnow

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, database_url=database_url, notify="telegram:1"
    )
    engine = build_engine(settings)
    for n in range(4):
        _refer(engine, f"p{n}")
    later = utcnow() + timedelta(seconds=5)
    with engine.store.transaction() as first:
        held = first.claim_notifications(later, 60, ("telegram",), limit=2)
        other = build_engine(settings)
        with other.store.transaction() as second:  # would wait for `first` without SKIP LOCKED
            second.session.exec(text("SET LOCAL lock_timeout = '2s'"))  # type: ignore[call-overload]
            taken = second.claim_notifications(later, 60, ("telegram",))
    assert len(held) == 2 and len(taken) == 2
    assert {n.id for n in held}.isdisjoint({n.id for n in taken})


# Configuration ----------------------------------------------------------------------------


def parse(item: str) -> Any:
    [destination] = parse_destinations(item, "INTAKE_NOTIFY")
    return destination


def test_destinations_and_their_detail_levels() -> None:
    assert (parse("telegram:-100222").detail, parse("mailto:a@b.org").detail) == ("card", "notice")
    assert parse("mailto:a@b.org#card").detail == "card"
    webhook = parse(f"wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WEBHOOK_KEY}")
    assert webhook.detail == "notice" and webhook.scheme == "wecom"
    assert WEBHOOK_KEY not in webhook.name and webhook.target.startswith("https://qyapi")
    assert len(parse_destinations("telegram:1, mailto:a@b.org\n telegram:2", "X")) == 3


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("telegram:@group", "a Telegram chat id is a number"),
        ("mailto:nobody", "not an email address"),
        ("https://example.org/hook", "use telegram:, mailto: or wecom+https:"),
        ("wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "ends in ?key="),
        ("mailto:a@b.org#everything", "#card or #notice"),
    ],
)
def test_a_wrong_destination_is_a_clear_error(item: str, says: str) -> None:
    with pytest.raises(DestinationError, match=re.escape(says)):
        parse_destinations(item, "INTAKE_NOTIFY")


def test_a_webhook_key_never_appears_in_an_error() -> None:
    with pytest.raises(DestinationError) as error:
        parse_destinations(f"wecom+https://qyapi.weixin.qq.com/x?key={WEBHOOK_KEY}#all", "INTAKE_NOTIFY")
    assert WEBHOOK_KEY not in str(error.value)


def test_mail_destinations_without_an_smtp_server_are_a_start_up_error(tmp_path: Path) -> None:
    from tests.test_processes import intake

    result = intake(tmp_path, "chat", stdin="", env={"INTAKE_NOTIFY": "mailto:team@hospital.example"})
    assert result.returncode == 2 and "set INTAKE_SMTP_HOST" in result.stderr
    assert "Traceback" not in result.stderr


def test_intake_deliveries_lists_what_is_failing_and_why(tmp_path: Path) -> None:
    from tests.test_processes import intake

    settings = Settings(_env_file=None, data_dir=tmp_path, notify="telegram:-100222")  # type: ignore[call-arg]
    engine = build_engine(settings)
    reference = _refer(engine)
    assert intake(tmp_path, "deliveries").returncode == 0, "waiting is not failing"
    with engine.store.transaction() as records:
        [n] = records.notifications()
        n.status, n.last_error = "failing", "Forbidden: the bot was blocked or removed"
        records.session.add(n)
    listing = intake(tmp_path, "deliveries")
    assert listing.returncode == 1
    assert reference in listing.stdout and "telegram:-100222: Forbidden" in listing.stdout
    assert json.dumps(NAME) not in listing.stdout


async def test_a_redone_screening_replaces_the_card_that_went_out(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path)
        async with notifying(tg, settings) as (engine, notifier):
            first = _refer(engine)
            await _deliver(notifier)
            person = Person(engine, "p1")
            person.command("restart")
            person.tap("yes")
            person.answer_all(LIKELY_B1)
            second = str(person.stored()["referral"]["id"])
            await _deliver(notifier)
    old, new = tg.messages_to(COORDINATOR)
    assert (
        old["text"] == f"<b>Referral {first} is replaced by referral {second}: the person answered again.</b>"
    )
    assert second in new["text"] and f"Replaces referral:</b> {first}" in new["text"]
