"""The Telegram channel end to end: the production Application against a local fake Bot API."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot import coordinators, texts
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import COORDINATOR, TelegramUser, running, settings_for
from dialogs import messages as m
from dialogs.engine import Engine, Option, Reply
from dialogs.i18n import translator
from storage.models import Answer, AuditEvent, Notification, Participant, ProcessedInput, Referral
from tests.conftest import B1_VALUES, LIKELY_B1, LIKELY_B1_ZH, Person

PATIENT = 1001
TAPS: dict[str, str] = {
    **{q: str(v) for q, v in B1_VALUES.items()},
    "contact_name": "Li Wei",
    "contact_phone": "+8613812345678",
}


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[FakeTelegram, Engine]]:
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (_, engine):
        yield tg, engine


def _prompt(user: TelegramUser, engine: Engine) -> str | None:
    """Which question the bot's last message asks, by its English text (buttons carry only a prompt id)."""
    text = user.last["text"]
    if text.startswith(m.SUMMARY_INTRO):
        return "summary"
    if text.startswith("You wrote:"):
        return "_confirm"
    t = translator("en", (engine.trial.domain,))
    for question in engine.trial.questions:
        if any(text.startswith(t(variant)) for variant in question.texts):
            return question.id
    return None


async def screen(user: TelegramUser, engine: Engine, answers: dict[str, str], *, by: str) -> list[str]:
    """Answer every question from `answers`, by taps (and the contact button) or by typing."""
    asked: list[str] = []
    while (prompt := _prompt(user, engine)) in answers or prompt in ("summary", "_confirm"):
        if prompt == "summary":
            await user.tap("confirm")
            break
        if prompt == "_confirm":  # an answer read back: it was meant
            await user.tap("yes")
            continue
        asked.append(prompt)
        value = answers[prompt]
        if by == "tap" and prompt == "contact_phone":
            await user.send(lambda v=value: user.tg.send_contact(user.id, v))
        elif by == "tap" and user.tg.buttons(user.last):
            await user.tap(value)
        else:
            await user.say(value)
    return asked


def _rows(engine: Engine, table: type) -> list[Any]:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


