"""`intake telegram --webhook URL` as a real process: the fake Bot API posts each update to it,
as Telegram does, until it is answered 200."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import stat
from pathlib import Path

import httpx

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.ports import free_port
from bot.testing.telegram_harness import COORDINATOR, TelegramUser
from storage.models import Answer, ProcessedInput, Referral, Screening
from tests.conftest import LIKELY_B1
from tests.test_processes import get_when_up
from tests.test_telegram_process import PATIENT, _rows, bot_process

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Webhook:
    """Where the bot listens for Telegram's posts, and the arguments that make it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/telegram"
        self.args = ("telegram", "--webhook", self.url)
        self.env = {"INTAKE_TELEGRAM_WEBHOOK_PORT": str(self.port)}

    async def up(self, tg: FakeTelegram) -> None:
        """Once Telegram has been told where to post and the route answers."""
        await tg.wait_for(lambda: bool(tg.calls_to("setWebhook")), timeout=30, what="setWebhook")
        await asyncio.to_thread(get_when_up, self.url)  # a GET: 405, but it listens


def _secret(data_dir: Path) -> str:
    return (data_dir / "telegram-webhook.secret").read_text().strip()


async def test_by_webhook_a_whole_screening_flows_and_telegram_is_given_the_secret(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    hook = Webhook()
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path / "data", log, hook.args, **hook.env):
            await hook.up(tg)
            await user.command("start")
            for answer in LIKELY_B1.values():
                await user.say(answer)
            await user.tap("confirm")
            [card] = await tg.wait_for_messages(COORDINATOR, 1, timeout=30)
            base = hook.url.removesuffix("/telegram")
            async with httpx.AsyncClient(base_url=base) as watcher:
                assert (await watcher.get("/healthz")).text == "ok\n"
                assert (await watcher.get("/readyz")).text == "ok\n"
                metrics = (await watcher.get("/metrics")).text
                proxied = await watcher.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"})
        [referral] = _rows(tmp_path / "data", Referral)
        assert f"Referral {referral.id}" in card["text"]
        assert [a.question_id for a in _rows(tmp_path / "data", Answer)] == list(LIKELY_B1)
        assert not tg.calls_to("getUpdates"), "by webhook, never by polling"
        assert {status for _, status in tg.webhook_posts} == {200}
        [call] = tg.calls_to("setWebhook")
    secret_file = tmp_path / "data" / "telegram-webhook.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert call.params["url"] == hook.url
    assert call.params["secret_token"] == _secret(tmp_path / "data")
    assert len(call.params["secret_token"]) >= 32
    turns = re.search(r'^intake_turns_total\{channel="telegram"\} (\S+)$', metrics, re.M)
    assert turns and float(turns[1]) >= len(LIKELY_B1)
    assert re.search(r'^intake_notifications_waiting\{status="pending"\} 0', metrics, re.M), "the card went"
    assert proxied.status_code == 404, "metrics are for the watchers only"
    text = log.read_text()
    assert f"created the Telegram webhook's secret in {secret_file}" in text
    assert call.params["secret_token"] not in text, "the secret is not printed"


async def test_a_forged_or_missing_secret_gets_403_and_changes_nothing(tmp_path: Path) -> None:
    hook = Webhook()
    async with FakeTelegram() as tg:
        with bot_process(tg, tmp_path, None, hook.args, **hook.env):
            await hook.up(tg)
            update = {
                "update_id": 9999,
                "message": {
                    "message_id": 1,
                    "date": 1_700_000_000,
                    "chat": {"id": PATIENT, "type": "private", "first_name": "Test"},
                    "from": {"id": PATIENT, "is_bot": False, "first_name": "Test", "language_code": "en"},
                    "text": "/start",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                },
            }
            async with httpx.AsyncClient() as client:
                forged = await client.post(hook.url, json=update, headers={SECRET_HEADER: "guessed"})
                missing = await client.post(hook.url, json=update)
                assert (forged.status_code, missing.status_code) == (403, 403)
                assert _rows(tmp_path, ProcessedInput) == [] and _rows(tmp_path, Screening) == []
                assert tg.messages_to(PATIENT) == []
                # The same update with the secret is taken: the forged ones used up nothing.
                genuine = await client.post(hook.url, json=update, headers={SECRET_HEADER: _secret(tmp_path)})
            assert genuine.status_code == 200
            assert tg.messages_to(PATIENT), "answered, and before the 200"
            assert [p.key for p in _rows(tmp_path, ProcessedInput)] == ["telegram:9999"]


