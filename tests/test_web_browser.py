"""The web chat in a real browser: Debian's Chromium, driven by Playwright, at a phone's size.

`intake web` runs as a real process. Screenshots of each language are saved under
test-artifacts/ for a person to look at. Chromium comes from Debian (`apt-get install
chromium`; Playwright's own download does not work here): CI installs it and sets
INTAKE_REQUIRE_BROWSER=1, so that there a missing browser fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import LIKELY_B1_ZH, TAPS_B1
from tests.test_processes import ROOT, serving_web

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 360, "height": 740}

if not Path(CHROMIUM).exists():
    if os.environ.get("INTAKE_REQUIRE_BROWSER"):
        raise RuntimeError(f"no Chromium at {CHROMIUM}: `apt-get install chromium`")
    pytest.skip("Debian's chromium is not installed (CI installs it)", allow_module_level=True)

from axe_playwright_python.async_playwright import Axe  # noqa: E402
from playwright.async_api import Browser, Locator, Page, Route, async_playwright, expect  # noqa: E402


@contextlib.contextmanager
def serving(data_dir: Path, *, settle: float) -> Iterator[str]:
    """`intake web` as an operator starts it; `settle`: how long a new page ignores taps."""
    with serving_web(data_dir, {"INTAKE_WEB_TAP_SETTLE": str(settle)}) as served:
        yield served.base


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `intake web` for the module's tests: each is a new visitor in a browser context of its
    own (no cookie), so they share nothing but the process, which costs seconds to start."""
    with serving(tmp_path_factory.mktemp("served"), settle=0) as base:  # the robot taps at once
        yield base


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def _asks(page: Page) -> str:
    return await page.locator(".message[data-asks]").last.get_attribute("data-asks") or ""


async def _answer_everything(
    page: Page, answers: dict[str, str], *, typed: bool = False, reload_at: str | None = None
) -> list[str]:
    """Answer each question as `answers` says: by its button, or by typing (always with `typed`,
    and when a question has none). A typed answer read back is confirmed with its Yes button.
    At `reload_at`, the page is reloaded first, and must show the same question again.
    Returns the questions whose answers were read back."""
    read_back: list[str] = []
    question = ""
    for _ in range(80):
        if await page.locator(".message", has_text=REFERENCE).count():
            return read_back
        asks = await _asks(page)
        if asks == reload_at:
            reload_at = None
            await page.reload()
            assert await _asks(page) == asks, "a reload resumes at the same question"
            continue
        assert await _width(page) <= (page.viewport_size or PHONE)["width"], f"sideways scroll at {asks}"
        if asks == "_confirm":
            read_back.append(question)
            answer = "yes"
        else:
            question = asks
            answer = "confirm" if asks == "summary" else answers[asks]
        buttons = page.locator(".message[data-asks]").last.locator(f"button[name=value][value='{answer}']")
        async with page.expect_navigation():
            if await buttons.count() and not (typed and asks in answers):
                await buttons.click()
            else:
                await page.fill("#text", answer)
                await page.click(".answer button")
    raise AssertionError("the screening did not end")


REFERENCE = re.compile("Your reference is|您的编号|الرقم المرجعي")


async def test_a_whole_screening_on_a_phone_with_javascript_off(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{server}/?lang=en&src=poster_test")
    await _answer_everything(page, TAPS_B1)
    assert "may be a candidate" in await page.inner_text("#messages")
    assert all(url.startswith(server) for url in requested), "nothing leaves the bot's own origin"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "web-en.png"), full_page=True)
    await context.close()


