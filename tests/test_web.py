"""The web chat over HTTP: a whole screening by form posts (no JavaScript), sessions, CSRF,
escaping, limits and headers. The ASGI app is the one `intake web` serves."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.config import Settings
from bot.web import COOKIE, WebOptions, build_web_app
from bot.wiring import build_engine
from dialogs.engine import Engine
from storage.database import make_engine
from storage.models import Notification, Referral, Screening
from storage.repository import Store
from tests.conftest import TAPS_B1

XSS = '<script>alert("x")</script><img src=x onerror=alert(this)>'


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = Settings(_env_file=None, data_dir=tmp_path, notify="mailto:team@example.org")  # type: ignore[call-arg]
    return build_engine(settings)


@pytest.fixture
async def browser(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    # Taps count at once here; the settling time has its own test.
    transport = httpx.ASGITransport(app=build_web_app(engine, options=WebOptions(tap_settle=0)))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake.test", follow_redirects=True
    ) as c:
        yield c


class Page:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.html = response.text

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.html)
        assert match, name
        return unescape(match[1])

    @property
    def text(self) -> str:
        return unescape(re.sub(r"<[^>]+>", " ", self.html))

    def buttons(self) -> list[tuple[str, str]]:
        """(value, label) of the answer buttons under the last question."""
        forms = re.findall(r'<form method="post" action="/say" class="options">(.*?)</form>', self.html, re.S)
        if not forms:
            return []
        prompt = re.search(r'name="prompt" value="([^"]*)"', forms[-1])
        assert prompt
        found = re.findall(r'name="value" value="([^"]*)"[^>]*>([^<]*)</button>', forms[-1])
        return [(unescape(v), unescape(label)) for v, label in found]

    def option_prompt(self) -> str:
        forms = re.findall(r'<form method="post" action="/say" class="options">(.*?)</form>', self.html, re.S)
        match = re.search(r'name="prompt" value="([^"]*)"', forms[-1])
        assert match
        return unescape(match[1])


async def _open(browser: httpx.AsyncClient, url: str = "/") -> Page:
    return Page(await browser.get(url))


async def _post(browser: httpx.AsyncClient, page: Page, **fields: str) -> Page:
    data = {"csrf": page.field("csrf"), "prompt": page.field("prompt"), **fields}
    return Page(await browser.post("/say", data=data))


async def _tap(browser: httpx.AsyncClient, page: Page, value: str) -> Page:
    data = {
        "csrf": page.field("csrf"),
        "prompt": page.option_prompt(),
        "value": value,
        "shown": page.field("shown"),
    }
    return Page(await browser.post("/say", data=data))


async def _command(browser: httpx.AsyncClient, page: Page, name: str) -> Page:
    data = {
        "csrf": page.field("csrf"),
        "prompt": page.field("prompt"),
        "command": f"/{name}",
        "shown": page.field("shown"),
    }
    return Page(await browser.post("/say", data=data))


def _rows(engine: Engine, table: Any) -> list[Any]:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


async def test_a_whole_screening_by_taps_and_typing_from_a_campaign_link(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    page = await _open(browser, "/?src=poster_beijing&lang=en")
    assert page.response.url.path == "/" and "Study pre-screening" in page.text
    for question, value in TAPS_B1.items():
        if page.buttons():
            assert value in [v for v, _ in page.buttons()], (question, page.buttons())
            page = await _tap(browser, page, value)
        else:
            page = await _post(browser, page, text=value)
    assert "That's correct, send it" in page.text
    page = await _tap(browser, page, "confirm")
    assert "Your reference is" in page.text
    [referral] = _rows(engine, Referral)
    [screening] = _rows(engine, Screening)
    assert screening.source == "poster_beijing" and screening.locale == "en"
    notifications = _rows(engine, Notification)
    assert [(n.referral_id, n.destination) for n in notifications] == [
        (referral.id, "mailto:team@example.org")
    ]


async def test_the_page_follows_the_language_and_lays_out_arabic_right_to_left(
    browser: httpx.AsyncClient,
) -> None:
    page = await _open(browser, "/?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page.html
    chinese = httpx.AsyncClient(
        transport=browser._transport, base_url="http://intake.test", follow_redirects=True
    )
    async with chinese:
        first = Page(await chinese.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}))
    assert '<html lang="zh-Hans" dir="ltr">' in first.html


async def test_a_reload_resumes_and_the_resume_link_works_in_another_browser(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    page = await _open(browser, "/?lang=en")
    page = await _tap(browser, page, "yes")
    asked = page.option_prompt()
    again = await _open(browser)
    assert "Welcome back" in again.text and again.option_prompt() == asked
    assert "/resume/" not in again.html, "no key to the session on the page"
    made = Page(await browser.post("/resume-link", data={"csrf": again.field("csrf")}))
    link = re.search(r'<a href="(http://intake\.test/resume/[^"]+)"', made.html)
    assert link and "works once, within 7 days" in made.text
    assert browser.cookies[COOKIE].split(".")[0] not in link[1], "a token of its own, not the cookie's"
    other = httpx.AsyncClient(transport=browser._transport, follow_redirects=True)
    async with other:
        asking = Page(await other.get(link[1]))
        assert "Continue it here only if it is your own" in asking.text
        elsewhere = Page(await other.post(link[1], data={"csrf": asking.field("csrf")}))
    assert elsewhere.option_prompt() == asked, "the same screening, on another device"
    assert len(_rows(engine, Screening)) == 1


def _traces(engine: Engine) -> dict[str, int]:
    """What the database holds of anyone: people, screenings, answers, consents, replies waiting,
    resume links and audit events."""
    from storage.models import Answer, AuditEvent, Consent, OutgoingReply, Participant, ResumeLink

    tables = (Participant, Screening, Answer, Consent, OutgoingReply, ResumeLink, AuditEvent)
    return {table.__name__: len(_rows(engine, table)) for table in tables if _rows(engine, table)}


async def test_nothing_is_stored_before_consent_and_a_link_preview_counts_nowhere(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    """Opening a link (a WeChat link preview too), choosing a language, help, read aloud, a consent
    in words read back: none of it is a participant, a screening or a start in the funnel. The
    consent stores the screening as it stood: its source, language and read aloud."""
    from bot.coordination.reports import funnel

    async with httpx.AsyncClient(transport=browser._transport, base_url="http://intake.test") as preview:
        assert (await preview.get("/?src=poster_wechat&lang=zh")).status_code == 303  # never followed
        assert (await preview.get("/")).status_code == 200
    page = await _open(browser, "/?src=poster_beijing")  # a language the bot does not speak: the menu
    assert {value for value, _ in page.buttons()} >= {"zh_Hans", "en", "es"}
    page = await _tap(browser, page, "es")
    assert "Antes de empezar" in page.text
    page = await _command(browser, page, "help")
    page = await _command(browser, page, "voice")
    assert "<audio" in page.html, "read aloud, before consent too"
    page = await _post(browser, page, text="vale, de acuerdo con eso")
    assert "escribió: «vale, de acuerdo con eso»" in page.text, "a consent in other words, read back first"
    again = await _open(browser)  # a reload: still the read-back, from the cookie
    assert again.option_prompt() == page.option_prompt()
    assert 'action="/resume-link"' not in again.html, "no screening yet to continue elsewhere"
    await browser.post("/resume-link", data={"csrf": again.field("csrf")})
    with engine.store.transaction() as records:
        assert funnel(records, engine.trial.registry_id) == {"language": {}, "source": {}, "week": {}}
    assert _traces(engine) == {}, "nothing of anyone stored before consent"

    page = await _tap(browser, again, "yes")
    assert "contact" in page.text.lower() or page.option_prompt() != again.option_prompt()
    [screening] = _rows(engine, Screening)
    assert (screening.source, screening.locale, screening.read_aloud) == ("poster_beijing", "es", True)
    assert _answers(engine) == {screening.id: {"consent_storage": "yes"}}
    traces = _traces(engine)
    assert traces["Participant"] == 1 and traces["Consent"] == 1 and traces["AuditEvent"] == 1, traces
    with engine.store.transaction() as records:
        counted = funnel(records, engine.trial.registry_id)["source"]
    assert counted == {"poster_beijing": {"started": 1, "consented": 1}}, "the preview counts nowhere"
    assert "intake_before" not in browser.cookies, "stored now: where they stand is not in a cookie any more"


async def test_declining_before_consent_stores_nothing_and_a_forged_state_is_a_new_start(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    page = await _open(browser, "/?lang=en")
    declined = await _tap(browser, page, "no")
    assert "Nothing you told us has been kept" in declined.text and not declined.buttons()
    assert _traces(engine) == {}
    again = await _open(browser)  # from the beginning: which language, then the consent
    again = await _tap(browser, again, "en")
    assert "Before we start" in again.text
    page = await _tap(browser, again, "yes")
    assert len(_rows(engine, Screening)) == 1
    # Where someone stands before consent is signed with their session: changed, it is no one's.
    english = {"accept-language": "en"}
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://t", headers=english) as other:
        first = Page(await other.get("/", follow_redirects=True))
        menu = await other.post(
            "/say",
            data={"csrf": first.field("csrf"), "prompt": first.field("prompt"), "command": "/language"},
        )
        assert menu.status_code == 303
        assert "Please choose your language" in Page(await other.get("/")).text, "the menu, from the cookie"
        body, _, signature = other.cookies["intake_before"].rpartition(".")
        other.cookies.set("intake_before", f"{body[:-4]}AAAA.{signature}")
        forged = Page(await other.get("/"))
        assert "Before we start" in forged.text and "Please choose your language" not in forged.text


def test_where_someone_stands_before_consent_never_outgrows_its_cookie(engine: Engine) -> None:
    """A browser drops a cookie over 4 KB without a word: an input that would leave someone standing
    somewhere that big is refused instead (a notice says it was too much), and changes nothing."""
    from bot.web import Visitor, WebChat
    from dialogs.before_consent import Unstored

    chat = WebChat(engine, None, WebOptions())
    visitor = Visitor("session", stored=False, before={"locale": "en"})
    assert not chat._keep_unstored(visitor, Unstored([], {"pending_answer": "x" * 5000}))
    assert visitor.before == {"locale": "en"}
    assert chat._keep_unstored(visitor, Unstored([], {"pending_answer": "x" * 500}))


async def test_posts_need_the_session_s_csrf_token(browser: httpx.AsyncClient, engine: Engine) -> None:
    page = await _open(browser, "/?lang=en")
    forged = await browser.post(
        "/say", data={"csrf": "0" * 43, "prompt": page.option_prompt(), "value": "yes"}
    )
    assert forged.status_code == 403 and "your answer was not used" in forged.text
    missing = await browser.post("/say", data={"prompt": page.option_prompt(), "value": "yes"})
    assert missing.status_code == 403
    assert _answers(engine) == {}, "nothing stored"


async def test_a_second_tap_on_a_page_just_shown_answers_nothing(engine: Engine) -> None:
    """A double tap, or a tremor's second tap, lands on the page that replaced the first one."""
    now = [0.0]
    app = build_web_app(engine, options=WebOptions(tap_settle=1.0), clock=lambda: now[0])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        now[0] += 4  # reading the question
        page = await _tap(phone, page, "yes")
        stored = _answers(engine)
        now[0] += 0.3  # the second tap, on the button now where the first one was
        again = await _tap(phone, page, "yes")
        assert again.option_prompt() == page.option_prompt() and "Separately" in again.text
        again = await _command(phone, again, "back")  # a command button is a tap too
        assert again.option_prompt() == page.option_prompt()
        assert _answers(engine) == stored, "nothing answered, nothing undone"
        now[0] += 1.5  # a person who has read it
        later = await _tap(phone, again, "yes")
        assert later.option_prompt() != page.option_prompt()
        assert len(next(iter(_answers(engine).values()))) == len(next(iter(stored.values()))) + 1
        # A typed answer is never a slip of the finger: it counts however quickly it comes.
        now[0] += 0.1
        typed = await _post(phone, later, text="myself")
        assert "You wrote" in typed.text or typed.option_prompt() != later.option_prompt()


