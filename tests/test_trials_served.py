"""Both Xuanwu studies served by one real `intake web` process, played end to end: a Chinese
speaker without a link is led by the general entry to NCT06079125 and types as people type; an
English speaker follows a link to NCT07295067 and taps. Each screening is stored with its study."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import httpx

from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import COORDINATOR, TelegramUser
from storage.models import Screening
from tests.conftest import LIKELY_B1, TAPS_B1
from tests.test_processes import intake, serving_web
from tests.test_telegram_process import _rows, bot_process
from tests.test_web import Page

BOTH = {"INTAKE_TRIALS": "", "INTAKE_WEB_TAP_SETTLE": "0"}  # every trial file: both studies

# Never operated, a syrinx that did not shrink: the entry leads to NCT06079125. Typed in Chinese,
# as a patient types; what the bot reads back is confirmed.
SECOND_ZH = {
    "_study": "没有",  # the entry's two questions ("operated at the back of the head?", "shrank?")
    "consent_storage": "好的，同意",
    "consent_contact": "可以",
    "respondent": "我自己",
    "age": "三十五岁",
    "chiari": "是的",
    "syrinx": "有",
    "prior_surgery": "还没做过手术",
    "mri_available": "有片子",
    **dict.fromkeys(
        ("hydrocephalus", "tumour", "head_injury_stroke", "cns_infection", "other_malformation"), "没有"
    ),
    **dict.fromkeys(("degenerative", "fibromyalgia_fatigue"), "没有"),
    "travel": "可以",
    "contact_name": "李伟",
    "contact_phone": "13812345678",
}


def _asks(page: Page) -> str:
    asked = re.findall(r'data-asks="([^"]*)"', page.html)
    return unescape(asked[-1]) if asked else ""


async def _play(
    client: httpx.AsyncClient, page: Page, answers: dict[str, str], *, typed: bool
) -> tuple[list[str], Page]:
    """Answer what each page asks from `answers` (typed, or by its button), confirm read-backs and the
    summary; the questions asked, in order, and the last page."""
    asked: list[str] = []
    for _ in range(80):
        asks = _asks(page)
        if asks == "_confirm":
            value, text = "yes", ""
        elif asks == "summary":
            value, text = "confirm", ""
        elif asks in answers:
            asked.append(asks)
            tap = not typed and any(v == answers[asks] for v, _ in page.buttons())
            value, text = (answers[asks], "") if tap else ("", answers[asks])
        else:
            return asked, page
        data = {"csrf": page.field("csrf"), "prompt": page.field("prompt") if text else page.option_prompt()}
        data |= {"text": text} if text else {"value": value}
        shown = page.field("prompt")
        page = Page(await client.post("/say", data=data, follow_redirects=True))
        assert page.field("prompt") != shown, f"{asks!r} asked again: {' '.join(page.text.split())[-300:]}"
    raise AssertionError("the screening did not end")


async def test_one_web_process_serves_both_studies_in_chinese_and_english(tmp_path: Path) -> None:
    with serving_web(tmp_path, BOTH) as served:
        async with httpx.AsyncClient(base_url=served.base) as chinese:
            page = Page(await chinese.get("/?lang=zh_Hans", follow_redirects=True))
            asked, ended = await _play(chinese, page, SECOND_ZH, typed=True)
            assert asked[:2] == ["_study", "_study"], "the entry's two plain questions first"
            assert "chiari" in asked and "diabetes" not in asked, "then the second study's own"
            assert "您有可能符合" in ended.text, ended.text[-300:]
        async with httpx.AsyncClient(base_url=served.base) as english:
            page = Page(await english.get("/?trial=nct07295067&lang=en&src=poster", follow_redirects=True))
            asked, ended = await _play(english, page, TAPS_B1, typed=False)
            assert asked[0] == "consent_storage", "a link naming its study skips the entry"
            assert "may be a candidate" in ended.text
    listing = intake(tmp_path, "screenings", "--json", env={"INTAKE_TRIALS": ""})
    assert listing.returncode == 0, listing.stderr
    stored = {(s["trial"], s["language"], s["outcome"]) for s in json.loads(listing.stdout)}
    assert stored == {
        ("NCT06079125", "zh_Hans", "likely_eligible"),
        ("NCT07295067", "en", "likely_eligible"),
    }, stored


async def _answer_in_order(user: TelegramUser, answers: list[str]) -> None:
    """Say each answer in turn; a read-back ("您写的是…", "You wrote…") is confirmed, the summary too."""
    for answer in answers:
        await user.say(answer)
        if user.last["text"].startswith(("您写的是", "You wrote")):
            await user.tap("yes")
    await user.tap("confirm")


async def test_one_telegram_process_serves_both_studies_in_chinese_and_english(tmp_path: Path) -> None:
    """A deep link names the second study for a Chinese speaker; an English speaker without one
    is led by the entry to the first. Each referral reaches the team, with its study."""
    async with FakeTelegram() as tg:
        chinese, english = TelegramUser(tg, 2001, "zh-hans"), TelegramUser(tg, 2002, "en")
        with bot_process(tg, tmp_path, INTAKE_TRIALS=""):
            await tg.wait_for(lambda: tg.calls_to("getUpdates"), timeout=30, what="the bot polling")
            await chinese.command("start", "nct06079125-qr_beijing")
            assert "小脑扁桃体下疝" in " ".join(m["text"] for m in chinese.messages), (
                "the second study at once"
            )
            await _answer_in_order(chinese, [a for q, a in SECOND_ZH.items() if q != "_study"])
            assert "您有可能符合" in " ".join(m["text"] for m in chinese.messages[-3:])
            await english.command("start")
            assert "operation at the back of the head" in english.last["text"], "the entry"
            await english.say("yes")
            await _answer_in_order(english, list(LIKELY_B1.values()))
            assert "may be a candidate" in " ".join(m["text"] for m in english.messages[-3:])
            await tg.wait_for_messages(COORDINATOR, 2)
    stored = {(s.trial_id, s.locale, s.source, s.outcome) for s in _rows(tmp_path, Screening)}
    assert stored == {
        ("NCT06079125", "zh_Hans", "qr_beijing", "likely_eligible"),
        ("NCT07295067", "en", None, "likely_eligible"),
    }, stored