async def test_a_whole_screening_typed_in_chinese_with_a_reload_midway(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{server}/?src=poster_beijing")  # the language from the browser's
    assert await page.evaluate("document.documentElement.lang") == "zh-Hans"
    read_back = await _answer_everything(page, LIKELY_B1_ZH, typed=True, reload_at="diagnosis")
    assert read_back == ["respondent", "symptoms_course", "serology"], (
        "我自己, 没什么变化, 都是阴性 confirmed first"
    )
    assert "您有可能符合这项研究的条件" in await page.inner_text("#messages")
    assert all(url.startswith(server) for url in requested), "nothing leaves the bot's own origin"
    await page.screenshot(path=str(ARTIFACTS / "web-zh-end.png"), full_page=True)
    await context.close()


async def test_a_whole_screening_tapped_in_arabic_right_to_left(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{server}/?lang=ar")
    await _answer_everything(page, TAPS_B1)
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    # Mirrored: the answer buttons' text starts at the right.
    assert (
        await page.evaluate("getComputedStyle(document.querySelector('.commands button')).direction") == "rtl"
    )
    await page.screenshot(path=str(ARTIFACTS / "web-ar-end.png"), full_page=True)
    await context.close()


@pytest.mark.parametrize(("lang", "direction", "html_lang"), [("ar", "rtl", "ar"), ("zh", "ltr", "zh-Hans")])
async def test_each_language_lays_out_its_way_and_resumes_on_another_device(
    browser: Browser, server: str, lang: str, direction: str, html_lang: str
) -> None:
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{server}/?lang={lang}")
    assert await page.evaluate("document.documentElement.dir") == direction
    assert await page.evaluate("document.documentElement.lang") == html_lang
    await page.locator(".message").last.locator("button[name=value][value='yes']").click()
    await page.wait_for_load_state()
    question = await page.locator(".message").last.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"web-{lang}.png"), full_page=True)
    link = await _resume_link(page)
    other = await browser.new_context(viewport=PHONE)  # another device: no cookie
    elsewhere = await other.new_page()
    await elsewhere.goto(link)
    async with elsewhere.expect_navigation():
        await elsewhere.click("form.resume button")
    assert question.splitlines()[0] in await elsewhere.inner_text("#messages")
    # Nothing is wider than the phone: no sideways scrolling at 360 px.
    assert await _width(elsewhere) <= PHONE["width"]
    await other.close()
    await context.close()


async def _resume_link(page: Page) -> str:
    """Make a link to continue on another device, with the page's own button."""
    async with page.expect_navigation():
        await page.click("form.resume button")
    link = await page.get_attribute(".resume a", "href")
    assert link is not None and "/resume/" in link
    await page.click("a.continue")  # back to the questions
    await page.wait_for_load_state()
    return link


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_resume_link_in_someone_elses_browser_asks_first_and_keeps_their_answers(
    browser: Browser, server: str, javascript: bool
) -> None:
    """Someone sends a person the resume link of their own screening (to read what the person
    types next). The person's browser, which has answers of its own, asks before anything
    happens; the person declines, and their own screening is there as they left it."""
    sender = await browser.new_context(viewport=PHONE)
    theirs = await sender.new_page()
    await theirs.goto(f"{server}/?lang=en")
    async with theirs.expect_navigation():  # their consent: a screening to continue
        await theirs.locator(".message").last.locator("button[name=value][value='yes']").click()
    link = await _resume_link(theirs)
    await sender.close()

    context = await browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto(f"{server}/?lang=en")
    async with page.expect_navigation():
        await page.locator(".message").last.locator("button[name=value][value='yes']").click()
    own = await _asks(page)
    assert own == "consent_contact"
    cookie = [c["value"] for c in await context.cookies() if c["name"] == "intake_session"]

    await page.goto(link)
    shown = await page.inner_text("main")
    assert "Continue it here only if it is your own" in shown
    assert "has a pre-screening with answers already" in shown
    assert [c["value"].split(".")[0] for c in await context.cookies() if c["name"] == "intake_session"] == [
        value.split(".")[0] for value in cookie
    ], "nothing replaced by opening it"
    await page.screenshot(path=str(ARTIFACTS / "web-resume-asks.png"), full_page=True)
    async with page.expect_navigation():
        await page.click("a.continue")  # "No, do not continue it"
    assert await _asks(page) == own, "their own screening, at their own question"
    assert "Separately" in await page.inner_text("#messages")
    await context.close()


@pytest.mark.parametrize("javascript", [True, False])
async def test_the_new_question_has_the_focus(browser: Browser, server: str, javascript: bool) -> None:
    """With or without JavaScript, the newest message has the focus: a screen reader reads it."""
    context = await browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await page.goto(f"{server}/?lang=en")
    newest = "document.activeElement === document.querySelector('#messages .message:last-child')"
    assert await page.evaluate(newest)  # Playwright's evaluate runs even where the page's scripts are off
    async with page.expect_navigation():
        await page.locator(".message").last.locator("button[name=value][value='yes']").click()
    assert "Separately" in await page.inner_text("#messages")
    assert await page.evaluate(newest), "on the new one"
    assert errors == [], "nothing breaks under the page's Content-Security-Policy"
    await context.close()