def _answers(engine: Engine) -> dict[str, Any]:
    with engine.store.transaction() as records:
        return {s.id: records.answers(s.id or 0) for s in records.screenings() if records.answers(s.id or 0)}


async def test_a_forged_session_cookie_is_a_new_person_not_someone_else(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    owner = await _tap(browser, await _open(browser, "/?lang=en"), "yes")
    token = browser.cookies[COOKIE]
    session, _, _ = token.partition(".")
    forged = f"{session}.{'A' * 43}"
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://intake.test") as stranger:
        response = await stranger.get("/", headers={"cookie": f"{COOKIE}={forged}"})
    assert COOKIE in response.headers["set-cookie"] and forged not in response.headers["set-cookie"]
    assert token not in response.headers["set-cookie"]
    assert Page(response).option_prompt() != owner.option_prompt(), "a new person at the beginning"
    assert len(_rows(engine, Screening)) == 1, "the owner's screening only: the stranger has not consented"


def test_session_tokens_are_signed_dated_and_expire_unused_or_old() -> None:
    from bot.web.sessions import Tokens

    day = [20_000]
    sign = lambda value: f"{hash(('key', value)):x}" * 4  # noqa: E731
    tokens = Tokens(sign, max_age_days=90, lifetime_days=180, clock=lambda: day[0])
    token = tokens.issue()
    reading = tokens.read(token)
    assert reading.session_id and len(reading.session_id) >= 32 and reading.began == 20_000
    day[0] += 90
    assert tokens.read(token).session_id == reading.session_id, "still good on its last day"
    renewed = tokens.issue(reading.session_id, reading.began)
    day[0] += 1
    assert tokens.read(token).session_id is None, "unused for 91 days"
    assert tokens.read(renewed).session_id == reading.session_id, "each visit renews it"
    later = renewed.replace(f".{day[0] - 1}.", f".{day[0]}.")
    assert tokens.read(later).session_id is None, "a date changed: forged"
    day[0] = 20_000 + 180
    assert tokens.read(tokens.issue(reading.session_id, reading.began)).session_id == reading.session_id
    day[0] += 1
    used_today = tokens.issue(reading.session_id, reading.began)
    assert tokens.read(used_today).session_id is None, "181 days after it began, however often used"
    assert tokens.read("").session_id is None and tokens.read("a.b.c.d").session_id is None


def test_each_kind_of_token_is_good_only_for_its_purpose_and_its_deployment() -> None:
    """A form's CSRF token is no session's signature, a state sealed for one session opens for no
    other, and another deployment's key signs nothing here (itsdangerous, a salt per purpose)."""
    from bot.web.sessions import Tokens

    tokens = Tokens(lambda value: f"{hash(('key', value)):x}" * 4)
    session = tokens.read(tokens.issue()).session_id
    assert session is not None
    body = tokens.issue(session).rpartition(".")[0]
    assert tokens.read(f"{body}.{tokens.csrf(body)}").session_id is None, "a CSRF token as a signature"
    sealed = tokens.seal_before(session, {"locale": "en"})
    assert tokens.open_before(session, sealed) == {"locale": "en"}
    assert tokens.open_before("another-session", sealed) is None
    elsewhere = Tokens(lambda value: f"{hash(('other key', value)):x}" * 4)
    assert elsewhere.read(tokens.issue(session)).session_id is None
    assert elsewhere.csrf(session) != tokens.csrf(session)


async def test_resume_links_expire_work_once_and_say_so(browser: httpx.AsyncClient, engine: Engine) -> None:
    from sqlmodel import select

    from storage.models import ResumeLink, utcnow

    page = await _open(browser, "/?lang=en")
    await _tap(browser, page, "yes")
    page = await _open(browser)

    async def make() -> str:
        made = Page(await browser.post("/resume-link", data={"csrf": page.field("csrf")}))
        link = re.search(r'<a href="http://intake\.test(/resume/[^"]+)"', made.html)
        assert link
        return link[1]

    old = await make()
    with engine.store.transaction() as records:
        [row] = records.session.exec(select(ResumeLink))
        row.expires_at = utcnow() - timedelta(seconds=1)  # eight days later
        records.session.add(row)
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://intake.test") as other:
        expired = await other.get(old, headers={"accept-language": "zh-CN"})
        assert expired.status_code == 410 and "7" in expired.text and '<html lang="zh-Hans"' in expired.text
        unknown = await other.get(f"/resume/{'A' * 43}")
        assert unknown.status_code == 404 and "copied in full" in unknown.text
        fresh = await make()
        assert (await other.get(old)).status_code == 404, "a new link replaces the one before"
        asking = Page(await other.get(fresh))
        resumed = await other.post(fresh, data={"csrf": asking.field("csrf")}, follow_redirects=True)
        assert "Separately" in resumed.text
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://intake.test") as third:
        again = await third.get(fresh)
        assert again.status_code == 410 and "used already" in again.text, "once"


async def test_free_text_is_escaped_everywhere_it_is_shown(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    """Script in every typed answer: the read-back, the summary, the coordinators' card and the
    CSV show it as text, and a spreadsheet formula in a name is not run either."""
    from bot.coordination.cards import Cards
    from bot.coordination.reports import referrals_csv
    from bot.destinations import render_html

    name = f'=HYPERLINK("http://evil.example") {XSS}'
    typed = {"diabetes": f"no, {XSS}", "contact_name": name, "contact_phone": f"+86 138 1234 5678 {XSS}"}
    page = await _open(browser, "/?lang=en")
    seen: list[Page] = []
    for question, value in TAPS_B1.items():
        if question in typed:
            page = await _post(browser, page, text=typed[question])
            seen.append(page)
            if page.buttons() and "You wrote" in page.text:  # read back: confirmed
                page = await _tap(browser, page, "yes")
            if question == "contact_phone" and "contact_phone" not in str(_answers(engine)):
                page = await _post(browser, page, text=value)  # not a phone number: asked again
        elif page.buttons():
            page = await _tap(browser, page, value)
        else:
            page = await _post(browser, page, text=value)
        seen.append(page)
    assert "That's correct, send it" in page.text and XSS in page.text, "the summary quotes the name"
    for shown in seen:
        assert "<script>alert" not in shown.html and "<img src=x" not in shown.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.html
    page = await _tap(browser, page, "confirm")
    [referral] = _rows(engine, Referral)
    with engine.store.transaction() as records:
        card = Cards(engine.trials, "en", "UTC").card(records, referral.id)
        exported = referrals_csv(records, engine.trial, "en", "UTC", "contact").decode("utf-8-sig")
    assert card is not None
    html = render_html(card)
    assert "<script>" not in html and "&lt;script&gt;" in html, "Telegram HTML escaped"
    cells = [cell for line in csv.reader(io.StringIO(exported)) for cell in line]
    assert f"'{name}" in cells, "the formula is neutralised, the text kept as it was typed"


async def test_malformed_requests_get_a_clear_answer_and_change_nothing(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    page = await _open(browser, "/?lang=en")
    csrf = page.field("csrf")
    form = {"content-type": "application/x-www-form-urlencoded"}
    responses = [
        await browser.get("/nope"),
        await browser.put("/say"),
        await browser.post(
            "/say", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}
        ),
        await browser.post("/say", content=b"{}", headers={"content-type": "application/json"}),
        await browser.post("/say", content=b"&".join(b"f%d=1" % i for i in range(50)), headers=form),
        await browser.post("/say", data={"csrf": csrf, "prompt": "9" * 5000, "value": "yes"}),
        await browser.post("/say", data={"csrf": csrf, "prompt": "1.99999999999999999999", "value": "yes"}),
        await browser.get("/resume/%00%ff"),
    ]
    for response in responses:
        assert response.status_code < 500 and "Traceback" not in response.text, response.request.url
    assert [r.status_code for r in responses[:5]] == [404, 405, 403, 403, 400]
    assert _answers(engine) == {}, "nothing stored"
    again = await _open(browser)
    assert again.option_prompt() == page.option_prompt(), "still at the first question"


async def test_limits_and_headers(browser: httpx.AsyncClient) -> None:
    page = await _open(browser, "/?lang=en")
    headers = page.response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert "httponly" in headers.get("set-cookie", "").lower() or browser.cookies.get(COOKIE)
    big = await browser.post(
        "/say", data={"csrf": page.field("csrf"), "prompt": page.field("prompt"), "text": "x" * 40_000}
    )
    assert big.status_code == 413 and "too much to send at once" in big.text
    assert 'lang="en"' in big.text and "content-security-policy" in big.headers, "a page of the chat's own"
    chinese = await browser.post("/say", content=b"x" * 40_000, headers={"accept-language": "zh-CN"})
    assert chinese.status_code == 413 and "一次发送的内容太多了" in chinese.text
    # Nothing on the page comes from another origin.
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.html)
    assert all(s.startswith("/") or s.startswith("http://intake.test/") for s in sources), sources


async def test_pages_are_compressed_and_described(browser: httpx.AsyncClient, engine: Engine) -> None:
    """For slow phones, pages come gzipped (when the browser says it takes gzip); and each has
    a description, what a search engine or a link preview shows."""
    page = await _open(browser, "/?lang=zh")
    assert page.response.headers["content-encoding"] == "gzip"
    assert int(page.response.headers["content-length"]) < len(page.response.content) / 2
    assert "accept-encoding" in page.response.headers["vary"].lower()
    style = await browser.get("/static/chat.css")
    assert style.headers["content-encoding"] == "gzip"
    plain = await browser.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and "<html" in plain.text
    description = re.compile(r'<meta name="description" content="([^"]+)">')
    [described_as] = description.findall(page.html)
    assert described_as.startswith("回答几个问题，看看一项临床研究"), "in the page's language"
    described = [
        await browser.get("/resume/" + "A" * 43),  # a notice: no such link
        await browser.post("/resume-link", data={"csrf": (await _tap(browser, page, "yes")).field("csrf")}),
        await browser.get("/coordinator/login"),
    ]
    for response in described:
        assert description.search(response.text), response.request.url


def test_intake_web_serves_the_chat(tmp_path: Path) -> None:
    """The real server process, as an operator starts it."""
    import subprocess
    import sys

    from bot.testing.ports import free_port
    from tests.test_processes import ROOT, _env, get_when_up

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"],
        cwd=ROOT,
        env={**_env(tmp_path), "INTAKE_WEB_PORT": str(port)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = get_when_up(f"http://127.0.0.1:{port}/?lang=zh")
        assert response.status_code == 200
        assert '<html lang="zh-Hans"' in response.text and "content-security-policy" in response.headers
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"web chat at http://127.0.0.1:{port}/" in stderr
    assert "/resume/" not in stderr, "no session token in the logs"


async def test_rate_limits_hold_back_a_script_not_the_people_who_share_its_address(engine: Engine) -> None:
    """Many people share one address behind a carrier's NAT or a hospital's Wi-Fi: a person is
    limited by their session, new sessions by address."""
    options = WebOptions(
        tap_settle=0,
        requests_per_minute=5,
        new_visitors_per_minute=3,
        total_requests_per_minute=100,
        trusted_proxies=(ip_network("10.0.0.1"),),
    )
    app = build_web_app(engine, options=options)

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://intake.test")

    async with client("192.0.2.7") as person, client("192.0.2.7") as neighbour:
        assert (await person.get("/")).status_code == 200  # new visitor 1 from 192.0.2.7
        # A script from the same address, keeping no cookie: new visitors 2 and 3, then refused.
        codes = []
        for _ in range(4):
            async with client("192.0.2.7") as script:
                codes.append((await script.get("/", headers={"accept-language": "zh-CN"})).status_code)
        assert codes == [200, 200, 429, 429]
        async with client("192.0.2.7") as script:
            refused = await script.get("/")
        assert refused.headers["retry-after"] == "60" and "content-security-policy" in refused.headers
        assert "wait a minute" in refused.text
        assert _rows(engine, Screening) == [], "nobody stored before consenting, a refused visitor neither"
        # The person who had begun goes on: their session has its own allowance.
        assert [(await person.get("/")).status_code for _ in range(5)] == [200] * 5
        refused = await person.get("/", headers={"accept-language": "ar"})
        assert refused.status_code == 429, "six requests in a minute: one too many"
        assert "طلبات كثيرة" in refused.text and 'dir="rtl"' in refused.text, "in the person's language"
        assert (await neighbour.get("/")).status_code == 429, "a new visitor from there still waits"

    async with client("198.51.100.9") as other, client("10.0.0.1") as proxy:
        assert (await other.get("/")).status_code == 200, "another address is not held back"
        # Behind the trusted proxy, new visitors count by the address it forwards for.
        forwarded = await proxy.get("/", headers={"x-forwarded-for": "203.0.113.5, 192.0.2.7"})
        assert forwarded.status_code == 429
    async with client("198.51.100.9") as spoofing:  # an untrusted sender cannot choose its address
        spoofed = await spoofing.get("/", headers={"x-forwarded-for": "192.0.2.7"})
        assert spoofed.status_code == 200


def test_make_run_serves_the_web_chat_beside_the_console(tmp_path: Path) -> None:
    """A newcomer's one command: the console chat, and the web chat at the address it prints."""
    import subprocess
    import sys

    from bot.testing.ports import free_port
    from tests.test_processes import ROOT, _env, get_when_up

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env={**_env(tmp_path), "INTAKE_WEB_PORT": str(port)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert '<html lang="es"' in get_when_up(f"http://127.0.0.1:{port}/?lang=es").text
    finally:
        stdout, stderr = process.communicate(input="/help\n", timeout=30)
    assert process.returncode == 0, stderr
    assert f"web chat at http://127.0.0.1:{port}/" in stderr
    assert "/back" in stdout, "and the console chat answered"


def test_a_busy_port_costs_only_the_web_chat(tmp_path: Path) -> None:
    import socket

    from tests.test_processes import intake

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = intake(tmp_path, stdin="/help\n", env={"INTAKE_WEB_PORT": str(port)})
    assert result.returncode == 0 and "/back" in result.stdout


async def test_intake_qr_makes_a_campaign_link_that_opens_the_chat_with_its_source(
    tmp_path: Path, browser: httpx.AsyncClient, engine: Engine
) -> None:
    from tests.test_processes import intake

    env = {"INTAKE_PUBLIC_URL": "https://intake.example.org", "INTAKE_TELEGRAM_BOT_USERNAME": "@intake_bot"}
    svg = intake(
        tmp_path,
        "qr",
        "--source",
        "poster_beijing",
        "--lang",
        "zh-CN",
        "--out",
        str(tmp_path / "p.svg"),
        env=env,
    )
    assert svg.returncode == 0, svg.stderr
    assert "Telegram:  https://t.me/intake_bot?start=poster_beijing" in svg.stdout
    link = re.search(r"web chat:  (\S+)", svg.stdout)
    assert link and link[1] == "https://intake.example.org/?src=poster_beijing&lang=zh_Hans"
    assert (tmp_path / "p.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    png = intake(
        tmp_path, "qr", "--source", "clinic", "--format", "png", "--out", str(tmp_path / "c.png"), env=env
    )
    assert png.returncode == 0 and (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    refused = intake(tmp_path, "qr", "--source", "no spaces/here", env=env)
    assert refused.returncode == 2 and "1 to 64 letters" in refused.stderr

    page = Page(await browser.get(link[1].replace("https://intake.example.org", "")))
    assert '<html lang="zh-Hans"' in page.html
    await _tap(browser, page, "yes")  # the consent: from here the screening is stored, with its source
    [screening] = _rows(engine, Screening)
    assert screening.source == "poster_beijing"


async def test_a_recording_uploaded_from_the_page_is_read_back_before_it_is_stored(tmp_path: Path) -> None:
    """The web page's voice answer (what chat.js uploads, or a phone's recorder without it)."""
    from bot.speech.listener import Listener
    from bot.testing import speech_models
    from tests.test_voice import spoken

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    engine = build_engine(settings)
    listener = Listener({"en": speech_models.english()})
    app = build_web_app(engine, options=WebOptions(tap_settle=0), listener=listener)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        assert 'action="/voice"' in page.html and 'accept="audio/*"' in page.html

        async def upload(page: Page, data: bytes, **fields: str) -> Page:
            form = {"csrf": page.field("csrf"), "prompt": page.field("prompt"), **fields}
            files = {"audio": ("answer.ogg", data, "audio/ogg")}
            return Page(await phone.post("/voice", data=form, files=files))

        page = await upload(page, spoken("yes"))
        assert "I heard" in page.text and "I agree" in page.text
        assert _answers(engine) == {}, "nothing stored before the person confirms"
        page = await _tap(phone, page, "yes")
        assert "Separately" in page.text
        [stored] = _answers(engine).values()
        assert stored == {"consent_storage": "yes"}
        page = await upload(page, b"not audio at all")
        assert "could not play that recording" in page.text
        forged = await phone.post(
            "/voice", data={"csrf": "x", "prompt": page.field("prompt")}, files={"audio": ("a", b"x")}
        )
        assert forged.status_code == 403
        too_big = await phone.post(
            "/voice", data={"csrf": page.field("csrf")}, files={"audio": ("a", b"\0" * (3 * 1024 * 1024))}
        )
        assert too_big.status_code == 413


async def test_a_voice_form_sent_without_a_recording_says_so(
    browser: httpx.AsyncClient, engine: Engine
) -> None:
    """Without JavaScript the voice form can be sent before a recording is chosen: it is told as
    that, not as a recording that could not be played, and the question is asked again."""
    page = await _open(browser, "/?lang=en")
    form = {"csrf": page.field("csrf"), "prompt": page.field("prompt")}
    for files in ({"audio": ("", b"", "application/octet-stream")}, None):  # as browsers send it, or none
        again = Page(await browser.post("/voice", data=form, files=files))
        assert "No recording came with that" in again.text and "could not play" not in again.text
        assert again.option_prompt() == page.option_prompt()
    assert _answers(engine) == {}


async def test_read_aloud_shows_whether_it_is_on_and_reads_buttons_not_commands(
    engine: Engine, tmp_path: Path
) -> None:
    """The page's "Read aloud" button is a switch that says whether it is on; a text that names a
    command ("pause at any time with /stop") is read with the page's own button for it."""
    from bot.speech.speaker import Speaker
    from bot.speech.synthesis import CommandVoice
    from tests.test_voice import _tts_program

    heard = tmp_path / "read-aloud.txt"
    program = _tts_program(
        tmp_path,
        f"""open({str(heard)!r}, "a").write(sys.stdin.read() + "\\n")
with wave.open(sys.stdout.buffer, "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(16000)
    out.writeframes(b"\\x00\\x20\\x00\\xe0" * 4000)""",
    )
    app = build_web_app(
        engine, options=WebOptions(tap_settle=0), speaker=Speaker({"*": CommandVoice(program)})
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        switch = re.compile(r'value="/voice" aria-pressed="(\w+)"')
        assert switch.findall(page.html) == ["false"]
        page = await _command(phone, page, "voice")
        assert switch.findall(page.html) == ["true"] and "<audio" in page.html
        read = heard.read_text()
        assert "You can pause at any time" in read and "/" not in read, read
        # The page's texts name its buttons; a text worded for Telegram, if one ever reached the
        # page, is read with the page's button for each command, never as "slash stop".
        from bot.speech.speaker import words
        from dialogs.outputs import Reply

        buttons = {"stop": "Pause", "delete": "Delete my data"}
        assert (
            words(Reply(text="Send /stop to pause, or /delete."), buttons)
            == "Send Pause to pause, or Delete my data."
        )
        page = await _command(phone, page, "voice")
        assert switch.findall(page.html) == ["false"] and "<audio" not in page.html


def test_the_shared_budget_once_spent_refuses_only_who_took_more_than_a_share() -> None:
    """Many sources, each within its own allowance, can still spend the budget everyone shares:
    then those above an equal share wait, and the people who made a request or two go on."""
    from bot.web.guard import Budgets, Limits

    budgets = Budgets(Limits(per_session=1000, per_address=1000, total=100))
    now = 0.0
    heavy = [budgets.allow(f"198.51.100.{n}", None, now) for n in range(2) for _ in range(60)]
    # The first took 60; once the budget was spent, the second could still reach an equal share (50).
    assert heavy.count(True) == 110, "together, two scripts spend the budget"
    assert not budgets.allow("198.51.100.0", None, now) and not budgets.allow("198.51.100.1", None, now)
    assert budgets.allow("203.0.113.7", None, now), "a patient's first request goes through"
    assert budgets.allow("203.0.113.7", None, now), "and their second"
    assert budgets.allow("198.51.100.1", None, now + 61), "a minute later, the budget is back"


# Five answers a Chinese patient typed in the web chat, and was asked again for, before answers were
# read by meaning (issue 19): the question, what was typed, and what was meant.
TYPED_IN_CHINESE = [
    ("consent_storage", "好的，同意", "yes"),
    ("had_surgery", "没有做过手术", "no"),
    ("mri_shrunk", "变小了", "yes"),
    ("symptoms_course", "比以前差了一点", "worse"),
    ("serology", "都是阴性", "no"),
]


@pytest.mark.parametrize(
    ("question", "typed", "meant"), TYPED_IN_CHINESE, ids=[q for q, *_ in TYPED_IN_CHINESE]
)
async def test_chinese_answers_in_everyday_words_are_understood_the_first_time(
    browser: httpx.AsyncClient, engine: Engine, question: str, typed: str, meant: str
) -> None:
    """Read back at once, in the option's own words and naming what it answers; stored when confirmed."""
    from dialogs.i18n import translator

    trial = engine.trial
    t = translator("zh_Hans", (trial.domain,))
    asked = trial.question(question)
    page = await _open(browser, "/?lang=zh")
    for earlier, value in TAPS_B1.items():
        if earlier == question:
            break
        page = await _tap(browser, page, value) if page.buttons() else await _post(browser, page, text=value)
    assert t(trial.question(question).texts[0]) in page.text, f"at {question}"
    page = await _post(browser, page, text=typed)
    label = t(next(o.text for o in asked.choices if o.value == meant))
    assert f"您写的是：“{typed}”" in page.text, page.text
    assert f"关于“{t(asked.label)}”，我理解您的回答是：“{label}”" in page.text
    assert question not in str(_answers(engine)), "nothing stored before it is confirmed"
    await _tap(browser, page, "yes")
    [answers] = _answers(engine).values()
    assert answers[question] == meant


async def test_an_answer_costs_a_fixed_few_transactions(browser: httpx.AsyncClient, engine: Engine) -> None:
    # The post (its turn, which finds out whether they are stored) and the page after it (who is
    # asking, what the bot said read and marked shown, read aloud or not: one `Engine.take`). On
    # main at 08b86c7 six, at 585efcf five (who is asking, and read aloud or not, each read on
    # its own). A read added per request shows here.
    transactions = 0

    def began(*_: Any) -> None:
        nonlocal transactions
        transactions += 1

    page = await _open(browser, "/?lang=en")
    for value in ("yes", "yes"):  # the two consents: stored from here on
        page = await _tap(browser, page, value)
    event.listen(engine.store.engine, "begin", began)
    page = await _post(browser, page, text="1")
    assert "How old" in page.text, "on to the next question"
    assert transactions <= 2


async def test_health_readiness_and_metrics_and_metrics_only_for_the_watchers(
    browser: httpx.AsyncClient, engine: Engine, tmp_path: Path
) -> None:
    assert (await browser.get("/healthz")).text == "ok\n"
    assert (await browser.get("/readyz")).text == "ok\n"
    await _tap(browser, await _open(browser, "/?lang=en"), "yes")  # consented: stored, a turn or two
    metrics = await browser.get("/metrics")  # ASGITransport's client is 127.0.0.1
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    turns = re.search(r'^intake_turns_total\{channel="web"\} (\S+)$', metrics.text, re.M)
    assert turns and float(turns[1]) >= 2
    assert 'intake_turn_seconds_bucket{channel="web",le="+Inf"}' in metrics.text
    assert re.search(r"^intake_outbox_replies \d", metrics.text, re.M)
    assert re.search(r'^intake_notifications_waiting\{status="failing"\} 0', metrics.text, re.M)

    # From elsewhere: not found, as if there were none. Through a proxy the app does not trust, the
    # proxy's loopback address does not count.
    async def metrics_from(client: str, options: WebOptions, **headers: str) -> int:
        app = build_web_app(engine, options=options)
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as c:
            return (await c.get("/metrics", headers=headers)).status_code

    plain, proxied = WebOptions(), WebOptions(trusted_proxies=(ip_network("127.0.0.1"),))
    assert await metrics_from("203.0.113.9", plain) == 404
    assert await metrics_from("127.0.0.1", plain, **{"x-forwarded-for": "203.0.113.9"}) == 404
    assert await metrics_from("127.0.0.1", proxied, **{"x-forwarded-for": "203.0.113.9"}) == 404
    assert await metrics_from("127.0.0.1", proxied, **{"x-forwarded-for": "127.0.0.1"}) == 200
    watchers = WebOptions(metrics_from=(ip_network("10.0.0.0/8"),))
    assert await metrics_from("10.1.2.3", watchers) == 200

    # A database whose schema is not this version's: not ready, and nothing more said.
    unmigrated = Engine(
        engine.trials, Store(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"), engine.store.cipher)
    )
    transport = httpx.ASGITransport(app=build_web_app(unmigrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as c:
        assert (await c.get("/healthz")).status_code == 200, "alive all the same"
        ready = await c.get("/readyz")
    assert ready.status_code == 503 and ready.text == "not ready\n"


async def test_rate_limits_per_instance_add_up_to_the_budget_set_for_the_whole_site(engine: Engine) -> None:
    """Each instance counts its own requests (README, "Several instances"): behind a round-robin
    proxy, two instances with half the budget each let one address have the whole budget, and no
    more, however its requests are spread."""
    budget, instances = 20, 2
    options = WebOptions(address_requests_per_minute=budget // instances, tap_settle=0)
    apps = [build_web_app(engine, options=options) for _ in range(instances)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 40000)), base_url="http://t"
        )
        for app in apps
    ]
    statuses = [(await clients[n % instances].get("/healthz")).status_code for n in range(3 * budget)]
    for client in clients:
        await client.aclose()
    assert statuses.count(200) == budget and set(statuses) == {200, 429}
