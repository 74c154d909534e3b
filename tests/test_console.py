"""The coordinator console over HTTP: sign-in with a second factor, roles, trials, the card
and its follow-up, the funnel, exports, CSRF and the audit trail. The app is the one
`intake web` serves; a referral comes from a real web screening."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import pyotp
import pytest

from bot.accounts import hash_password
from bot.config import Settings
from bot.web import WebOptions, build_web_app
from bot.web.console import ConsoleOptions
from bot.wiring import build_engine
from dialogs.engine import Engine
from storage.models import Account
from tests.conftest import TAPS_B1
from tests.test_web import Page, _post, _tap

PASSWORD = "correct horse battery"
URLS = [
    "/coordinator/",
    "/coordinator/calls",
    "/coordinator/funnel",
    "/coordinator/exports",
    "/coordinator/exports/nct07295067/full.csv",
    "/coordinator/audit",
]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]


@pytest.fixture
async def app(engine: Engine) -> AsyncIterator[object]:
    options = WebOptions(tap_settle=0, console=ConsoleOptions(locale="en", timezone="UTC"))
    yield build_web_app(engine, options=options)


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test")


def _account(
    engine: Engine, name: str, role: str, trials: list[str] | None = None, totp: bool = False
) -> str:
    """An account with PASSWORD; returns its TOTP secret (or "")."""
    secret = pyotp.random_base32() if totp else ""
    with engine.store.transaction() as records:
        account = records.save_account(
            Account(name=name, role=role, trials=trials or [], password_hash=hash_password(PASSWORD))
        )
        if totp:
            records.set_totp_secret(account, secret)
            account.totp_required = True
            records.save_account(account)
    return secret


async def _sign_in(
    client: httpx.AsyncClient,
    name: str,
    secret: str = "",
    code: str | None = None,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Sign in as a browser does: the form (its CSRF token, bound to a cookie), then the post."""
    code = code if code is not None else (pyotp.TOTP(secret).now() if secret else "")
    form = await client.get("/coordinator/login", headers=headers)
    data = {"csrf": _csrf(form.text), "name": name, "password": password, "code": code}
    return await client.post("/coordinator/login", data=data, headers=headers)


