"""The Telegram bot as a real process, killed with SIGKILL at the worst moments."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot.config import Settings
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import COORDINATOR, TelegramUser
from bot.wiring import open_store
from dialogs import messages as m
from storage.database import make_engine
from storage.models import Answer, Notification, Referral
from tests.conftest import LIKELY_B1

ROOT = Path(__file__).resolve().parent.parent
PATIENT = 1001


@contextmanager
def bot_process(
    tg: FakeTelegram,
    data_dir: Path,
    log: Path | None = None,
    args: tuple[str, ...] = ("telegram",),
    **env_extra: str,
) -> Iterator[subprocess.Popen[bytes]]:
    """`intake telegram` (or `intake *args`) as its own process, its output appended to `log`
    (or discarded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TELEGRAM_"))}
    env |= {
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_ROOT": tg.root,
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_TRIALS": os.environ.get("INTAKE_TRIALS", "nct07295067"),
        "INTAKE_COORDINATOR_CHAT_IDS": str(COORDINATOR),
        "INTAKE_COORDINATOR_LANGUAGE": "en",
        "INTAKE_DELIVERY_INTERVAL": "0.2",
        **env_extra,
    }
    with (log or Path(os.devnull)).open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, cwd=ROOT, stdout=output, stderr=output
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _rows(data_dir: Path, table: type) -> list[Any]:
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    store = open_store(settings, make_engine(settings.database))
    try:
        with store.transaction() as records:
            return list(records.session.exec(select(table)))
    finally:
        store.engine.dispose()


async def test_killed_mid_conversation_every_acknowledged_answer_is_kept(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path) as process:
            await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=30, what="the bot polling")
            await user.command("start")
            for question in ("consent_storage", "consent_contact", "respondent", "age", "diagnosis"):
                await user.say(LIKELY_B1[question])
            assert user.last["text"].startswith("Have you had surgery for syringomyelia?")
            process.send_signal(signal.SIGKILL)
        acknowledged = [(a.question_id, a.value) for a in _rows(tmp_path, Answer)]
        assert acknowledged == [
            ("consent_storage", "yes"),
            ("consent_contact", "yes"),
            ("respondent", "self"),
            ("age", 42),
            ("diagnosis", "yes"),
        ]

        with bot_process(tg, tmp_path):
            replies = await user.say("yes")  # the next answer, to the restarted bot
            assert replies[-1]["text"] == "Was the surgery at least one year ago?"
        assert [a.question_id for a in _rows(tmp_path, Answer)][-1] == "had_surgery"


async def test_killed_after_an_answer_the_lost_question_is_sent_and_a_retyped_answer_does_not_land_on_it(
    tmp_path: Path,
) -> None:
    heart = "Has a doctor told you that you have heart disease?"
    order = list(LIKELY_B1)
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path) as process:
            await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=30, what="the bot polling")
            await user.command("start")
            for question in order[: order.index("diabetes")]:
                await user.say(LIKELY_B1[question])
            assert user.last["text"] == "Do you have diabetes?"
            tg.fail("sendMessage", "500", count=1000, chat_id=PATIENT)  # the patient's replies are lost
            tg.send_text(PATIENT, "no")
            await tg.wait_for(lambda: _current(tmp_path).get("diabetes") == "no", what="the answer committed")
            process.send_signal(signal.SIGKILL)  # after the commit, before any reply got out

        with bot_process(tg, tmp_path):
            attempts = len(tg.calls_to("sendMessage"))
            tg.send_text(PATIENT, "no")  # having seen nothing, the person types it again
            await tg.wait_for(
                lambda: any(
                    c.params.get("text") == m.UNDELIVERED for c in tg.calls_to("sendMessage")[attempts:]
                ),
                timeout=30,
                what="the retyped answer handled",
            )
            assert "heart_disease" not in _current(tmp_path), "never stored against an undelivered question"
            tg.clear_faults()
            await tg.wait_for(lambda: user.last["text"] == heart, timeout=30, what="the question sent again")
            await user.say("no")
            assert _current(tmp_path)["heart_disease"] == "no"