async def test_a_double_tap_does_not_answer_the_next_question(browser: Browser, tmp_path: Path) -> None:
    """The page replaces itself under the finger: for the settling time its answer and command
    buttons look inactive and let no tap through (the server would not use one either), with
    JavaScript off too."""
    settle = 3.0
    with serving(tmp_path, settle=settle) as base:
        context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
        page = await context.new_page()
        await page.goto(f"{base}/?lang=en")
        yes = page.locator(".message").last.locator("button[name=value][value='yes']")
        assert await _settling(yes) and await _settling(page.locator("button[name=command]").first)
        assert not await _settling(page.locator(".answer button")), "typing is never a slip"
        await page.wait_for_timeout(settle * 1000 + 300)  # the person reads the question
        assert not await _settling(yes), "ready once the page has settled"
        async with page.expect_navigation():
            await yes.click()
        asks = await _asks(page)
        assert asks == "consent_contact"
        posts: list[str] = []
        page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        box = await yes.bounding_box()
        assert box is not None
        await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # at once
        await expect(yes).to_have_css("pointer-events", "auto")  # settled
        assert posts == [], "the tap went nowhere"
        assert await _asks(page) == asks and "Separately" in await page.locator(".message").last.inner_text()
        await context.close()


async def _settling(button: Locator) -> bool:
    """Whether a button shows it takes no tap yet (dimmed, and letting none through)."""
    style = await button.evaluate("b => [getComputedStyle(b).pointerEvents, getComputedStyle(b).opacity]")
    return bool(style[0] == "none" and float(style[1]) < 1)


async def _accessibility_problems(page: Page) -> list[str]:
    """Serious or critical WCAG 2.1 A/AA violations, as axe-core finds them (shipped pinned in
    axe-playwright-python; injected through the DevTools protocol, so the page's CSP holds)."""
    results = await Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            "resultTypes": ["violations"],
        },
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("lang", ["en", "zh", "ar"])
async def test_accessibility_each_kind_of_page(browser: Browser, server: str, lang: str) -> None:
    """axe-core on a question with buttons, a typed answer's read-back, a menu and the end."""
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{server}/?lang={lang}")
    problems = {"first question": await _accessibility_problems(page)}
    for _ in range(2):  # the two consents
        async with page.expect_navigation():
            await page.locator(".message").last.locator("button[name=value][value='yes']").click()
    await page.fill("#text", "myself")  # typed: read back before it is stored
    async with page.expect_navigation():
        await page.click(".answer button")
    problems["read-back"] = await _accessibility_problems(page)
    async with page.expect_navigation():
        await page.click("button[name=command][value='/language']")
    problems["language menu"] = await _accessibility_problems(page)
    assert {k: v for k, v in problems.items() if v} == {}
    await context.close()