async def _referral_from_the_web(app: object, name: str = "Li Wei") -> str:
    """A whole web screening from a poster's link; returns the referral's reference."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake.test", follow_redirects=True
    ) as phone:
        page = Page(await phone.get("/?src=poster_beijing&lang=en"))
        for value in {**TAPS_B1, "contact_name": name}.values():
            page = await (_tap(phone, page, value) if page.buttons() else _post(phone, page, text=value))
        page = await _tap(phone, page, "confirm")
    match = re.search(r"Your reference is (\w+)", page.text)
    assert match, page.text
    return match[1]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return unescape(match[1])


def _audit(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.store.transaction() as records:
        return [(e.actor, e.action, e.subject) for e in records.audit_trail()]


async def test_every_console_page_refuses_a_stranger(app: object, engine: Engine) -> None:
    reference = await _referral_from_the_web(app)
    async with _client(app) as stranger:
        for url in [*URLS, f"/coordinator/referrals/{reference}"]:
            response = await stranger.get(url)
            assert response.status_code == 303 and response.headers["location"] == "/coordinator/login", url
        forged = await stranger.get("/coordinator/", headers={"cookie": "intake_console=1.1.1.1." + "A" * 43})
        assert forged.status_code == 303
        posted = await stranger.post(f"/coordinator/referrals/{reference}", data={"status": "contacted"})
        assert posted.status_code == 303
    with engine.store.transaction() as records:
        assert records.referral(reference).status == "pending"  # type: ignore[union-attr]


async def test_a_coordinator_signs_in_with_a_second_factor_and_follows_up_a_web_referral(
    app: object, engine: Engine
) -> None:
    secret = _account(engine, "li.na", "coordinator", ["NCT07295067"], totp=True)
    reference = await _referral_from_the_web(app, name="Zhang <b>San</b>")
    async with _client(app) as browser:
        assert (await _sign_in(browser, "li.na", code="000000")).status_code == 401, "a wrong code"
        assert (await _sign_in(browser, "li.na", code="")).status_code == 401, "no code"
        signed_in = await _sign_in(browser, "li.na", secret)
        assert signed_in.status_code == 303 and "httponly" in signed_in.headers["set-cookie"].lower()
        listing = await browser.get("/coordinator/?source=poster_beijing")
        assert reference in listing.text and "poster_beijing" in listing.text
        card = await browser.get(f"/coordinator/referrals/{reference}")
        assert "Zhang &lt;b&gt;San&lt;/b&gt;" in card.text and "+8613812345678" in card.text
        assert "poster_beijing" in card.text and "May be a candidate" in card.text
        note = "Called at 10:00, <script>x</script> prefers mornings"
        changed = await browser.post(
            f"/coordinator/referrals/{reference}",
            data={"csrf": _csrf(card.text), "status": "contacted", "note": note},
        )
        assert changed.status_code == 303
        card = await browser.get(f"/coordinator/referrals/{reference}")
        assert "prefers mornings" in card.text and "<script>x" not in card.text
        assert re.search(r"<td>li\.na</td><td>Contacted</td>", card.text)
        forged = await browser.post(
            f"/coordinator/referrals/{reference}", data={"csrf": "x", "status": "enrolled"}
        )
        assert forged.status_code == 403
    with engine.store.transaction() as records:
        assert records.referral(reference).status == "contacted"  # type: ignore[union-attr]
        # The Telegram card's buttons write the same history.
        records.set_referral_status(reference, "booked", "telegram:42")
        history = [(e.actor, e.status, note) for e, note in records.referral_history(reference)]
    assert history == [("console:li.na", "contacted", note), ("telegram:42", "booked", None)]
    trail = _audit(engine)
    for row in [
        ("console:li.na", "console_login_refused", "console"),
        ("console:li.na", "console_login", "console"),
        ("console:li.na", "viewed_referrals", "referrals"),
        ("console:li.na", "viewed_referral", f"referral:{reference}"),
        ("console:li.na", "referral_status", f"referral:{reference}"),
    ]:
        assert row in trail, row


async def test_repeated_failures_slow_that_name_down_from_that_address_only(
    app: object, engine: Engine
) -> None:
    """Five wrong passwords for a name from one address: the next try from there waits, even with
    the right password. The owner elsewhere is not held back: nobody can lock an account."""
    _account(engine, "wang", "coordinator")
    async with _client(app) as guesser:
        for _ in range(5):
            wrong = await _sign_in(guesser, "wang", password="guess")
            assert wrong.status_code == 401 and "not right" in wrong.text
        waiting = await _sign_in(guesser, "wang")
        assert waiting.status_code == 401, "from there, the right password waits its turn"
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.20", 5000)), base_url="http://intake.test"
    )
    async with elsewhere as person:
        assert (await _sign_in(person, "wang")).status_code == 303, "the owner, from their own address"
    refusals = [e for e in _audit(engine) if e[1] == "console_login_refused"]
    assert refusals[0][0] == "console:wang" and len(refusals) == 6


async def test_a_monitor_sees_no_identifiers_and_changes_nothing(app: object, engine: Engine) -> None:
    _account(engine, "auditor", "monitor")
    reference = await _referral_from_the_web(app)
    async with _client(app) as monitor:
        assert (await _sign_in(monitor, "auditor")).status_code == 303
        listing = await monitor.get("/coordinator/")
        assert listing.status_code == 200 and "poster_beijing" in listing.text
        assert reference not in listing.text and "Li Wei" not in listing.text
        assert (await monitor.get(f"/coordinator/referrals/{reference}")).status_code == 403
        assert (await monitor.get("/coordinator/calls")).status_code == 403
        assert (await monitor.get("/coordinator/exports/nct07295067/contact.csv")).status_code == 403
        assert (await monitor.get("/coordinator/audit")).status_code == 403
        export = await monitor.get("/coordinator/exports/nct07295067/deidentified.csv")
        assert export.status_code == 200 and "Li Wei" not in export.text and reference not in export.text
    with engine.store.transaction() as records:
        assert records.referral(reference).status == "pending"  # type: ignore[union-attr]
    assert ("console:auditor", "exported", "referrals") in _audit(engine)


async def test_a_coordinator_sees_only_their_trials(app: object, engine: Engine) -> None:
    _account(engine, "other", "coordinator", ["NCT00000000"])
    reference = await _referral_from_the_web(app)
    async with _client(app) as coordinator:
        assert (await _sign_in(coordinator, "other")).status_code == 303
        assert reference not in (await coordinator.get("/coordinator/")).text
        assert (await coordinator.get(f"/coordinator/referrals/{reference}")).status_code == 404
        assert (await coordinator.get("/coordinator/calls")).text.count(reference) == 0
        assert (await coordinator.get("/coordinator/exports/nct07295067/contact.csv")).status_code == 403
        refused = await coordinator.post(
            f"/coordinator/referrals/{reference}",
            data={"csrf": _csrf((await coordinator.get("/coordinator/")).text), "status": "contacted"},
        )
        assert refused.status_code == 404
    with engine.store.transaction() as records:
        assert records.referral(reference).status == "pending"  # type: ignore[union-attr]


async def test_a_reset_or_a_disabling_ends_every_session(app: object, engine: Engine) -> None:
    _account(engine, "zhao", "operator")
    async with _client(app) as browser:
        assert (await _sign_in(browser, "zhao")).status_code == 303
        assert (await browser.get("/coordinator/audit")).status_code == 200
        with engine.store.transaction() as records:
            account = records.account("zhao")
            assert account is not None
            records.end_console_sessions(account.id or 0)  # what `intake users reset` and `disable` do
        assert (await browser.get("/coordinator/audit")).status_code == 303


async def test_console_sessions_end_when_idle_or_too_old(app: object, engine: Engine) -> None:
    """The session's times are the database's: half an hour idle, or twelve hours after signing in
    however busy, and it has ended."""
    from sqlmodel import select

    from storage.models import ConsoleSession, utcnow

    _account(engine, "zhao", "operator")

    def age(idle: timedelta, began: timedelta) -> None:
        with engine.store.transaction() as records:
            [session] = records.session.exec(select(ConsoleSession))
            session.used_at, session.began_at = utcnow() - idle, utcnow() - began
            records.session.add(session)

    async with _client(app) as browser:
        assert (await _sign_in(browser, "zhao")).status_code == 303
        age(idle=timedelta(minutes=29), began=timedelta(hours=11, minutes=59))
        assert (await browser.get("/coordinator/")).status_code == 200
        age(idle=timedelta(minutes=31), began=timedelta(hours=1))
        assert (await browser.get("/coordinator/")).status_code == 303, "idle for more than 30 minutes"
    async with _client(app) as browser:
        assert (await _sign_in(browser, "zhao")).status_code == 303
        age(idle=timedelta(seconds=5), began=timedelta(hours=12, minutes=1))
        assert (await browser.get("/coordinator/")).status_code == 303, "more than 12 hours since signing in"


async def test_the_funnel_and_the_exports(app: object, engine: Engine) -> None:
    _account(engine, "zhao", "operator")
    reference = await _referral_from_the_web(app)
    async with _client(app) as operator:
        assert (await _sign_in(operator, "zhao")).status_code == 303
        funnel = await operator.get("/coordinator/funnel")
        assert "<svg" in funnel.text and "poster_beijing" in funnel.text and "By week" in funnel.text
        for kind in ("contact", "full", "deidentified"):
            export = await operator.get(f"/coordinator/exports/nct07295067/{kind}.csv")
            assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
            assert (reference in export.text) == (kind != "deidentified")
        audit = await operator.get("/coordinator/audit")
        assert "Exported" in audit.text and "Funnel viewed" in audit.text, "readable actions"
        headings = re.findall(r"<th>([^<]*)</th>", audit.text)
        assert headings == ["When", "Who", "What", "About", "Details"], "none of them blank"
    with engine.store.transaction() as records:
        referrals = [r.id for r in records.referrals()]
    assert referrals == [reference]
    kinds = [e for e in _audit(engine) if e[1] == "exported"]
    assert len(kinds) == 3


async def test_the_console_speaks_the_coordinators_language(app: object, engine: Engine) -> None:
    _account(engine, "li.na", "operator")
    reference = await _referral_from_the_web(app)
    async with _client(app) as browser:
        login = await browser.get("/coordinator/login?lang=zh_Hans")
        assert '<html lang="zh-Hans"' in login.text
        assert '<label for="name">账号</label>' in login.text, "an account name, not a person's (姓名)"
        await _sign_in(browser, "li.na")
        links = None
        for url in [*URLS[:4], URLS[5], f"/coordinator/referrals/{reference}", "/coordinator/account"]:
            page = await browser.get(url)
            assert '<html lang="zh-Hans"' in page.text, f"{url}: the language chosen is kept"
            shown = re.search(r'<p class="languages">(.*?)</p>', page.text, re.S)
            assert shown and (links is None or shown[1] == links), f"{url}: the same language links"
            links = shown[1]
        assert ">English<" in (links or "") and ">العربية<" in (links or ""), "each in its own name"
        arabic = await browser.get("/coordinator/?lang=ar")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "اسم الحساب" in (await browser.get("/coordinator/login")).text


async def test_people_change_their_own_password_and_second_factor(app: object, engine: Engine) -> None:
    """From the console, with their current password; their other sessions end."""
    _account(engine, "li.na", "coordinator")
    new_password = "a much longer passphrase"
    async with _client(app) as browser, _client(app) as elsewhere:
        assert (await _sign_in(browser, "li.na")).status_code == 303
        assert (await _sign_in(elsewhere, "li.na")).status_code == 303
        page = await browser.get("/coordinator/account")
        csrf = _csrf(page.text)
        form = {"csrf": csrf, "current": "not it", "new": new_password, "again": new_password}
        wrong = await browser.post("/coordinator/account/password", data=form)
        assert "not your current password" in wrong.text
        short = {**form, "current": PASSWORD, "new": "short", "again": "short"}
        assert "was not changed" in (await browser.post("/coordinator/account/password", data=short)).text
        changed = await browser.post("/coordinator/account/password", data={**form, "current": PASSWORD})
        assert "Your password is changed" in changed.text
        assert (await elsewhere.get("/coordinator/")).status_code == 303, "the other session has ended"
        assert (await browser.get("/coordinator/")).status_code == 200, "this one goes on"

        setup = await browser.post(
            "/coordinator/account/second-factor", data={"csrf": csrf, "current": new_password}
        )
        secret = re.search(r"type in the key ([A-Z2-7]+)", setup.text)
        sealed = re.search(r'name="sealed" value="([^"]+)"', setup.text)
        assert secret and sealed and 'src="data:image/svg+xml' in setup.text, "a QR code to scan"
        data = {"csrf": csrf, "sealed": unescape(sealed[1])}
        wrong_code = await browser.post("/coordinator/account/second-factor", data={**data, "code": "000000"})
        assert "code is not right" in wrong_code.text
        done = await browser.post(
            "/coordinator/account/second-factor", data={**data, "code": pyotp.TOTP(secret[1]).now()}
        )
        assert "Your new second factor is set up" in done.text
    async with _client(app) as later:
        assert (await _sign_in(later, "li.na", password=new_password)).status_code == 401, "a code is needed"
    actions = [action for actor, action, _ in _audit(engine) if actor == "console:li.na"]
    assert "password_changed" in actions and "second_factor_changed" in actions


async def test_intake_users_gives_out_accounts_that_sign_in_and_takes_them_back(tmp_path: Path) -> None:
    from tests.test_processes import intake

    assert intake(tmp_path, "migrate").returncode == 0
    added = intake(
        tmp_path, "users", "add", "li.na", "--role", "coordinator", "--trial", "NCT07295067", "--totp"
    )
    assert added.returncode == 0, added.stderr
    password = re.search(r"password: (\S+)", added.stdout)
    secret = re.search(r"secret=([A-Z2-7]+)", added.stdout)
    assert password and secret and "otpauth://totp/" in added.stdout
    assert intake(tmp_path, "users", "add", "li.na", "--role", "monitor").returncode == 2, "taken"
    listed = intake(tmp_path, "users", "list")
    assert "li.na\tcoordinator\tNCT07295067\tTOTP\tactive" in listed.stdout
    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    app = build_web_app(engine, options=WebOptions(console=ConsoleOptions(locale="en")))
    async with _client(app) as browser:
        assert (await _sign_in(browser, "li.na", secret[1], password=password[1])).status_code == 303
        assert (await browser.get("/coordinator/")).status_code == 200
        reset = intake(tmp_path, "users", "reset", "li.na")
        assert reset.returncode == 0 and password[1] not in reset.stdout
        assert (await browser.get("/coordinator/")).status_code == 303, "the reset ended the session"
        old = await _sign_in(browser, "li.na", secret[1], password=password[1])
        assert old.status_code == 401, "the old password"
        assert intake(tmp_path, "users", "disable", "li.na").returncode == 0
        new = re.search(r"password: (\S+)", reset.stdout)
        assert new
        refused = await _sign_in(browser, "li.na", secret[1], password=new[1])
        assert refused.status_code == 401, "disabled"
    assert "disabled" in intake(tmp_path, "users", "list").stdout
    actions = [a for _, a, _ in _audit(engine)]
    assert {"account_added", "account_reset", "account_disabled"} <= set(actions)
    assert intake(tmp_path, "users", "reset", "nobody").returncode == 2


async def test_fhir_exports_validate_and_keep_every_answer(
    app: object, engine: Engine, tmp_path: Path
) -> None:
    """`intake export --format fhir`: the trial as a Questionnaire in every language, each screening
    as a QuestionnaireResponse; parsed back, every stored answer is there by its linkId."""
    from fhir.resources.R4B.bundle import Bundle

    from tests.test_processes import intake

    reference = await _referral_from_the_web(app)
    full = intake(tmp_path, "export", "--format", "fhir", "--kind", "full")
    assert full.returncode == 0, full.stderr
    bundle = Bundle.model_validate_json(full.stdout)
    questionnaire, *responses = [entry.resource for entry in bundle.entry]
    assert questionnaire.get_resource_type() == "Questionnaire"
    assert [item.linkId for item in questionnaire.item] == [q.id for q in engine.trial.questions]
    translations = questionnaire.item[0].text__ext.extension
    languages = {next(e.valueCode for e in t.extension if e.url == "lang") for t in translations}
    assert languages == {"zh-Hans", "zh-Hant", "ru", "es", "ar"}
    [response] = responses
    with engine.store.transaction() as records:
        [screening] = records.screenings()
        stored = records.answers(screening.id or 0)
    exported = {}
    for item in response.item:
        [answer] = item.answer
        exported[item.linkId] = (
            answer.valueCoding.code if answer.valueCoding else answer.valueInteger or answer.valueString
        )
    assert exported == stored, "a round trip keeps every answer, the consent to store them too"
    outcome = [e.valueCode for e in response.extension if e.url.endswith(":outcome")]
    assert outcome == ["likely_eligible"] and response.status == "completed"

    deidentified = Bundle.model_validate_json(
        intake(tmp_path, "export", "--format", "fhir", "--kind", "deidentified").stdout
    )
    anonymous = deidentified.entry[1].resource
    linked = {item.linkId for item in anonymous.item}
    assert "contact_name" not in linked and "contact_phone" not in linked and "age" in linked
    assert "screening" not in anonymous.id and len(str(anonymous.authored)) <= 7
    csv_export = intake(tmp_path, "export", "--kind", "full", "--lang", "en")
    assert reference in csv_export.stdout and "Li Wei" in csv_export.stdout
    call_list = intake(tmp_path, "export", "--format", "fhir")  # the default kind is the call list
    assert call_list.returncode == 2 and not call_list.stdout, "never everything in place of a call list"
    assert [a for _, a, _ in _audit(engine)].count("exported") == 3

    _account(engine, "zhao", "operator")
    _account(engine, "li.na", "coordinator")
    async with _client(app) as operator, _client(app) as coordinator:
        await _sign_in(operator, "zhao")
        download = await operator.get("/coordinator/exports/nct07295067/fhir-full.json")
        assert download.status_code == 200 and download.headers["content-type"] == "application/fhir+json"
        Bundle.model_validate_json(download.content)
        await _sign_in(coordinator, "li.na")
        assert (await coordinator.get("/coordinator/exports/nct07295067/fhir-full.json")).status_code == 403


def test_the_console_can_have_an_internal_port_of_its_own(tmp_path: Path) -> None:
    """INTAKE_CONSOLE_PORT: the console only there (e.g. on the hospital's network), the web chat
    only on the public port."""
    import subprocess
    import sys

    from bot.testing.ports import free_port
    from tests.test_processes import ROOT, _env, get_when_up

    chat_port, console_port = free_port(), free_port()
    env = {**_env(tmp_path), "INTAKE_WEB_PORT": str(chat_port), "INTAKE_CONSOLE_PORT": str(console_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        chat, console = f"http://127.0.0.1:{chat_port}", f"http://127.0.0.1:{console_port}"
        assert "<form" in get_when_up(f"{chat}/?lang=en").text
        assert get_when_up(f"{console}/coordinator/login").status_code == 200
        assert httpx.get(f"{chat}/coordinator/login").status_code == 404, "not on the public port"
        assert httpx.get(f"{console}/").status_code == 404, "no chat on the internal port"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"coordinator console at http://127.0.0.1:{console_port}/coordinator/" in stderr
    assert process.returncode == 0 or process.returncode < 0, stderr


async def test_sign_ins_from_one_address_are_slowed_down(app: object, engine: Engine) -> None:
    """Guessing across many names from one address: after twenty failures, even a right password
    from there waits (and nobody's account is locked by it, nor any name typed kept)."""
    _account(engine, "chen", "coordinator")
    async with _client(app) as guesser:
        for n in range(20):
            assert (await _sign_in(guesser, f"user{n}", password="guess")).status_code == 401
        assert (await _sign_in(guesser, "chen")).status_code == 401
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.21", 5000)), base_url="http://intake.test"
    )
    async with elsewhere as person:
        assert (await _sign_in(person, "chen")).status_code == 303
    actors = {actor for actor, action, _ in _audit(engine) if action == "console_login_refused"}
    assert actors == {"console:?", "console:chen"}, "what strangers typed is not kept"


def test_notices_link_to_the_console_where_coordinators_reach_it(tmp_path: Path) -> None:
    def address(**configured: object) -> str | None:
        return Settings(_env_file=None, data_dir=tmp_path, **configured).console_address  # type: ignore[call-arg]

    assert address(public_url="https://s.example.org/") == "https://s.example.org/coordinator"
    assert address(public_url="https://s.example.org", console_port=9090) is None, "not on the public port"
    assert address(console_port=9090, console_url="https://intranet.example/coordinator/") == (
        "https://intranet.example/coordinator"
    )
    assert address() is None
