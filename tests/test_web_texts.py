"""What the web page says, as a person reads it: every text marked with the language and direction it
is written in, and the page's own buttons named where Telegram and the terminal name /commands.

Over HTTP against the app `intake web` serves (JavaScript plays no part in either)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.web import WebOptions, build_web_app
from bot.wiring import build_engine
from dialogs import messages as m
from dialogs.engine import Engine
from dialogs.i18n import shipped_locales, translator
from tests.conftest import TAPS_B1
from tests.test_web import Page, _command, _post, _tap

LOCALES = shipped_locales()
# Letters by script, and the languages (BCP 47 primary subtags) written in it here.
SCRIPTS = {
    "Arab": (re.compile(r"[\u0600-\u06ff]"), {"ar"}),
    "Hani": (re.compile(r"[\u3400-\u9fff]"), {"zh"}),
    "Cyrl": (re.compile(r"[\u0400-\u04ff]"), {"ru"}),
    "Latn": (re.compile(r"[A-Za-zÀ-ɏ]"), {"en", "es"}),
}
RTL = {"ar"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# A /command as a person would read it in a sentence (not inside a link).
COMMAND = re.compile(r"(?<![\w/.:])/[a-z]+\b")


class _Parts(HTMLParser):
    """Each text of a page, with the `lang` and `dir` of the element it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str, str]] = [("", "", "ltr")]
        self.parts: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        _, lang, direction = self.stack[-1]
        found = dict(attrs)
        if tag not in VOID:
            self.stack.append((tag, found.get("lang") or lang, found.get("dir") or direction))

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1 and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip() and self.stack[-1][0] not in ("script", "style"):
            self.parts.append((data.strip(), *self.stack[-1][1:]))


def _mismatches(html: str) -> list[tuple[str, str, str]]:
    """Texts whose letters are mostly of a script their element's `lang` or `dir` does not write."""
    parser = _Parts()
    parser.feed(html)
    wrong = []
    for text, lang, direction in parser.parts:
        if text.startswith("http"):
            continue  # the resume link: an address, in any language's page
        counts = {name: len(pattern.findall(text)) for name, (pattern, _) in SCRIPTS.items()}
        script = max(counts, key=lambda name: counts[name])
        if not counts[script]:
            continue  # digits and punctuation only
        primary = lang.split("-")[0]
        expected_direction = "rtl" if primary in RTL else "ltr"
        if primary not in SCRIPTS[script][1] or direction != expected_direction:
            wrong.append((text, lang, direction))
    return wrong


def _commands_shown(html: str) -> list[str]:
    parser = _Parts()
    parser.feed(html)
    return [text for text, _, _ in parser.parts if not text.startswith("http") and COMMAND.search(text)]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]


@pytest.fixture
async def app(engine: Engine) -> AsyncIterator[object]:
    yield build_web_app(engine, options=WebOptions(tap_settle=0))


def _browser(app: object, language: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://intake.test",
        follow_redirects=True,
        headers={"accept-language": language},
    )


async def test_the_language_menu_marks_each_line_and_button_with_its_own_language(app: object) -> None:
    """A browser in a language not shipped gets the menu on an English page: its Arabic line is
    right to left (its full stop at the end), each line and button says its language."""
    async with _browser(app, "fr") as browser:
        menu = Page(await browser.get("/"))
        assert '<html lang="en" dir="ltr">' in menu.html
        assert '<p lang="ar" dir="rtl">' in menu.html and 'lang="ar" dir="rtl">العربية</button>' in menu.html
        assert _mismatches(menu.html) == []
        arabic = await _tap(browser, menu, "ar")
        assert '<html lang="ar" dir="rtl">' in arabic.html
        again = await _command(browser, arabic, "language")
        assert '<html lang="ar" dir="rtl">' in again.html and '<p lang="en" dir="ltr">' in again.html
        assert _mismatches(again.html) == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_every_page_is_marked_with_the_language_and_direction_of_its_text(
    app: object, locale: str
) -> None:
    async with _browser(app, locale.replace("_", "-")) as browser:
        pages = [Page(await browser.get(f"/?lang={locale}"))]
        pages.append(await _command(browser, pages[-1], "help"))
        pages.append(await _post(browser, pages[-1], text="?!"))  # not understood: asked again, with a hint
        forged = {"csrf": "x", "prompt": pages[-1].field("prompt"), "text": "1"}
        pages.append(Page(await browser.post("/say", data=forged)))  # refused: a notice page
        for page in pages:
            assert _mismatches(page.html) == [], page.text[:200]


async def _to_not_eligible(browser: httpx.AsyncClient, locale: str) -> Page:
    """NCT07295067 answered by taps until diabetes, answered yes: "probably not a match"."""
    page = Page(await browser.get(f"/?lang={locale}&trial=nct07295067"))
    for question, value in TAPS_B1.items():
        if question == "diabetes":
            return await _tap(browser, page, "yes")
        page = await _tap(browser, page, value) if page.buttons() else await _post(browser, page, text=value)
    raise AssertionError("never asked about diabetes")


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_web_page_names_its_buttons_never_a_command(app: object, locale: str) -> None:
    """Help, reading aloud, an unclear consent, "not a match", a finished screening: on the web
    each names the page's own buttons ("Back", "Delete my data"), in the page's language."""
    t = translator(locale)
    button = {name: t(label) for name, label in m.WEB_BUTTONS}
    async with _browser(app, locale) as browser:
        first = Page(await browser.get(f"/?lang={locale}&trial=nct07295067"))
        unclear = await _post(browser, first, text="?")
        helped = await _command(browser, unclear, "help")
        aloud = await _command(browser, helped, "voice")
        declined = await _to_not_eligible(browser, locale)
        finished = await _tap(browser, declined, "no")
        where = await _post(browser, finished, text="?")
    for page in (unclear, helped, aloud, declined, where):
        assert _commands_shown(page.html) == [], page.text[:300]
    assert button["delete"] in _said(unclear) and {button["back"], button["delete"]} <= _said_words(helped)
    assert button["voice"] in _said(aloud) and button["back"] in _said(declined)
    assert button["restart"] in _said(where) and button["delete"] in _said(where)


def _said(page: Page) -> str:
    """What the bot said on the page: its messages, not the buttons under them (bidi isolates,
    which wrap the labels in right-to-left text, left out)."""
    start = page.html.index('<div id="messages"')
    said = Page(httpx.Response(200, text=page.html[start : page.html.index('class="answer"', start)])).text
    return re.sub("[\u2066-\u2069]", "", said)


def _said_words(page: Page) -> set[str]:
    said = _said(page)
    return {label for label in re.findall(r"[“「«](.+?)[”」»]", said)}