async def test_the_same_update_delivered_twice_is_handled_once(tmp_path: Path) -> None:
    hook = Webhook()
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path, None, hook.args, **hook.env):
            await hook.up(tg)
            await user.command("start")
            await user.say(LIKELY_B1["consent_storage"])
            sent = len(tg.calls_to("sendMessage"))
            answer_update = tg.webhook_posts[-1][0]
            tg.redeliver(answer_update)
            await tg.wait_for(
                lambda: tg.webhook_posts.count((answer_update, 200)) == 2, timeout=30, what="the repeat taken"
            )
            assert len(tg.calls_to("sendMessage")) == sent, "no reply to the repeat"
            await user.say(LIKELY_B1["consent_contact"])
        answers = [a.question_id for a in _rows(tmp_path, Answer)]
        assert answers == ["consent_storage", "consent_contact"], "each answer once, where it belongs"


async def test_killed_before_an_update_is_committed_telegram_delivers_it_again(tmp_path: Path) -> None:
    """The 200 comes only once the update is handled: a process killed before that is never
    acknowledged, so Telegram posts the update again, to whoever listens next."""
    hook = Webhook()
    async with FakeTelegram() as tg:
        user = TelegramUser(tg, PATIENT)
        with bot_process(tg, tmp_path, None, hook.args, **hook.env) as process:
            await hook.up(tg)
            await user.command("start")
            posted = len(tg.webhook_posts)
            # Another writer holds the database: the answer can be read but not committed.
            with sqlite3.connect(tmp_path / "intake.db", isolation_level=None) as holder:
                holder.execute("BEGIN IMMEDIATE")
                answer_update = tg.send_text(PATIENT, LIKELY_B1["consent_storage"])
                await tg.wait_for(lambda: tg.posting == answer_update, timeout=30, what="the post")
                process.send_signal(signal.SIGKILL)
                await tg.wait_for(lambda: len(tg.webhook_posts) > posted, timeout=30, what="no answer")
                holder.execute("ROLLBACK")
            assert {s for u, s in tg.webhook_posts[posted:] if u == answer_update} <= {None, 500}
            assert _rows(tmp_path, Answer) == []
        with bot_process(tg, tmp_path, None, hook.args, **hook.env):
            await tg.wait_for(
                lambda: (answer_update, 200) in tg.webhook_posts, timeout=30, what="delivered again"
            )
        assert [a.question_id for a in _rows(tmp_path, Answer)] == ["consent_storage"]


async def test_an_update_that_failed_gets_500_and_telegram_delivers_it_again(tmp_path: Path) -> None:
    """In a group the bot points to a private chat; Telegram failing that reply fails the update,
    which is not acknowledged, and the next delivery of it is answered."""
    group = -100123
    hook = Webhook()
    async with FakeTelegram() as tg:
        with bot_process(tg, tmp_path, None, hook.args, **hook.env):
            await hook.up(tg)
            tg.fail("sendMessage", "500", chat_id=group)
            update_id = tg.send_text(PATIENT, "hello", chat_id=group, chat_type="group")
            [pointer] = await tg.wait_for_messages(group, 1, timeout=30)
            await tg.wait_for(lambda: (update_id, 200) in tg.webhook_posts, timeout=30, what="acknowledged")
        assert [s for u, s in tg.webhook_posts if u == update_id] == [500, 200]
        assert "t.me/" in pointer["text"]
