"""Guards that a review found could be deleted with the suite still green: each has a test now."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import select
from telegram import Update

import storage.database
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import TelegramUser, running, settings_for
from bot.update_processor import PerChatUpdateProcessor
from storage.crypto import new_key
from storage.database import make_engine, migrate
from storage.models import AuditEvent
from storage.repository import Store
from tests.test_processes import ROOT

PATIENT = 1001


def _update(update_id: int, chat_id: int) -> Update:
    chat = {"id": chat_id, "type": "private"}
    message = {
        "message_id": update_id,
        "date": 0,
        "chat": chat,
        "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
        "text": "x",
    }
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def test_updates_of_one_chat_never_overlap_and_other_chats_go_on() -> None:
    processor = PerChatUpdateProcessor()
    events: list[str] = []
    first_may_end = asyncio.Event()

    async def work(name: str, wait: asyncio.Event | None = None) -> None:
        events.append(f"{name} began")
        if wait is not None:
            await wait.wait()
        events.append(f"{name} ended")

    first = asyncio.create_task(processor.process_update(_update(1, 7), work("chat7-first", first_may_end)))
    await asyncio.sleep(0)
    second = asyncio.create_task(processor.process_update(_update(2, 7), work("chat7-second")))
    other = asyncio.create_task(processor.process_update(_update(3, 8), work("chat8")))
    await other
    assert "chat7-second began" not in events, "the same chat waits for its earlier update"
    assert events[-1] == "chat8 ended", "another chat is not held up"
    first_may_end.set()
    await asyncio.gather(first, second)
    assert events.index("chat7-first ended") < events.index("chat7-second began")


def test_a_bot_token_or_a_configured_secret_in_any_log_line_is_masked() -> None:
    token = "123456789:AAE" + "x" * 32
    code = (
        "import logging\n"
        "from bot.logs import configure_logging\n"
        "configure_logging('DEBUG', secrets=['s3cr3t-value'])\n"
        f"logging.getLogger('httpx').warning('POST https://api.telegram.org/bot%s/sendMessage', {token!r})\n"
        "logging.getLogger('bot.telegram_app').error('refused: %s', 's3cr3t-value')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert "bot<token>/sendMessage" in result.stderr and "refused: <secret>" in result.stderr
    assert token not in result.stderr and "s3cr3t-value" not in result.stderr


async def test_a_tap_that_is_not_used_leaves_its_question_and_buttons_as_they_were(tmp_path: Path) -> None:
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)):
        user = TelegramUser(tg, PATIENT)
        await user.command("start")
        consent = user.last
        (prompt, _), _ = [d.split(":") for _, d in tg.buttons(consent)]
        await user.send(lambda: tg.tap(PATIENT, consent["message_id"], f"{prompt}:maybe"))  # a forged value
        assert tg.calls_to("editMessageText") == [], "a problem reply never marks an answer as chosen"
        assert tg.buttons(tg.messages_to(PATIENT)[1]), "and the question keeps its buttons"


def test_threads_of_one_process_queue_for_sqlite_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SQLite's own busy wait cut to 10 ms, writers of one process must still all succeed:
    they wait on the store's writer lock, not in SQLite's busy handler."""
    monkeypatch.setattr(storage.database, "BUSY_TIMEOUT_MS", 10)
    database = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    migrate(database)
    store = Store.open(database, [new_key()])
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(5):
                with store.transaction() as records:
                    records.audit("test", "write", f"n:{n}")
                    records.session.flush()  # BEGIN IMMEDIATE: this transaction now holds SQLite's write lock
                    time.sleep(0.02)  # and keeps it longer than SQLite would wait
        except BaseException as error:  # any failure is what this test looks for
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.transaction() as records:
        assert len(list(records.session.exec(select(AuditEvent)))) == 30
    database.dispose()