def _current(data_dir: Path) -> dict[str, Any]:
    return {a.question_id: a.value for a in _rows(data_dir, Answer) if a.superseded_at is None}


async def test_killed_between_the_outcome_and_the_delivery_the_referral_still_arrives(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        tg.fail("sendMessage", "500", count=1000, chat_id=COORDINATOR)  # Telegram down for coordinators
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path) as process:
            await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=30, what="the bot polling")
            await user.command("start")
            for answer in LIKELY_B1.values():
                await user.say(answer)
            await user.tap("confirm")
            await tg.wait_for(lambda: _rows(tmp_path, Referral), what="the referral committed")
            process.send_signal(signal.SIGKILL)
        (referral,) = _rows(tmp_path, Referral)
        assert [d.status for d in _rows(tmp_path, Notification)] in ([], ["pending"])
        assert tg.messages_to(COORDINATOR) == []

        tg.clear_faults()
        with bot_process(tg, tmp_path):
            [card] = await tg.wait_for_messages(COORDINATOR, 1, timeout=30)
            assert f"Referral {referral.id}" in card["text"]
            await tg.wait_for(
                lambda: [d.status for d in _rows(tmp_path, Notification)] == ["sent"], what="sent"
            )


async def test_a_whole_screening_at_debug_logs_no_token_name_phone_or_answer(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    name, phone = "Zhangsan Secretname", "+86 139 8765 4321"
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path, log, INTAKE_LOG_LEVEL="DEBUG"):
            await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=30, what="the bot polling")
            await user.command("start")
            for answer in {
                **LIKELY_B1,
                "age": "forty two",
                "contact_name": name,
                "contact_phone": phone,
            }.values():
                await user.say(answer)
            await user.tap("confirm")
            await tg.wait_for_messages(COORDINATOR, 1)
    text = log.read_text(encoding="utf-8")
    assert "DEBUG" in text and "referral" in text, "the log was written, at DEBUG"
    for secret in (tg.token, tg.token.split(":")[1], "Zhangsan", "Secretname", "8765", "forty two"):
        assert secret not in text, f"{secret!r} leaked into the log"


async def test_without_coordinator_chats_the_start_warns_that_referrals_reach_nobody(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    async with FakeTelegram() as tg:
        with bot_process(tg, tmp_path / "data", log, INTAKE_COORDINATOR_CHAT_IDS=""):
            await tg.wait_for(lambda: bool(tg.calls_to("getUpdates")), timeout=30, what="polling")
    assert "no notification destinations" in log.read_text()
    assert "referrals are stored but announced to nobody" in log.read_text()


async def test_make_run_serves_the_web_chat_beside_telegram_and_its_referrals_reach_the_team(
    tmp_path: Path,
) -> None:
    """With a token, `intake` (what `make run` starts) is the Telegram bot and the web chat in
    one process: a screening from a poster's QR code on the web reaches the coordinators'
    Telegram chat, with its campaign source on the card."""
    import httpx

    from bot.testing.ports import free_port
    from tests.conftest import TAPS_B1
    from tests.test_processes import get_when_up
    from tests.test_web import Page, _post, _tap

    port = free_port()
    async with FakeTelegram() as tg:
        with bot_process(tg, tmp_path, None, (), INTAKE_WEB_PORT=str(port), INTAKE_WEB_TAP_SETTLE="0"):
            base = f"http://127.0.0.1:{port}"
            await asyncio.to_thread(get_when_up, f"{base}/static/chat.css")  # the fake API keeps serving
            async with httpx.AsyncClient(base_url=base, follow_redirects=True) as phone:
                page = Page(await phone.get("/?src=poster_beijing&lang=zh"))
                for value in [*TAPS_B1.values(), "confirm"]:
                    page = await (
                        _tap(phone, page, value) if page.buttons() else _post(phone, page, text=value)
                    )
            cards = await tg.wait_for_messages(COORDINATOR, 1, timeout=30)
        assert "poster_beijing" in cards[0]["text"] and TAPS_B1["contact_name"] in cards[0]["text"]
        [referral] = _rows(tmp_path, Referral)
        assert referral.id in cards[0]["text"]