async def test_by_taps_to_a_referral_that_the_coordinator_works(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    replies = await user.command("start", "poster_beijing")
    assert replies[0]["text"].startswith("Hello! This is a short pre-screening")
    assert [t for t, _ in tg.buttons(replies[-1])] == ["I agree", "I do not agree"]

    await screen(user, engine, {**TAPS, "contact_name": "<b>Zhang</b> & Co_"}, by="tap")

    consent = tg.messages_to(PATIENT)[1]
    assert consent["text"].endswith("✓ Your answer: I agree"), "a tapped question shows the answer"
    assert not tg.buttons(consent), "and loses its keyboard"
    phone_prompt = next(msg for msg in user.messages if msg["text"].startswith("Which phone number"))
    assert phone_prompt["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert user.messages[-2]["text"] == m.MAY_BE_CANDIDATE

    [card] = await tg.wait_for_messages(COORDINATOR, 1)
    (referral,) = _rows(engine, Referral)
    sent = next(c for c in tg.calls_to("sendMessage") if c.params["chat_id"] == COORDINATOR)
    assert sent.params["parse_mode"] == "HTML"
    assert f"Referral {referral.id}" in card["text"]
    assert "&lt;b&gt;Zhang&lt;/b&gt; &amp; Co_, +8613812345678" in card["text"], "escaped for HTML"
    assert "<b>Source:</b> poster_beijing" in card["text"]

    tg.tap(COORDINATOR, card["message_id"], f"ref:{referral.id}:contacted")
    await tg.wait_for(lambda: "Status: Contacted" in tg.messages_to(COORDINATOR)[0]["text"], what="status")
    (referral,) = _rows(engine, Referral)
    assert referral.status == "contacted"
    audit = [(e.actor, e.action) for e in _rows(engine, AuditEvent)]
    assert (f"telegram:{COORDINATOR}", "referral_status") in audit


async def test_typed_in_chinese_from_the_language_code(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT, language_code="zh-hans")
    await user.command("start")
    assert "预筛选" in user.messages[0]["text"]
    read_back = []
    for question, answer in LIKELY_B1_ZH.items():  # every answer typed, none tapped
        replies = await user.say(answer)
        if replies[-1]["text"].startswith("您写的是"):  # an interpreted answer, read back
            read_back.append(question)
            await user.say("对")
    assert read_back == ["respondent", "symptoms_course", "serology"], (
        "我自己, 没什么变化, 都是阴性 confirmed first"
    )
    phone_prompt = next(msg for msg in reversed(user.messages) if "keyboard" in msg.get("reply_markup", {}))
    assert "电话" in phone_prompt["text"], "the share-phone keyboard came with the phone question"
    await user.tap("confirm")
    assert "您有可能符合这项研究的条件" in user.messages[-2]["text"]
    assert user.last["reply_markup"] == {"remove_keyboard": True}, "the number was typed: keyboard taken away"
    await tg.wait_for_messages(COORDINATOR, 1)
    assert {r.outcome for r in _rows(engine, Referral)} == {"likely_eligible"}


async def test_not_eligible_is_never_referred(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    await screen(user, engine, {**LIKELY_B1, "diabetes": "yes"}, by="text")
    assert "probably not a match" in user.messages[-2]["text"]
    await user.tap("no")
    assert _rows(engine, Referral) == [], "no referral, so the sender has nothing to send"
    assert tg.messages_to(COORDINATOR) == []


@pytest.mark.parametrize("kind", ["sticker", "photo", "document", "location", "video", "voice", "edit"])
async def test_unusable_messages_get_a_kind_reply_and_change_nothing(
    bot: tuple[FakeTelegram, Engine], kind: str
) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    await user.tap("yes")
    before = [(a.question_id, a.value) for a in _rows(engine, Answer)]
    pushes = {
        "sticker": lambda: tg.send_sticker(PATIENT),
        "photo": lambda: tg.send_photo(PATIENT),
        "document": lambda: tg.send_document(PATIENT),
        "location": lambda: tg.send_location(PATIENT),
        "video": lambda: tg.send_video(PATIENT),
        "voice": lambda: tg.send_voice(PATIENT, b"OggS fake"),
        "edit": lambda: tg.edit_text(PATIENT, user.messages[0]["message_id"], "no"),
    }
    replies = await user.send(pushes[kind])
    # A voice note is listened to: a broken one is one the bot could not play.
    expected = {"edit": m.EDITED, "voice": m.VOICE_UNREADABLE}.get(kind, m.UNSUPPORTED)
    assert replies[0]["text"] == expected
    assert replies[-1]["text"].startswith("Separately, if the answers suggest"), "the same question again"
    assert [(a.question_id, a.value) for a in _rows(engine, Answer)] == before


async def test_a_4000_character_message_and_a_command_at_the_wrong_time(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    replies = await user.say("yes " * 1000)
    assert replies[0]["text"] == m.TOO_LONG_FOR_CHOICE
    replies = await user.command("back")
    assert replies[0]["text"] == m.FIRST_QUESTION
    assert _rows(engine, Answer) == []


async def test_old_forged_and_other_peoples_buttons_change_nothing(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    consent = user.last
    await user.tap("yes", consent)
    await user.tap("yes")
    await user.tap("self")
    before = [(a.question_id, a.value) for a in _rows(engine, Answer)]

    replies = await user.send(lambda: tg.tap(PATIENT, consent["message_id"], "consent_storage:no"))
    assert replies[0]["text"] == m.MOVED_ON, "the old keyboard, replayed"
    assert replies[-1]["text"].startswith("How old")
    answered = len(tg.calls_to("answerCallbackQuery"))
    tg.tap(PATIENT, user.last["message_id"], "age:" + "9" * 60)  # forged, oversize
    tg.tap(2002, user.last["message_id"], "age:42", chat_id=PATIENT)  # someone else's tap
    tg.tap(PATIENT, user.last["message_id"], "garbage")  # not our format
    # Each tap is answered once it has been handled: proof that all three were, and changed nothing.
    await tg.wait_for(lambda: len(tg.calls_to("answerCallbackQuery")) == answered + 3, what="3 taps handled")
    assert [(a.question_id, a.value) for a in _rows(engine, Answer)] == before
    assert len(_rows(engine, Participant)) == 1, "nobody else was registered by those taps"


async def test_in_a_group_it_asks_nothing_and_links_to_a_private_chat(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    tg, engine = bot
    tg.send_text(PATIENT, "/start", chat_id=-500, chat_type="group")
    [reply] = await tg.wait_for_messages(-500, 1)
    assert "private chat" in reply["text"] and f"https://t.me/{tg.bot_username}?start=group" in reply["text"]
    assert _rows(engine, Participant) == []


async def test_a_reply_too_long_for_one_message_goes_as_several_with_its_buttons_last(
    tmp_path: Path,
) -> None:
    # A trial with many questions can make a summary longer than Telegram's 4096 characters.
    lines = [f"• Question {i}: an answer of some length, to fill the summary" for i in range(120)]
    reply = Reply("\n".join(lines), (Option("confirm", "Send it"),), prompt="summary")
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (application, _):
        await application.bot_data["channel"]._send(application.bot, PATIENT, reply, asks_phone=False)
        sent = tg.messages_to(PATIENT)
    assert len(sent) == 2
    assert "\n".join(msg["text"] for msg in sent).split("\n") == lines, "nothing lost, in order"
    assert not tg.buttons(sent[0]) and tg.buttons(sent[1]) == [("Send it", "summary:confirm")]


async def test_an_update_handled_but_never_confirmed_has_one_effect(tmp_path: Path) -> None:
    """Telegram sends an update again until a getUpdates confirms it: here the bot handles
    the answer, cannot confirm it (Telegram fails every poll), and is restarted."""
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path)
        user = TelegramUser(tg, PATIENT)
        async with running(settings) as (_, engine):
            await user.command("start")
            tg.fail("getUpdates", "500", count=10_000)  # the poll already waiting gets the answer
            update_id = tg.send_text(PATIENT, "yes")
            await tg.wait_for(lambda: any(a.question_id == "consent_storage" for a in _rows(engine, Answer)))
            await user.settled(len(user.messages))
        assert update_id in tg.pending_updates(), "handled, but never confirmed"
        tg.clear_faults()
        async with running(settings) as (_, engine):
            await tg.wait_for(lambda: update_id not in tg.pending_updates(), what="fetched again")
            # Updates of one chat are handled in order: once this one is answered, the repeat was handled.
            replies = await user.send(lambda: tg.send_sticker(PATIENT))
            assert replies[0]["text"] == m.UNSUPPORTED
            assert not any(r["text"].startswith("Separately") for r in replies[:-1]), (
                "the repeat said nothing"
            )
            assert [(a.question_id, a.value) for a in _rows(engine, Answer)] == [("consent_storage", "yes")]


async def test_quick_messages_are_handled_in_order_and_those_typed_ahead_are_not_used(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    for text in ("yes", "no", "1", "42"):  # typed in a burst, before any reply came
        tg.send_text(PATIENT, text)
    await tg.wait_for(
        lambda: (
            [msg["text"] for msg in user.messages].count(m.CROSSED) == 3
            and user.last["text"].startswith("Separately, if the answers suggest")
        ),
        what="three answers not used, and the question asked again",
    )
    assert [(a.question_id, a.value) for a in _rows(engine, Answer)] == [("consent_storage", "yes")], (
        "the first answers the question on screen; the others were sent before theirs arrived"
    )


async def test_answers_typed_ahead_of_a_slow_bot_never_land_on_an_earlier_question(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    """The fault tests' run: each Bot API send takes 0.4 s and the person types the next answers
    300 ms apart, each meant for the question they expect. Once one of them is refused as sent
    before its question arrived, the rest of the run is refused too: the question asked again is
    a new copy, and what was typed before it arrived was not typed in answer to it."""
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    order = list(LIKELY_B1)
    run = order[order.index("biologic_allergy") : order.index("serology")]
    assert run == ["biologic_allergy", "recent_study", "follow_plan", "pregnancy"]
    await user.command("start")
    await screen(user, engine, {q: LIKELY_B1[q] for q in order[: order.index("biologic_allergy")]}, by="text")
    assert _prompt(user, engine) == "biologic_allergy"
    handled = len(_rows(engine, ProcessedInput))

    tg.slow["sendMessage"] = 0.4
    for question in run:  # no, no, yes, no: a "yes" one question early excludes the person
        tg.send_text(PATIENT, LIKELY_B1[question])
        await asyncio.sleep(0.3)  # the person's typing pace, not a wait for the bot
    await tg.wait_for(
        lambda: len(_rows(engine, ProcessedInput)) == handled + len(run), timeout=30, what="the run handled"
    )
    await user.settled(0)
    tg.slow.clear()
    refused = [msg["text"] for msg in user.messages].count(m.CROSSED)
    assert refused >= 1, "the run outpaced the bot: some answer was sent before its question arrived"

    await screen(user, engine, LIKELY_B1, by="text")  # answers what is asked now, as asked
    stored = _answered(engine)
    assert {q: stored.get(q) for q in run} == {q: B1_VALUES[q] for q in run}, (
        "every answer is the one meant for its question"
    )
    assert _rows(engine, Referral), "so the person is still referred"


UP_TO_DIABETES = {q: LIKELY_B1[q] for q in list(LIKELY_B1)[: list(LIKELY_B1).index("diabetes")]}
HEART = "Has a doctor told you that you have heart disease?"


def _answered(engine: Engine) -> dict[str, object]:
    return {a.question_id: a.value for a in _rows(engine, Answer) if a.superseded_at is None}


async def _lose_the_next_question(tg: FakeTelegram, engine: Engine, user: TelegramUser, fault: str) -> None:
    """Answer up to diabetes, then answer it while the next question (heart disease) fails to go out."""
    await user.command("start")
    await screen(user, engine, UP_TO_DIABETES, by="text")
    assert user.last["text"] == "Do you have diabetes?"
    tg.fail("sendMessage", fault, chat_id=PATIENT)
    attempts = len(tg.calls_to("sendMessage"))
    tg.send_text(PATIENT, "no")
    await tg.wait_for(lambda: len(tg.calls_to("sendMessage")) > attempts, what="the lost question")
    await tg.wait_for(lambda: _answered(engine).get("diabetes") == "no", what="diabetes stored")


@pytest.mark.parametrize("fault", ["500", "delay:2"], ids=["bot-api-500", "timed-out"])
async def test_an_answer_typed_again_after_a_lost_question_never_lands_on_it(
    tmp_path: Path, fault: str
) -> None:
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path, telegram_timeout=0.5)) as (_, engine):
        user = TelegramUser(tg, PATIENT)
        await _lose_the_next_question(tg, engine, user, fault)
        # The person saw nothing (or Telegram did deliver it, but the bot could not know) and types again.
        replies = await user.say("no")
        assert [r["text"] for r in replies] == [m.UNDELIVERED, HEART]
        assert "heart_disease" not in _answered(engine), "not stored against a question not known to arrive"
        await user.say("no")
        assert _answered(engine)["heart_disease"] == "no"


async def test_a_lost_question_is_sent_again_by_itself(tmp_path: Path) -> None:
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path, telegram_timeout=0.5)) as (_, engine):
        user = TelegramUser(tg, PATIENT)
        await _lose_the_next_question(tg, engine, user, "500")
        await tg.wait_for(lambda: user.last["text"] == HEART, timeout=15, what="the question resent")
        assert [msg["text"] for msg in user.messages].count(HEART) == 1
        await user.say("no")
        assert _answered(engine)["heart_disease"] == "no", "once it arrived, the answer is taken"


async def test_commands_are_registered_in_every_language(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, _ = bot
    assert [c["command"] for c in tg.commands_for(None)] == [
        "start",
        "back",
        "restart",
        "stop",
        "language",
        "voice",
        "help",
        "delete",
    ]
    assert tg.commands_for("zh")[1]["description"] == translator("zh_Hans")("Go back one question")
    for code in ("en", "ru", "es", "ar"):
        assert len(tg.commands_for(code)) == 8
    coordinator = tg.commands_for(None, {"type": "chat", "chat_id": COORDINATOR})
    assert {"referrals", "export", "stats"} <= {c["command"] for c in coordinator}


async def _referred(tg: FakeTelegram, engine: Engine, user_id: int, name: str = "Li Wei") -> None:
    user = TelegramUser(tg, user_id)
    await user.command("start", "qr_clinic")
    await screen(user, engine, {**LIKELY_B1, "contact_name": name}, by="text")


async def test_coordinator_lists_exports_and_counts(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    await _referred(tg, engine, PATIENT, name='=HYPERLINK("http://x")')
    await tg.wait_for_messages(COORDINATOR, 1)
    (referral,) = _rows(engine, Referral)

    tg.send_command(COORDINATOR, "referrals")
    listing = (await tg.wait_for_messages(COORDINATOR, 2))[-1]
    assert referral.id in listing["text"] and "+8613812345678" in listing["text"]

    # The console's export policy: a coordinator exports the call list, never every answer.
    tg.send_command(COORDINATOR, "export", "full")
    refusal = (await tg.wait_for_messages(COORDINATOR, 3))[-1]["text"]
    assert refusal.startswith("Here you may export only: /export contact.") and not tg.documents_to(
        COORDINATOR
    )
    tg.send_command(COORDINATOR, "export")
    await tg.wait_for(lambda: tg.documents_to(COORDINATOR), what="the CSV")
    [(filename, content)] = tg.documents_to(COORDINATOR)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert filename.startswith("referrals-nct07295067-contact-") and rows[1][0] == referral.id
    assert '\'=HYPERLINK("http://x")' in rows[1], "a formula is neutralised"
    assert rows[1][-1] == "+8613812345678", "a phone stored as E.164 is left as it is"
    assert "Diabetes" not in rows[0], "no health answers in a call list"

    tg.send_command(COORDINATOR, "stats")
    stats = (await tg.wait_for_messages(COORDINATOR, 5))[-1]["text"]
    assert stats.startswith("NCT07295067\n")
    assert "qr_clinic: Started 1, Agreed to pre-screening 1, Completed 1, May be a candidate 1" in stats
    events = _rows(engine, AuditEvent)
    actions = [e.action for e in events]
    assert {"viewed_referrals", "exported", "viewed_funnel"} <= set(actions)
    [refused] = [e for e in events if e.action == "refused"]
    assert refused.detail == {"asked": "exported", "trial": "NCT07295067", "format": "csv", "kind": "full"}
    [exported] = [e for e in events if e.action == "exported"]
    assert exported.actor == f"telegram:{COORDINATOR}" and exported.detail["trial"] == "NCT07295067"


async def test_a_long_list_of_referrals_comes_in_several_messages_in_the_coordinators_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The open referrals waiting longest, as many as /referrals lists (25 here, of 30), then a
    line that more are waiting; too long for one message, so in several."""
    people, listed = 30, 25
    monkeypatch.setattr(coordinators, "LISTED", listed)
    async with (
        FakeTelegram() as tg,
        running(settings_for(tg, tmp_path, coordinator_language="ru")) as (_, engine),
    ):
        for i in range(people):
            person = Person(engine, f"p{i}")
            await asyncio.to_thread(person.start)
            await asyncio.to_thread(person.answer_all, {**LIKELY_B1, "contact_name": f"{i:02} " + "Я" * 97})
        await tg.wait_for_messages(COORDINATOR, people, timeout=30)  # the cards
        with engine.store.transaction() as records:
            records.set_referral_status(records.referrals()[0].id, "contacted", "test")

        tg.send_command(COORDINATOR, "referrals")
        await tg.wait_for(
            lambda: "Ждут и другие" in "\n".join(m["text"] for m in tg.messages_to(COORDINATOR)[people:]),
            what="the list, to its end",
        )
        listing = tg.messages_to(COORDINATOR)[people:]
        assert len(listing) > 1, "too long for one Telegram message: sent as several"
        assert listing[0]["text"].startswith("25 открытых направлений:"), "a Russian plural form"
        text = "\n".join(msg["text"] for msg in listing)
        assert text.count("· Новое ·") == listed - 1 and text.count("· Связались ·") == 1, text
        assert [i for i in range(people) if f"{i:02} " + "Я" * 97 in text] == list(range(listed)), "oldest"
        assert text.rstrip().endswith(translator("ru")(texts.MORE_OPEN_REFERRALS))


async def test_a_coordinator_in_a_group_that_is_not_allowlisted_is_refused(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    """Everything said in a group reaches all its members: an allowlisted person's id is not enough."""
    tg, engine = bot
    await _referred(tg, engine, PATIENT)
    await tg.wait_for_messages(COORDINATOR, 1)
    group = -4242
    for command, args in (("export", "full"), ("referrals", ""), ("stats", "")):
        tg.send_command(COORDINATOR, command, args, chat_id=group, chat_type="group")
    await tg.wait_for(lambda: len(tg.messages_to(group)) == 3, what="three refusals")
    assert tg.documents_to(group) == []
    assert all(msg["text"] == "This command is for the study team." for msg in tg.messages_to(group))
    assert "+8613812345678" not in str(tg.messages_to(group))
    refused = [e.subject for e in _rows(engine, AuditEvent) if e.action == "refused"]
    assert sorted(refused) == ["export", "referrals", "stats"]
    # In their private chat with the bot, the same person may.
    tg.send_command(COORDINATOR, "export")
    await tg.wait_for(lambda: tg.documents_to(COORDINATOR), what="the CSV in the private chat")


async def test_coordinator_commands_are_refused_to_others_and_audited(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    tg, engine = bot
    for command in ("export", "referrals", "stats"):
        tg.send_command(PATIENT, command)
    await tg.wait_for_messages(PATIENT, 3)
    assert {msg["text"] for msg in tg.messages_to(PATIENT)} == {"This command is for the study team."}
    assert tg.documents_to(PATIENT) == []
    refused = [(e.actor, e.subject) for e in _rows(engine, AuditEvent) if e.action == "refused"]
    assert sorted(refused) == [(f"telegram:{PATIENT}", c) for c in ("export", "referrals", "stats")]


async def test_delivery_waits_out_429_and_network_errors(bot: tuple[FakeTelegram, Engine]) -> None:
    tg, engine = bot
    tg.fail("sendMessage", "429", count=2, retry_after=1, chat_id=COORDINATOR)
    tg.fail("sendMessage", "500", count=1, chat_id=COORDINATOR)
    await _referred(tg, engine, PATIENT)
    await tg.wait_for(
        lambda: [d.status for d in _rows(engine, Notification)] == ["sent"], timeout=20, what="sent"
    )
    [card] = tg.messages_to(COORDINATOR)
    (referral,) = _rows(engine, Referral)
    assert referral.id in card["text"]
    tries = [c.at for c in tg.calls_to("sendMessage") if c.params["chat_id"] == COORDINATOR]
    assert len(tries) == 4, "two 429s, a 500, then through"
    assert tries[1] - tries[0] >= 1.0 and tries[2] - tries[1] >= 1.0, "retry_after (1 s) is waited out"


async def test_a_send_that_timed_out_is_repeated_with_the_same_referral_id(
    bot: tuple[FakeTelegram, Engine],
) -> None:
    tg, engine = bot
    tg.fail("sendMessage", "drop", count=1, chat_id=COORDINATOR)  # it arrives; the bot hears nothing
    await _referred(tg, engine, PATIENT)
    await tg.wait_for(
        lambda: _rows(engine, Notification) and _rows(engine, Notification)[0].status == "sent",
        timeout=20,
        what="the retry",
    )
    (referral,) = _rows(engine, Referral)
    cards = tg.messages_to(COORDINATOR)
    assert len(cards) == 2 and all(f"Referral {referral.id}" in c["text"] for c in cards)


async def test_a_send_that_timed_out_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path, telegram_timeout=0.5)) as (_, engine):
        tg.fail("sendMessage", "delay:2", count=1, chat_id=COORDINATOR)
        await _referred(tg, engine, PATIENT)
        await tg.wait_for(lambda: [d.status for d in _rows(engine, Notification)] == ["sent"], timeout=20)
        assert f"to telegram:{COORDINATOR}: TimedOut" in caplog.text
        (referral,) = _rows(engine, Referral)
        cards = tg.messages_to(COORDINATOR)
        assert 1 <= len(cards) <= 2 and all(f"Referral {referral.id}" in c["text"] for c in cards)


async def test_a_coordinator_who_blocked_the_bot_does_not_stop_the_others(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path, coordinator_chat_ids=f"{COORDINATOR}, 9002")
        tg.blocked.add(9002)
        async with running(settings) as (_, engine):
            await _referred(tg, engine, PATIENT)
            await tg.wait_for_messages(COORDINATOR, 1)
            await tg.wait_for(lambda: {d.status for d in _rows(engine, Notification)} == {"sent", "failing"})
            assert {r.status for r in _rows(engine, Referral)} == {"pending"}


async def test_delete_erases_the_person_and_cancels_the_referral(tmp_path: Path) -> None:
    async with FakeTelegram() as tg:
        tg.blocked.add(COORDINATOR)  # nothing delivered yet
        async with running(settings_for(tg, tmp_path)) as (_, engine):
            user = TelegramUser(tg, PATIENT)
            await _referred(tg, engine, PATIENT)
            await user.command("delete")
            await user.tap("yes")
            assert user.last["text"] == m.DELETED
            assert _rows(engine, Participant) == [] and _rows(engine, Answer) == []
            assert [r.status for r in _rows(engine, Referral)] == ["cancelled"]


async def test_one_chat_flooding_the_bot_does_not_hold_back_the_others(tmp_path: Path) -> None:
    """Three times as many messages at once from one chat as the bot handles at a time: someone
    else's answer is handled while they queue (see bench/fairness.py for the figures)."""
    async with FakeTelegram() as tg:
        settings = settings_for(tg, tmp_path, coordinator_chat_ids="", telegram_concurrent_updates=32)
        async with running(settings):
            other = TelegramUser(tg, PATIENT)
            await other.command("start")
            flooder = 5555
            for _ in range(100):
                tg.send_text(flooder, "hello")
            await tg.wait_for(lambda: tg.messages_to(flooder), what="the flood is being worked through")
            before = len(other.messages)
            tg.send_text(PATIENT, "yes")
            await tg.wait_for(lambda: len(other.messages) > before, timeout=60, what="the other's reply")
            assert len(tg.messages_to(flooder)) < 30, "answered long before the flood was through"
            await tg.wait_for(
                lambda: len(tg.messages_to(flooder)) >= 100, timeout=120, what="the whole flood"
            )


async def test_a_reminder_comes_due_on_telegram_with_the_clock_moved(
    bot: tuple[FakeTelegram, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excluded only for now (E7: another study in the past three months): the bot's own delivery
    loop sends the reminder on its day, not before; the test moves the clock, nothing sleeps for it."""
    from datetime import UTC, datetime

    import dialogs.conversation
    import dialogs.engine

    tg, engine = bot

    def on(day: str) -> None:
        moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
        monkeypatch.setattr(dialogs.conversation, "utcnow", lambda: moment)
        monkeypatch.setattr(dialogs.engine, "utcnow", lambda: moment)

    on("2026-12-07")
    user = TelegramUser(tg, PATIENT)
    await user.command("start")
    answers = {**TAPS, "recent_study": "yes"}
    await screen(user, engine, answers, by="tap")
    assert "from March 7, 2027 the study may be able to include you" in user.last["text"]
    await user.tap("yes")
    assert any("we will remind you on March 7, 2027" in r["text"] for r in user.messages[-2:])
    before = len(user.messages)
    on("2027-03-06")
    await tg.wait_for(lambda: engine.remind() == 0, what="a round of the delivery loop")
    assert len(user.messages) == before, "nothing the day before"
    on("2027-03-07")
    await tg.wait_for(
        lambda: any("From today, the study" in r["text"] for r in user.messages[before:]), what="the reminder"
    )


async def test_an_answer_costs_the_fewest_bot_api_calls(bot: tuple[FakeTelegram, Engine]) -> None:
    # A typed answer: the next question, nothing else. A tap: the query answered (Telegram's
    # client spins until it is), its message marked with the answer and stripped of its buttons
    # (an old button must never stay to answer another question), the next question. No getMe,
    # no chat action, no separate removal of a keyboard: a reply keyboard goes with the next message.
    tg, engine = bot
    user = TelegramUser(tg, PATIENT)
    await user.command("start")

    def calls_during(before: int) -> list[str]:
        return [c.method for c in tg.calls[before:] if c.method != "getUpdates"]

    before = len(tg.calls)
    await user.say("yes")
    assert calls_during(before) == ["sendMessage"]
    before = len(tg.calls)
    await user.tap("yes")
    assert sorted(calls_during(before)) == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert _prompt(user, engine) == "respondent"