@pytest.mark.parametrize("javascript", [True, False])
async def test_readable_on_a_320_px_screen_with_text_at_200_percent(
    browser: Browser, server: str, javascript: bool
) -> None:
    """WCAG 1.4.4 and 1.4.10: text doubled on the narrowest phones still fits, nothing scrolls
    sideways or is cut off, and every control stays a large target; with JavaScript off too,
    where the voice form's file input shows."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 640}, java_script_enabled=javascript
    )
    page = await context.new_page()
    await page.goto(f"{server}/?lang=en")
    for width in (360, 320):
        await page.set_viewport_size({"width": width, "height": 640})
        for scale in ("100%", "200%"):
            await page.evaluate(f"document.documentElement.style.fontSize = '{scale}'")
            assert await _width(page) <= width, (width, scale)
            clipped = await page.evaluate(
                """[...document.querySelectorAll('p, button, label, a, input, h1')]
                     .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.outerHTML.slice(0, 80))"""
            )
            assert clipped == [], (width, scale, clipped)
            small = await page.evaluate(
                """[...document.querySelectorAll('button, input:not([type=hidden])')]
                     .filter(e => e.checkVisibility())
                     .map(e => e.getBoundingClientRect()).filter(r => r.width < 44 || r.height < 44).length"""
            )
            assert small == 0, f"every control at least 44 x 44 px at {width} px, {scale}"
            ARTIFACTS.mkdir(exist_ok=True)
            shot = f"web-{width}px-text-{scale[:-1]}{'' if javascript else '-no-js'}.png"
            await page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    await context.close()


async def _width(page: Page) -> int:
    """How wide the page is laid out: more than the screen, and it scrolls sideways."""
    return int(await page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_second_tap_on_a_slow_network_answers_once(
    browser: Browser, server: str, javascript: bool
) -> None:
    """The answer takes a second to arrive; the person taps again meanwhile. With JavaScript the
    second tap sends nothing; without it, whatever the browser sends, one answer is stored."""
    context = await browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto(f"{server}/?lang=en")
    posts: list[str] = []

    async def slowly(route: Route) -> None:
        posts.append(route.request.url)
        await asyncio.sleep(1.0)  # the network's delay, not a wait for the result
        await route.continue_()

    await page.route("**/say", slowly)
    box = await page.locator(".message").last.locator("button[name=value][value='yes']").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.click(x, y)  # a finger: no waiting for anything, unlike a locator's click
    await page.wait_for_timeout(300)  # the second tap, while the page still shows the question
    await page.mouse.click(x, y)
    await page.wait_for_selector(".message[data-asks='consent_contact']")
    assert await _asks(page) == "consent_contact", "one answer, and the next question"
    if javascript:
        assert len(posts) == 1, "the second tap sent nothing"
    await context.close()


def _silence(path: Path, seconds: float = 1.0) -> Path:
    """A recording of nothing (16 kHz WAV): what a phone records when nobody speaks."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * int(16_000 * seconds))
    return path


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_recording_sent_as_a_file_gets_its_message(
    browser: Browser, server: str, tmp_path: Path, javascript: bool
) -> None:
    """Without a microphone the page can use (none, not allowed, or JavaScript off), the voice form
    sends a file, as a phone's own recorder makes it: a silent one, or none chosen, is told so."""
    context = await browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto(f"{server}/?lang=en")
    silence = _silence(tmp_path / "silence.wav")

    async def send(recording: Path | None) -> str:
        button = page.locator("form.voice button")
        if javascript:
            assert await button.inner_text() == "Tap to record"
            await button.click()  # the microphone is not allowed: the form falls back to a file
            await page.locator("#recording").wait_for()
            assert await button.inner_text() == "Send a recording"
        if recording is not None:
            await page.set_input_files("#recording", str(recording))
        async with page.expect_navigation():
            await button.click()
        return " ".join(await page.locator(".message.problem").all_inner_texts())

    assert "No recording came with that" in await send(None)
    assert "could not hear anything" in await send(silence)
    assert await _asks(page) == "consent_storage", "and the question again"
    await context.close()


async def test_a_coordinator_signs_in_with_totp_and_follows_up_a_web_referral_in_chinese(
    browser: Browser, tmp_path: Path
) -> None:
    """The coordinator console in a real browser, in Chinese: sign in with a second factor, open
    the referral a web screening just made, record the call with a note, see the funnel move."""
    import pyotp

    from tests.test_processes import intake

    with serving(tmp_path, settle=0) as base:
        patient = await browser.new_context(viewport=PHONE)
        page = await patient.new_page()
        await page.goto(f"{base}/?lang=en&src=poster_beijing")
        await _answer_everything(page, TAPS_B1)
        await patient.close()
        added = intake(tmp_path, "users", "add", "li.na", "--role", "coordinator", "--totp")
        password = re.search(r"password: (\S+)", added.stdout)
        secret = re.search(r"secret=([A-Z2-7]+)", added.stdout)
        assert password and secret, added.stderr

        context = await browser.new_context(viewport={"width": 1024, "height": 800})
        console = await context.new_page()
        await console.goto(f"{base}/coordinator/login?lang=zh_Hans")
        await console.fill("#name", "li.na")
        await console.fill("#password", password[1])
        await console.fill("#code", pyotp.TOTP(secret[1]).now())
        async with console.expect_navigation():
            await console.click("form.login button")
        assert "poster_beijing" in await console.inner_text("main")
        problems = {"list": await _accessibility_problems(console)}
        await console.screenshot(path=str(ARTIFACTS / "console-zh-list.png"), full_page=True)
        async with console.expect_navigation():
            await console.click("table a")
        assert "Li Wei" in await console.inner_text("main") and "可能符合" in await console.inner_text("main")
        await console.check("input[name=status][value=contacted]")
        await console.fill("#note", "已电话联系，预约下周一")
        async with console.expect_navigation():
            await console.click("form.status button")
        history = await console.inner_text("table")
        assert "li.na" in history and "已电话联系，预约下周一" in history
        problems["card"] = await _accessibility_problems(console)
        await console.screenshot(path=str(ARTIFACTS / "console-zh-card.png"), full_page=True)
        # Notices link to the card, and are opened on phones: there each answer is under its label,
        # as wide as the screen, and nothing scrolls sideways.
        await console.set_viewport_size(PHONE)
        assert await _width(console) <= PHONE["width"]
        widths = await console.evaluate(
            "[...document.querySelectorAll('dl.card dd')].map(e => e.getBoundingClientRect().width)"
        )
        assert len(widths) > 20 and min(widths) > 0.75 * PHONE["width"], widths
        await console.screenshot(path=str(ARTIFACTS / "console-zh-card-phone.png"), full_page=True)
        await console.set_viewport_size({"width": 1024, "height": 800})
        await console.goto(f"{base}/coordinator/funnel")
        funnel = await console.inner_text("main")
        assert "poster_beijing" in funnel
        contacted = await console.locator("svg.funnel text").all_text_contents()
        assert contacted[contacted.index("已联系") + 1] == "1", "the call is counted"
        problems["funnel"] = await _accessibility_problems(console)
        await console.screenshot(path=str(ARTIFACTS / "console-zh-funnel.png"), full_page=True)
        assert {k: v for k, v in problems.items() if v} == {}
        await context.close()


