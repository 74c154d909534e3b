"""The fake Telegram behaves like Telegram for the real python-telegram-bot library."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import time
import warnings
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bot.testing.fake_telegram import FakeTelegram

USER = 4242
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def make_bot(tg: FakeTelegram, token: str | None = None, **request: float) -> Bot:
    return Bot(
        token or tg.token,
        base_url=f"{tg.root}/bot",
        base_file_url=f"{tg.root}/file/bot",
        request=HTTPXRequest(**request) if request else None,
    )


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(tg) as real_bot:
        yield real_bot


KEYBOARD = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Yes", callback_data="answer:yes")],
        [
            InlineKeyboardButton("No", callback_data="answer:no"),
            InlineKeyboardButton("Skip", callback_data="s"),
        ],
    ]
)


async def test_get_me_describes_the_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot, me.first_name) == (tg.bot_id, tg.bot_username, True, "Intake")
    assert me.can_join_groups and not me.can_read_all_group_messages and not me.supports_inline_queries
    assert [call.method for call in tg.calls] == ["getMe", "getMe"]  # Bot.initialize() asks too


async def test_wrong_token_is_unauthorized(tg: FakeTelegram) -> None:
    stranger = make_bot(tg, token="999:WRONG")
    try:
        with pytest.raises(InvalidToken, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.request.shutdown()
    assert tg.calls == []


async def test_unknown_method_is_not_found(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound, match="sendCarrierPigeon"):
        await bot.do_api_request("sendCarrierPigeon", api_kwargs={"chat_id": USER})


async def test_send_message_records_decoded_keyboard(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_text(USER, "hi")  # the user's message takes message_id 1 in the chat
    sent = await bot.send_message(USER, "Are you over 18?", reply_markup=KEYBOARD)
    assert sent.message_id == 2 and sent.chat.id == USER and sent.from_user.id == tg.bot_id
    assert sent.reply_markup == KEYBOARD and sent.text == "Are you over 18?"
    [call] = tg.calls_to("sendMessage")
    assert call.params["chat_id"] == USER
    assert call.params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Yes",
        "callback_data": "answer:yes",
    }
    message = tg.last_message_to(USER)
    assert message is not None and message["text"] == "Are you over 18?"
    assert tg.buttons(message) == [("Yes", "answer:yes"), ("No", "answer:no"), ("Skip", "s")]
    assert tg.messages_to(USER) == [message]


async def test_edit_message_text_and_not_modified(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Question", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("Answered: yes", chat_id=USER, message_id=sent.message_id)
    assert edited.text == "Answered: yes" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard, as on Telegram
    assert [m["text"] for m in tg.messages_to(USER)] == ["Answered: yes"]
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Answered: yes", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=99)
    await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id, reply_markup=KEYBOARD)
    assert len(tg.buttons(tg.messages_to(USER)[0])) == 3


async def test_get_updates_offset_confirms(tg: FakeTelegram, bot: Bot) -> None:
    first, second, third = (tg.send_text(USER, f"m{i}") for i in range(3))
    assert (first, second, third) == (1, 2, 3)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [1, 2, 3]
    assert [u.message.text for u in updates] == ["m0", "m1", "m2"]
    assert tg.pending_updates() == [1, 2, 3]  # fetched but not yet confirmed
    assert [u.update_id for u in await bot.get_updates(offset=2, limit=1)] == [2]
    assert tg.pending_updates() == [2, 3]
    assert await bot.get_updates(offset=4) == ()
    assert tg.pending_updates() == []
    assert [u.update_id for u in await bot.get_updates(offset=0)] == []  # confirmed ones are gone


async def test_command_has_bot_command_entity(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_command(USER, "start", "ref-42", language_code="de")
    [update] = await bot.get_updates()
    assert update.message.text == "/start ref-42"
    assert update.message.parse_entities(["bot_command"]).popitem()[1] == "/start"
    assert update.effective_user.language_code == "de"


async def test_long_poll_waits_for_the_timeout(tg: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 1.5


async def test_long_poll_returns_when_an_update_arrives(tg: FakeTelegram, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        tg.send_text(USER, "wake up")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    assert time.monotonic() - started < 1
    assert [u.message.text for u in updates] == ["wake up"]
    await task


async def test_an_unconfirmed_update_comes_again_and_a_confirmed_one_never(
    tg: FakeTelegram, bot: Bot
) -> None:
    update_id = tg.send_text(USER, "once")
    [fetched] = await bot.get_updates()
    [again] = await bot.get_updates()  # the bot restarted before confirming: Telegram sends it again
    assert again.update_id == fetched.update_id == update_id and again.message.text == "once"
    tg.send_text(USER, "twice")
    assert [u.message.text for u in await bot.get_updates(offset=update_id + 1)] == ["twice"]
    assert [u.message.text for u in await bot.get_updates()] == ["twice"], "confirmed: never again"
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["twice"]


async def test_tap_carries_the_bots_message(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Pick one", reply_markup=KEYBOARD)
    tg.tap(USER, sent.message_id, "answer:no")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert isinstance(query, CallbackQuery) and query.data == "answer:no" and query.from_user.id == USER
    assert query.message.text == "Pick one" and query.message.reply_markup == KEYBOARD
    assert await query.answer()
    assert tg.calls_to("answerCallbackQuery")[0].params["callback_query_id"] == query.id


async def test_every_user_update_deserialises(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_contact(USER, "+491701234567", contact_user_id=USER)
    tg.send_sticker(USER)
    tg.send_photo(USER, caption="look")
    tg.send_document(USER, b"%PDF", file_name="letter.pdf")
    tg.send_location(USER)
    tg.send_video(USER)
    tg.send_voice(USER, b"OggS")
    tg.send_text(-100, "in a group", chat_id=-100, chat_type="group")
    tg.edit_text(USER, 1, "edited")
    updates = await bot.get_updates()
    messages = [u.effective_message for u in updates]
    assert messages[0].contact.user_id == USER and messages[1].sticker.emoji
    assert messages[2].photo[-1].width and messages[2].caption == "look"
    assert messages[3].document.file_name == "letter.pdf" and messages[4].location.latitude
    assert messages[5].video.duration and messages[6].voice.duration == 2
    assert messages[7].chat.type == "group" and messages[7].chat.title
    assert updates[8].edited_message.text == "edited" and updates[8].edited_message.message_id == 1


async def test_commands_per_language(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    assert await bot.set_my_commands([BotCommand("start", "Beginnen")], language_code="de")
    assert [c["description"] for c in tg.commands_for("de")] == ["Beginnen"]
    assert [c["command"] for c in tg.commands_for(None)] == ["start", "help"]
    assert tg.commands_for("fr") == []
    assert [c.description for c in await bot.get_my_commands(language_code="de")] == ["Beginnen"]
    assert tg.calls_to("setMyCommands")[1].params["commands"] == [
        {"command": "start", "description": "Beginnen"}
    ]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start-Now", "bad")])
    assert await bot.delete_my_commands(language_code="de")
    assert tg.commands_for("de") == []


async def test_voice_download(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_voice(USER, b"OggS\x00voice bytes", duration=3)
    [update] = await bot.get_updates()
    file = await update.message.voice.get_file()
    assert file.file_path.startswith(f"{tg.root}/file/bot{tg.token}/voice/file_")
    assert file.file_path.endswith(".oga")
    assert bytes(await file.download_as_bytearray()) == b"OggS\x00voice bytes"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_send_document_and_voice_keep_bytes(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_document(
        USER, b"col1,col2\n1,2\n", filename="screening.csv", caption="Your answers"
    )
    assert sent.document.file_name == "screening.csv" and sent.caption == "Your answers"
    assert tg.documents_to(USER) == [("screening.csv", b"col1,col2\n1,2\n")]
    [call] = tg.calls_to("sendDocument")
    assert call.files["document"] == b"col1,col2\n1,2\n" and call.filenames["document"] == "screening.csv"
    voice = await bot.send_voice(USER, b"OggS bot", duration=4)
    assert voice.voice.duration == 4
    assert tg.calls_to("sendVoice")[0].files["voice"] == b"OggS bot"
    assert bytes(await (await voice.voice.get_file()).download_as_bytearray()) == b"OggS bot"


async def test_fault_429(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail("sendMessage", "429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "too fast")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        retry_after = caught.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after
    assert seconds == 7
    assert tg.messages_to(USER) == []
    await bot.send_message(USER, "fine now")  # the fault was for one call only
    assert len(tg.messages_to(USER)) == 1


async def test_fault_403_500_400_and_blocked(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail("sendMessage", "403", chat_id=USER)
    await bot.send_message(USER + 1, "other chat is unaffected")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")
    tg.fail("sendMessage", "500")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(USER, "x")
    tg.fail("sendMessage", "400")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):  # PTB drops "Bad Request: "
        await bot.send_message(USER, "x")
    tg.fail("sendMessage", "400:message is too long")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x")
    tg.blocked.add(USER)
    with pytest.raises(Forbidden):
        await bot.send_document(USER, b"data", filename="a.txt")
    assert tg.messages_to(USER) == [] and len(tg.calls_to("sendMessage")) == 5


async def test_the_4096_limit_counts_visible_text(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "я" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "<b>" + "&amp;" * 4097 + "</b>", parse_mode="HTML")
    await bot.send_message(USER, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")  # 4096 visible
    await bot.send_message(USER, "😀" * 2048)  # an emoji counts two
    assert len(tg.messages_to(USER)) == 2


async def test_fault_drop(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail("sendMessage", "drop")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(USER, "did it arrive?")
    assert not isinstance(caught.value, TimedOut)
    assert [m["text"] for m in tg.messages_to(USER)] == ["did it arrive?"]
    await bot.send_message(USER, "next")  # the client recovers on a new connection
    assert len(tg.messages_to(USER)) == 2


async def test_fault_delay_times_out(tg: FakeTelegram) -> None:
    tg.fail("sendMessage", "delay:2")
    async with make_bot(tg, read_timeout=0.5) as slow_bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await slow_bot.send_message(USER, "slow")
        assert time.monotonic() - started < 1.5
    assert [m["text"] for m in tg.messages_to(USER)] == ["slow"]


async def test_latency(tg: FakeTelegram, bot: Bot) -> None:
    tg.latency = 0.3
    started = time.monotonic()
    await bot.send_chat_action(USER, "typing")
    assert time.monotonic() - started >= 0.3


async def test_application_echoes_and_confirms_updates(tg: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo: {update.message.text}")

    app = ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot").base_file_url(f"{tg.root}/file/bot")
    application = app.build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        tg.send_text(USER, "hello")
        tg.send_text(USER, "again")
        messages = await tg.wait_for_messages(USER, 2, timeout=5)
        await application.updater.stop()
        await application.stop()
    assert sorted(m["text"] for m in messages) == ["echo: again", "echo: hello"]
    assert [c.method for c in tg.calls[:2]] == ["getMe", "deleteWebhook"]
    assert tg.calls_to("getUpdates")[-1].params["timeout"] == 0
    assert tg.pending_updates() == []


async def test_wait_for_times_out(tg: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match="timed out waiting for a reply"):
        await tg.wait_for(lambda: False, timeout=0.05, what="a reply")


async def test_json_bodies_and_raw_updates(tg: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    url = f"{tg.root}/bot{tg.token}"
    async with aiohttp.ClientSession() as session:
        native = {"chat_id": USER, "text": "native", "reply_markup": markup}
        async with session.post(f"{url}/sendMessage", json=native) as response:
            body = await response.json()
        assert body["ok"] and body["result"]["reply_markup"] == markup
        encoded = {"chat_id": str(USER), "text": "encoded", "reply_markup": json.dumps(markup)}
        async with session.post(f"{url}/sendMessage", json=encoded) as response:
            assert (await response.json())["result"]["chat"]["id"] == USER
        async with session.post(f"{url}/sendMessage", json={"chat_id": USER, "text": " "}) as response:
            assert response.status == 400
        bad_markup = {"chat_id": str(USER), "text": "x", "reply_markup": "{not json"}
        async with session.post(f"{url}/sendMessage", data=bad_markup) as response:
            assert response.status == 400
        async with session.get(f"{tg.root}/file/bot{tg.token}/voice/missing.oga") as response:
            assert response.status == 404
    assert [tg.buttons(m) for m in tg.messages_to(USER)] == [[("Go", "go")], [("Go", "go")]]
    assert tg.calls_to("sendMessage")[1].params["chat_id"] == USER
    assert tg.push_update({"update_id": 10, "message": {"message_id": 1}}) == 10
    assert tg.send_text(USER, "after") == 11
