"""The security review's findings, replayed against a real `intake web` process (issue 20).

Each test is the attack or the mistake as it was found, and what must happen instead: a
resume link that takes over someone's session, an upload that never ends, forged cookies
that spend everyone's budget, a cookie that outlives signing out, a TOTP code used twice,
sign-in timing and lockouts, an address a client names itself, a token that is not ASCII,
files others can read, and erased answers left in SQLite's log.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import select
import socket
import sqlite3
import stat
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.test_console import _csrf, _sign_in
from tests.test_processes import WebProcess, intake, serving_web
from tests.test_web import Page

LOOPBACK_PROXY = {"INTAKE_WEB_TRUSTED_PROXIES": "127.0.0.1"}  # so a test can speak for many addresses


def _serving(
    data_dir: Path, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[WebProcess]:
    """`intake web`, answering taps at once (a robot does not need the settling second)."""
    return serving_web(data_dir, {"INTAKE_WEB_TAP_SETTLE": "0", **(env or {})})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """One `intake web` as it is configured by default, for the module's tests that change none of
    its settings: each is a new visitor (a client of its own, no cookie) and names accounts of its
    own, so they share nothing but the process, which costs seconds to start."""
    with _serving(tmp_path_factory.mktemp("served")) as process:
        yield process


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """The same, behind a proxy on loopback: the sign-in tests speak from addresses of their own."""
    with _serving(tmp_path_factory.mktemp("proxied"), LOOPBACK_PROXY) as process:
        yield process


def _client(served: WebProcess, address: str | None = None) -> httpx.AsyncClient:
    """A browser; from `address` when the server trusts loopback as its proxy."""
    headers = {"x-forwarded-for": address} if address else {}
    return httpx.AsyncClient(base_url=served.base, headers=headers)


def _add_user(data_dir: Path, name: str, *options: str) -> tuple[str, str]:
    """An account made as an operator makes one: its password, and its TOTP secret (or "")."""
    added = intake(data_dir, "users", "add", name, "--role", "operator", *options)
    assert added.returncode == 0, added.stderr
    password = re.search(r"password: (\S+)", added.stdout)
    secret = re.search(r"secret=([A-Z2-7]+)", added.stdout)
    assert password
    return password[1], secret[1] if secret else ""


async def _begin(client: httpx.AsyncClient, lang: str = "en") -> Page:
    """Open the chat and agree to the first question: a screening with an answer."""
    page = Page(await client.get(f"/?lang={lang}", follow_redirects=True))
    data = {"csrf": page.field("csrf"), "prompt": page.option_prompt(), "value": "yes"}
    return Page(await client.post("/say", data=data, follow_redirects=True))


async def _resume_link(client: httpx.AsyncClient, page: Page) -> str:
    """Make a link to continue on another device, as the chat page offers."""
    made = Page(await client.post("/resume-link", data={"csrf": page.field("csrf")}))
    link = re.search(r'<a href="https?://[^/"]+(/resume/[^"]+)"', made.html)
    assert link, made.text
    return link[1]


# Session fixation through the resume link ----------------------------------------------


async def test_a_resume_link_asks_before_it_replaces_a_session_and_works_once(served: WebProcess) -> None:
    """Someone sends a person their own resume link: opening it must not put the person in the
    sender's session (where the sender would read everything they type next)."""
    async with _client(served) as attacker, _client(served) as victim:
        link = await _resume_link(attacker, await _begin(attacker))
        assert attacker.cookies["intake_session"].split(".")[0] not in link, "not the cookie"
        mine = await _begin(victim)
        cookie = victim.cookies["intake_session"]
        assert cookie not in mine.html, "the cookie is never printed on a page"

        opened = Page(await victim.get(link))
        assert opened.response.status_code == 200
        assert "Continue it here only if it is your own" in opened.text
        assert "has a pre-screening with answers already" in opened.text, "it says what is at stake"
        assert victim.cookies["intake_session"].split(".")[0] == cookie.split(".")[0], "nothing replaced"
        again = Page(await victim.get("/"))
        assert again.option_prompt() == mine.option_prompt(), "their own screening, where they were"

        forged = await victim.post(
            link,
            data={"csrf": opened.field("csrf")},
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert forged.status_code == 403, "another site cannot press the button"
        assert victim.cookies["intake_session"].split(".")[0] == cookie.split(".")[0]

        taken = await victim.post(link, data={"csrf": opened.field("csrf")})
        assert taken.status_code == 303, "the person's own choice, on the page that asked"
        assert victim.cookies["intake_session"].split(".")[0] != cookie.split(".")[0]
    async with _client(served) as third:
        used = await third.get(link)
        assert used.status_code == 410 and "used already" in used.text, "a link works once"


# The body limit ----------------------------------------------------------------------------


def _chunked(
    served: WebProcess, path: str, content_type: str, total: int, first: bytes, cookie: str
) -> tuple[int, int]:
    """Send a body of `total` bytes with Transfer-Encoding: chunked (no Content-Length), as fast
    as the server takes it; return the status it answers and how much was sent by then."""
    host, port = served.base.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Cookie: {cookie}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent, answered = 0, b""
        try:
            while sent < total:
                data = first if sent == 0 and first else chunk
                connection.sendall(b"%x\r\n%s\r\n" % (len(data), data))
                sent += len(data)
                if select.select([connection], [], [], 0)[0]:
                    break
            else:
                connection.sendall(b"0\r\n\r\n")
            answered = connection.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
    status = re.match(rb"HTTP/1\.1 (\d+)", answered)
    assert status, f"no answer after {sent} bytes: {answered[:200]!r}"
    return int(status[1]), sent


def _peak_memory(served: WebProcess) -> int:
    """The server's peak resident memory, in bytes."""
    status = Path(f"/proc/{served.process.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match
    return int(match[1]) * 1024


def test_a_chunked_upload_past_the_limit_is_refused_as_it_arrives(tmp_path: Path) -> None:
    """Three 200 MB chunked uploads to /voice were accepted and grew the server by 300 MB: the
    bytes are counted as they arrive, on every route, and 413 comes at the limit."""
    multipart = b'--b\r\nContent-Disposition: form-data; name="audio"; filename="a.ogg"\r\n\r\n'
    with _serving(tmp_path) as served:
        visitor = httpx.get(f"{served.base}/coordinator/login")
        cookie = "; ".join(f"{name}={value}" for name, value in visitor.cookies.items())
        cookie += "; " + httpx.get(f"{served.base}/").headers["set-cookie"].split(";")[0]  # a chat session
        before = _peak_memory(served)
        total = 64 * 1024 * 1024
        for path, content_type, first in [
            ("/voice", "multipart/form-data; boundary=b", multipart),
            ("/say", "application/x-www-form-urlencoded", b"text="),
            ("/coordinator/login", "application/x-www-form-urlencoded", b"name="),
        ]:
            status, sent = _chunked(served, path, content_type, total, first, cookie)
            assert status == 413, (path, status)
            assert sent < total, f"{path}: the server read all {sent} bytes before answering"
        grown = _peak_memory(served) - before
    assert grown < 32 * 1024 * 1024, f"the server grew by {grown // 1024 // 1024} MB"


# Rate limits ---------------------------------------------------------------------------------


async def test_rotating_forged_cookies_lock_out_neither_patients_nor_the_console(tmp_path: Path) -> None:
    """A script that sends a new forged cookie with every request is one address, whatever its
    cookies say: it cannot spend the budget everyone shares, and a waiting room of fifty
    people behind one address, the patient already answering and the study team's sign-in
    page all go on."""
    env = {
        **LOOPBACK_PROXY,
        "INTAKE_WEB_TOTAL_REQUESTS_PER_MINUTE": "1000",
        "INTAKE_WEB_ADDRESS_REQUESTS_PER_MINUTE": "250",
    }
    with _serving(tmp_path, env) as served:
        async with _client(served, "203.0.113.10") as patient:
            await _begin(patient)
            async with _client(served, "198.51.100.66") as script:
                codes = []
                for _ in range(600):
                    forged = f"{secrets.token_urlsafe(24)}.20000.20000.{'A' * 43}"
                    forged_cookie = {"cookie": f"intake_session={forged}"}
                    response = await script.get("/favicon.ico", headers=forged_cookie)
                    codes.append(response.status_code)
                assert codes.count(429) >= 350, "the script is held to its address's allowance"
                assert (await script.get("/coordinator/login")).status_code == 200, "the console is not"
            assert (await patient.get("/")).status_code == 200, "the patient goes on"
        async with _client(served, "203.0.113.50") as room:
            for person in range(50):
                room.cookies.clear()  # fifty phones behind the hospital's one address
                page = Page(await room.get("/?lang=en", follow_redirects=True))
                assert page.response.status_code == 200, f"person {person + 1} of the waiting room"
                data = {"csrf": page.field("csrf"), "prompt": page.option_prompt(), "value": "yes"}
                answered = await room.post("/say", data=data, follow_redirects=True)
                assert answered.status_code == 200 and "Separately" in answered.text


# Console sessions ----------------------------------------------------------------------------


async def test_signing_out_ends_the_session_and_its_old_cookie_opens_nothing(served: WebProcess) -> None:
    password, _ = _add_user(served.data_dir, "zhao")
    async with _client(served) as browser:
        assert (await _sign_in(browser, "zhao", password=password)).status_code == 303
        cookie = browser.cookies["intake_console"]
        page = await browser.get("/coordinator/")
        assert page.status_code == 200 and "intake_console=" not in page.headers.get("set-cookie", "")
        out = await browser.post("/coordinator/logout", data={"csrf": _csrf(page.text)})
        assert out.status_code == 303 and _console_cookies(out) == [""], "deleted, no new one"
    async with _client(served) as thief:  # the cookie, kept by someone (or a shared computer)
        again = await thief.get("/coordinator/", headers={"cookie": f"intake_console={cookie}"})
        assert again.status_code == 303 and again.headers["location"] == "/coordinator/login"
        assert _console_cookies(again) == [""]


def _console_cookies(response: httpx.Response) -> list[str]:
    """The values a response sets the console's session cookie to ("": deletes it)."""
    found = [
        re.match(r'intake_console=("?)([^;]*)\1;', header)
        for header in response.headers.get_list("set-cookie")
    ]
    return [match[2] for match in found if match]


async def test_a_disabling_or_a_reset_ends_the_session_at_once(served: WebProcess) -> None:
    for change in ("reset", "disable"):
        password, _ = _add_user(served.data_dir, f"wu.{change}")
        async with _client(served) as browser:
            assert (await _sign_in(browser, f"wu.{change}", password=password)).status_code == 303
            assert (await browser.get("/coordinator/")).status_code == 200
            assert intake(served.data_dir, "users", change, f"wu.{change}").returncode == 0
            ended = await browser.get("/coordinator/")
            assert ended.status_code == 303, f"{change}: the session has ended"


# Signing in ------------------------------------------------------------------------------------


async def test_a_totp_code_is_good_once(served: WebProcess) -> None:
    password, secret = _add_user(served.data_dir, "li.na", "--totp")
    code = pyotp.TOTP(secret).now()
    async with _client(served) as browser:
        assert (await _sign_in(browser, "li.na", code=code, password=password)).status_code == 303
    async with _client(served) as someone_watching:
        replayed = await _sign_in(someone_watching, "li.na", code=code, password=password)
        assert replayed.status_code == 401, "the same code, within its 30 seconds: refused"


async def test_a_refusal_takes_as_long_whether_the_name_exists_or_not(behind_proxy: WebProcess) -> None:
    """The time a refused sign-in takes must not tell which names exist: an unknown name, a
    wrong password and a disabled account each cost one argon2 verification."""
    _add_user(behind_proxy.data_dir, "known")
    _add_user(behind_proxy.data_dir, "gone")
    assert intake(behind_proxy.data_dir, "users", "disable", "gone").returncode == 0
    timings: dict[str, list[float]] = {"unknown": [], "known": [], "gone": []}
    addresses = (f"192.0.2.{n}" for n in range(1, 255))  # each try from an address of its own
    for _ in range(8):
        for name in timings:  # interleaved, so that the machine's load falls on all alike
            async with _client(behind_proxy, next(addresses)) as browser:
                form = await browser.get("/coordinator/login")
                data = {"csrf": _csrf(form.text), "name": name, "password": "wrong guess", "code": ""}
                began = time.perf_counter()
                refused = await browser.post("/coordinator/login", data=data)
                timings[name].append(time.perf_counter() - began)
                assert refused.status_code == 401
    medians = {name: statistics.median(times) for name, times in timings.items()}
    for name in ("unknown", "gone"):
        ratio = medians[name] / medians["known"]
        assert 0.5 < ratio < 2, f"{name}: {medians}"


async def test_a_stranger_cannot_lock_anyone_out(behind_proxy: WebProcess) -> None:
    """Failing on purpose, again and again, slows the stranger down, not the account's owner:
    from another address, or from their own browser even at the stranger's address."""
    password, _ = _add_user(behind_proxy.data_dir, "li.na")
    async with _client(behind_proxy, "203.0.113.5") as own_browser:  # the hospital's address
        assert (await _sign_in(own_browser, "li.na", password=password)).status_code == 303
        own_browser.cookies.delete("intake_console")
        async with _client(behind_proxy, "203.0.113.5") as stranger:
            for _ in range(30):
                assert (await _sign_in(stranger, "li.na", password="guess")).status_code == 401
            assert (await _sign_in(stranger, "li.na", password=password)).status_code == 401, (
                "the stranger's own browser has to wait, even with the password"
            )
        assert (await _sign_in(own_browser, "li.na", password=password)).status_code == 303
    async with _client(behind_proxy, "198.51.100.30") as at_home:
        assert (await _sign_in(at_home, "li.na", password=password)).status_code == 303


async def test_the_sign_in_form_has_a_csrf_token_and_an_origin_check(served: WebProcess) -> None:
    password, _ = _add_user(served.data_dir, "chen")
    async with _client(served) as browser:
        without = await browser.post("/coordinator/login", data={"name": "chen", "password": password})
        assert without.status_code == 403, "no token: refused before the password is looked at"
        elsewhere = await _sign_in(
            browser, "chen", password=password, headers={"origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403, "posted from another site"
        assert "intake_console" not in browser.cookies
        assert (await _sign_in(browser, "chen", password=password)).status_code == 303


# Addresses, cookies, languages -------------------------------------------------------------------


async def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(tmp_path: Path) -> None:
    """A client on loopback (or anywhere) naming a new address in every request must not become
    many visitors: without INTAKE_WEB_TRUSTED_PROXIES nobody's X-Forwarded-For counts."""
    with _serving(tmp_path, {"INTAKE_WEB_NEW_VISITORS_PER_MINUTE": "3"}) as served:
        codes = []
        for n in range(5):
            async with _client(served, f"203.0.113.{n + 1}") as visitor:
                codes.append((await visitor.get("/")).status_code)
        assert codes == [200, 200, 200, 429, 429]
    assert "INTAKE_WEB_TRUSTED_PROXIES does not list" in served.stderr, "the operator is told why"


async def test_the_chat_cookie_is_secure_when_the_public_address_is_https(tmp_path: Path) -> None:
    """Behind a TLS proxy uvicorn does not trust, every request looks like plain HTTP to it:
    INTAKE_PUBLIC_URL says the site is HTTPS."""
    with _serving(tmp_path, {"INTAKE_PUBLIC_URL": "https://screening.example.org"}) as served:
        async with _client(served) as browser:
            first = await browser.get("/")
            assert "secure" in first.headers["set-cookie"].lower().split("; ")


async def test_another_sites_link_cannot_change_a_screenings_language(served: WebProcess) -> None:
    async with _client(served) as browser:
        await _begin(browser, "en")
        crossed = await browser.get(
            "/?lang=ar", headers={"sec-fetch-site": "cross-site"}, follow_redirects=True
        )
        assert '<html lang="en"' in crossed.text and "Separately" in crossed.text
        chosen = await browser.get("/?lang=ar", headers={"sec-fetch-site": "none"}, follow_redirects=True)
        assert '<html lang="ar" dir="rtl">' in chosen.text, "typed in by the person: theirs to choose"


async def test_a_csrf_value_that_is_not_ascii_is_refused_not_an_error(served: WebProcess) -> None:
    async with _client(served) as browser:
        page = Page(await browser.get("/?lang=en", follow_redirects=True))
        data = {"csrf": "é" * 43, "prompt": page.option_prompt(), "value": "yes"}
        assert (await browser.post("/say", data=data)).status_code == 403
        login = await browser.get("/coordinator/login")
        assert login.status_code == 200
        refused = await browser.post(
            "/coordinator/login", data={"csrf": "密码", "name": "x", "password": "y"}
        )
        assert refused.status_code == 403


def test_database_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    with _serving(data) as served:
        assert httpx.get(f"{served.base}/?lang=en", follow_redirects=True).status_code == 200
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in data.iterdir()
            if path.name.startswith(("intake.db", "encryption.key"))
        }
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert set(modes) >= {"intake.db", "intake.db-wal", "intake.db-shm", "intake.db.lock", "encryption.key"}
    assert modes == dict.fromkeys(modes, 0o600), modes


async def test_an_erasure_leaves_nothing_in_sqlites_log(tmp_path: Path) -> None:
    """A person deletes their data from the page: what they said (encrypted, as it is stored) is
    in neither the write-ahead log nor the database file afterwards."""
    with _serving(tmp_path) as served:
        async with _client(served) as person:
            page = await _begin(person)
            data = {"csrf": page.field("csrf"), "prompt": page.field("prompt"), "text": "yes I agree"}
            page = Page(await person.post("/say", data=data, follow_redirects=True))
            with sqlite3.connect(tmp_path / "intake.db") as database:
                stored = [
                    value
                    for query in (
                        "SELECT raw FROM answer",
                        "SELECT sealed FROM answer",
                        "SELECT ref FROM participant",
                        "SELECT sealed FROM outgoing_reply",
                        "SELECT pending_answer FROM screening",
                    )
                    for (value,) in database.execute(query)
                    if value
                ]
            database.close()
            assert len(stored) >= 2, stored  # the session id, and the words typed
            wal = tmp_path / "intake.db-wal"
            assert any(value.encode() in wal.read_bytes() for value in stored), "there before"
            page = Page(await person.get("/"))
            form = {"csrf": page.field("csrf"), "prompt": page.field("prompt"), "command": "/delete"}
            page = Page(await person.post("/say", data=form, follow_redirects=True))
            assert "delete everything you have told us" in page.text
            form = {"csrf": page.field("csrf"), "prompt": page.option_prompt(), "value": "yes"}
            assert (await person.post("/say", data=form)).status_code == 303
            left = wal.read_bytes() + (tmp_path / "intake.db").read_bytes()
            assert [value for value in stored if value.encode() in left] == []


# The command line ------------------------------------------------------------------------------


def test_intake_web_takes_host_and_port_as_uvicorn_does(tmp_path: Path) -> None:
    import subprocess
    import sys

    from bot.testing.ports import free_port
    from tests.test_processes import ROOT, _env, get_when_up

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert get_when_up(f"http://127.0.0.1:{port}/?lang=en").status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"web chat at http://127.0.0.1:{port}/" in stderr