async def test_answering_by_voice_on_the_page_with_a_microphone(tmp_path: Path) -> None:
    """Chromium's fake microphone plays espeak-ng saying "yes"; one tap records, another sends;
    the bot reads back what it heard before anything is stored."""
    import wave

    import numpy as np

    from bot.speech.synthesis import Espeak

    speech = Espeak().speak("yes", "en")
    recording = tmp_path / "yes.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.rate)
        # A second and a half of silence first: each recording plays the file from its start, so
        # one stopped within a second hears nothing.
        before, after = (
            np.zeros(speech.rate * 3 // 2, dtype=np.int16),
            np.zeros(speech.rate // 2, dtype=np.int16),
        )
        out.writeframes(np.concatenate([before, speech.samples, after]).tobytes())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={recording}%noloop",
            ],
        )
        with serving(tmp_path / "data", settle=0) as base:
            context = await browser.new_context(viewport=PHONE, permissions=["microphone"])
            page = await context.new_page()
            await page.goto(f"{base}/?lang=en")
            record = page.locator("form.voice button")
            assert await record.inner_text() == "Tap to record"
            await record.click()
            await page.wait_for_selector("form.voice button[aria-pressed=true]")
            await page.wait_for_timeout(2500)  # the person speaks (the file is 2.3 s long)

            async def slow_network(route: Route) -> None:  # the edge of the world: a slow upload
                await asyncio.sleep(1.0)
                await route.continue_()

            await page.route("**/voice", slow_network)
            async with page.expect_navigation():
                await record.click()
                status = page.locator(".voice-status")
                await status.filter(has_text="Listening").wait_for()
                spinner = "getComputedStyle(document.querySelector('.voice-status'), '::before')"
                assert await page.evaluate(spinner + ".animationName") == "spin", "a spinner meanwhile"
            heard = await page.locator(".message").first.inner_text()
            assert "I heard" in heard and "I agree" in heard
            await page.screenshot(path=str(ARTIFACTS / "web-voice-read-back.png"), full_page=True)

            await page.unroute("**/voice")
            await page.route("**/voice", lambda route: route.abort("internetdisconnected"))
            record = page.locator("form.voice button")
            await record.click()
            await page.wait_for_selector("form.voice button[aria-pressed=true]")
            await record.click()  # the connection drops on the way
            await page.locator(".voice-status").filter(has_text="did not reach us").wait_for()
            assert await record.inner_text() == "Tap to record" and await record.is_enabled()
            assert "I heard" in await page.locator(".message").first.inner_text(), "still the read-back"

            # What the bot says of a recording reaches the page too: here, half a second of silence.
            await page.unroute("**/voice")
            await record.click()
            await page.wait_for_selector("form.voice button[aria-pressed=true]")
            await page.wait_for_timeout(500)  # the person says nothing
            async with page.expect_navigation():
                await record.click()
            problems = await page.locator(".message.problem").all_inner_texts()
            assert any("could not hear anything" in problem for problem in problems), problems
            await context.close()
        await browser.close()
