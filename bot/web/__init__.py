"""The web chat: the same screening in any phone browser, served by the bot itself.

Server-rendered pages and plain form posts, so it works with JavaScript off and in
WeChat's built-in browser; no asset from anywhere else (a strict Content-Security-
Policy says so). Each visitor gets an unguessable session token — a random id and
its keyed signature — in an HttpOnly, SameSite cookie, and a resume link carrying
the same token for another device. Every post carries a CSRF token derived from the
session, and the prompt it answers: a typed answer counts only for the question
the page showed (its sequence is the web's message position).

Each post is one engine input; the page that follows shows what the outbox holds,
and marks it sent (post, redirect, get).

A tap that arrives within `settle` seconds of its page being shown is not used: the
page replaces itself under the finger, and a double tap, or a tremor's second tap,
would otherwise answer the next question with the button that is now in the same place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request, cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot import texts
from bot.notifications import Notifier
from bot.speech.listener import Listener
from bot.speech.speaker import Speaker
from bot.web.console import Console, ConsoleOptions
from bot.web.pages import page_language
from bot.web.sessions import Tokens
from dialogs.engine import Address, Choice, Engine, Reply, Start, Text, Unsupported, parse_text
from dialogs.i18n import pick_locale, translator

log = logging.getLogger(__name__)
CHANNEL = "web"
COOKIE = "intake_session"
HERE = Path(__file__).parent
MAX_BODY = 16 * 1024
MAX_VOICE_BODY = 2 * 1024 * 1024  # a minute of Opus at 32 kbit/s is 240 KB; the bot refuses over a minute
SETTLE = 1.0  # seconds; a second tap comes within a few hundred milliseconds, a reader takes longer
SECURITY_HEADERS = {
    # Everything from the bot's own origin: no CDN, font, analytics or script from elsewhere.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class RateLimit:
    """At most `per_client` requests a minute from one client and `overall` from everyone: enough
    for a person answering, however slowly or quickly; not for a script."""

    def __init__(self, per_client: int, overall: int, window: float = 60.0, clients: int = 10_000) -> None:
        self.per_client, self.overall, self.window, self.clients = per_client, overall, window, clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def allow(self, client: str, now: float) -> bool:
        times = self._seen.pop(client, None) or deque()
        self._seen[client] = times  # most recent last; the least recent are forgotten first
        while len(self._seen) > self.clients:
            self._seen.popitem(last=False)
        for queue in (times, self._all):
            while queue and queue[0] <= now - self.window:
                queue.popleft()
        if len(times) >= self.per_client or len(self._all) >= self.overall:
            return False
        times.append(now)
        self._all.append(now)
        return True


# A page saying why a request was refused, in the visitor's language: (request, text, status, headers).
Refusal = Callable[[Request, str, int, dict[str, str]], Response]


class Guard:
    """In front of every request: the size limit, the rate limits, and the security headers.

    The rate limit counts a person's requests by their session (many people share one
    address behind a mobile carrier's NAT, a hospital's Wi-Fi), and requests without one by
    address. The address is the connection's; behind a reverse proxy listed in
    `trusted_proxies`, the one that proxy puts last in X-Forwarded-For. The app reads it
    from `request.state.address` (new visitors are limited by address there).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        limit: RateLimit,
        refuse: Refusal,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse
        self.trusted = trusted_proxies
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    def address(self, scope: dict[str, Any]) -> str:
        address = (scope.get("client") or ("-", 0))[0]
        if address in self.trusted:
            forwarded = dict(scope.get("headers", [])).get(b"x-forwarded-for", b"").decode("latin-1")
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            return hops[-1] if hops else address
        return address

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        headers = dict(scope.get("headers", []))
        address = self.address(scope)
        scope.setdefault("state", {})["address"] = address
        session = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(COOKIE, "").split(".")[0]
        client = f"session:{session}" if session else f"address:{address}"
        length = headers.get(b"content-length", b"0")
        limit = MAX_VOICE_BODY if scope["path"] == "/voice" else MAX_BODY
        if not length.isdigit() or int(length) > limit:
            refusal = self.refuse(Request(scope), texts.WEB_TOO_BIG, 413, {})
        elif not scope["path"].startswith("/static/") and not self.limit.allow(client, time.monotonic()):
            refusal = self.refuse(Request(scope), texts.WEB_TOO_MANY, 429, {"retry-after": "60"})
        else:
            await self.app(scope, receive, with_headers)
            return
        await refusal(scope, receive, with_headers)


@dataclass(frozen=True)
class WebOptions:
    """How the web chat is served (from the INTAKE_WEB_* settings)."""

    public_url: str | None = None  # https://… behind a TLS proxy: links, QR codes, HSTS
    trusted_proxies: frozenset[str] = frozenset()
    tap_settle: float = SETTLE
    session_days: int = 90
    requests_per_minute: int = 120  # one person's (by session), or one address's without a session
    new_visitors_per_minute: int = 30  # new sessions from one address
    total_requests_per_minute: int = 6000  # everyone's together
    console: ConsoleOptions = field(default_factory=ConsoleOptions)


class WebChat:
    def __init__(
        self,
        engine: Engine,
        notifier: Notifier | None,
        options: WebOptions,
        clock: Callable[[], float] = time.monotonic,
        listener: Listener | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        self.engine = engine
        self.listener = listener
        self.speaker = speaker or Speaker()
        self.notifier = notifier
        self.public_url = (options.public_url or "").rstrip("/")
        self.settle, self.clock = options.tap_settle, clock
        self.tokens = Tokens(engine.store.cipher.lookup, options.session_days)
        # Each new visitor is a participant and a screening in the database: a script must not
        # make thousands, while a waiting room behind one address can all begin at once.
        self.new_visitors = RateLimit(options.new_visitors_per_minute, options.total_requests_per_minute)
        self._shown: OrderedDict[str, tuple[str, float]] = OrderedDict()  # session -> prompt, when
        # Every value is escaped: Jinja2Templates autoescapes .html templates.
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

    # Pages ----------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        session = self.tokens.read(request.cookies.get(COOKIE)).session_id
        hint = _language_hint(request)
        fresh = session is None  # a first visit; a forged, mangled or expired cookie: a new person
        if fresh and not self.new_visitors.allow(request.state.address, self.clock()):
            return self.notice(request, texts.WEB_TOO_MANY_NEW, 429, headers={"retry-after": "60"})
        token = self.tokens.issue(session)  # dated today: a session in use does not expire
        session = self.tokens.read(token).session_id
        assert session is not None
        if fresh or request.query_params:
            # Opened from a link or QR code: ?src= is the campaign, ?lang= a language chosen.
            params = request.query_params
            await self._handle(session, Start(source=params.get("src"), locale=params.get("lang")), hint)
            if request.query_params:
                return self._with_cookie(RedirectResponse("/", status_code=303), token, request)
        address = Address(CHANNEL, session)
        replies = await asyncio.to_thread(self.engine.outbox, address)
        if not replies:  # a reload: where they stand, again
            await self._handle(session, Start(), hint)
            replies = await asyncio.to_thread(self.engine.outbox, address)
        prompt = next((r.prompt for r in reversed(replies) if r.prompt), "")
        await asyncio.to_thread(self.engine.sent, address, replies, _sequence(prompt))
        self._remember_shown(session, prompt)
        # Read aloud, for whoever asked: each question's audio, served from the bot's own cache.
        spoken = [await asyncio.to_thread(self.speaker.audio, r) if r.speak else None for r in replies]
        audio = [f"/speech/{s[0]}.ogg" if s else None for s in spoken]
        page = self._render(request, session, token, replies, prompt, audio)
        return self._with_cookie(page, token, request)

    def _with_cookie(self, response: Response, token: str, request: Request) -> Response:
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.tokens.max_age_days * 86400,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    def _render(
        self,
        request: Request,
        session: str,
        token: str,
        replies: list[Reply],
        prompt: str,
        audio: list[str | None],
    ) -> Response:
        locale = replies[-1].locale if replies else "en"
        t = translator(pick_locale(locale, self.engine.locales))
        base = self.public_url or str(request.base_url).rstrip("/")
        context = {
            **page_language(t),
            "title": t(texts.WEB_TITLE),
            "replies": [replace(r, text=self._with_hint(r, t)) for r in replies],
            "audio": audio,
            "prompt": prompt,
            "csrf": self.tokens.csrf(session),
            "t_answer": t(texts.WEB_ANSWER),
            "t_send": t(texts.WEB_SEND),
            # The voice button only where a model understands the page's language: no false promise.
            "voice": self.listener is not None and self.listener.understands(t.locale),
            "t_speak": t(texts.WEB_SPEAK),
            "t_recording": t(texts.WEB_RECORDING),
            "t_record": t(texts.WEB_RECORD),
            "t_stop": t(texts.WEB_STOP),
            "t_listening": t(texts.WEB_LISTENING),
            "t_not_sent": t(texts.WEB_VOICE_NOT_SENT),
            "t_commands": t(texts.WEB_COMMANDS),
            "t_keep": t(texts.WEB_KEEP_LINK),
            "commands": [(name, t(label)) for name, label in texts.WEB_BUTTONS],
            "resume": f"{base}/resume/{token}",
        }
        return self.templates.TemplateResponse(request, "chat.html", context)

    @staticmethod
    def _with_hint(reply: Reply, t: Any) -> str:
        return reply.text + ("\n" + t(texts.HOW_TO_ANSWER_WEB) if reply.hint else "")

    async def _posted(
        self, request: Request, max_files: int, max_fields: int, max_size: int
    ) -> tuple[str, FormData] | Response:
        """A post's session and form, or the answer to a post without a session (a new one) or
        without its session's CSRF token."""
        session = self.tokens.read(request.cookies.get(COOKIE)).session_id
        if session is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_size)
        if not hmac.compare_digest(str(form.get("csrf", "")), self.tokens.csrf(session)):
            return self.notice(request, texts.WEB_FORM_EXPIRED, 403)
        return session, form

    async def say(self, request: Request) -> Response:
        posted = await self._posted(request, max_files=0, max_fields=8, max_size=MAX_BODY)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        prompt, value, command, text = (str(form.get(k, "")) for k in ("prompt", "value", "command", "text"))
        if (value or command) and self._just_shown(session, prompt):
            return RedirectResponse("/", status_code=303)  # a second tap: the page shows its question again
        if value:
            message: Any = Choice(value, prompt)
        elif command:
            message = parse_text(command)
        else:
            message = parse_text(text)
            if isinstance(message, Text):
                message = replace(message, position=_sequence(prompt))
        await self._handle(session, message, None)
        return RedirectResponse("/", status_code=303)

    async def voice(self, request: Request) -> Response:
        """A recording as the answer to the question the page showed: transcribed in the pool,
        then read back by the engine like every transcript."""
        posted = await self._posted(request, max_files=1, max_fields=4, max_size=MAX_VOICE_BODY)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        upload = form.get("audio")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        address = Address(CHANNEL, session)
        locale = await asyncio.to_thread(self.engine.locale_of, address) or "en"
        if self.listener is None:
            heard: Any = Unsupported("voice_unavailable")
        else:
            heard = await self.listener.listen(data, locale)
        if isinstance(heard, Text):
            heard = replace(heard, position=_sequence(str(form.get("prompt", ""))))
        await self._handle(session, heard, None)
        return RedirectResponse("/", status_code=303)

    async def speech(self, request: Request) -> Response:
        """A question read aloud, from the cache the page that shows it filled."""
        audio = self.speaker.cached(request.path_params["key"])
        if audio is None:
            return Response(status_code=404)
        return Response(audio, media_type="audio/ogg")

    def _remember_shown(self, session: str, prompt: str) -> None:
        self._shown.pop(session, None)
        self._shown[session] = (prompt, self.clock())
        while len(self._shown) > 10_000:  # the oldest pages have long settled
            self._shown.popitem(last=False)

    def _just_shown(self, session: str, prompt: str) -> bool:
        shown, when = self._shown.get(session, ("", float("-inf")))
        return shown == prompt and self.clock() - when < self.settle

    async def resume(self, request: Request) -> Response:
        reading = self.tokens.read(request.path_params["token"])
        if reading.expired:
            return self.notice(request, texts.WEB_LINK_EXPIRED, 410, days=self.tokens.max_age_days)
        if reading.session_id is None:
            return self.notice(request, texts.WEB_LINK_UNKNOWN, 404)
        token = self.tokens.issue(reading.session_id)
        return self._with_cookie(RedirectResponse("/", status_code=303), token, request)

    def notice(
        self,
        request: Request,
        text: str,
        status: int,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Response:
        """A short page, in the visitor's language, saying what went wrong and how to go on."""
        t = translator(pick_locale(_language_hint(request) or "en", self.engine.locales))
        context = {
            **page_language(t),
            "title": t(texts.WEB_TITLE),
            "text": t(text, **params),
            "t_continue": t(texts.WEB_CONTINUE),
        }
        return self.templates.TemplateResponse(
            request, "notice.html", context, status_code=status, headers=headers
        )

    async def _handle(self, session: str, message: Any, hint: str | None) -> None:
        turn = await asyncio.to_thread(self.engine.handle, Address(CHANNEL, session), message, locale=hint)
        if turn.effects and self.notifier is not None:
            self.notifier.wake()


def _language_hint(request: Request) -> str | None:
    """The browser's first language (Accept-Language)."""
    return request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip() or None


def _sequence(prompt: str) -> int | None:
    """A prompt's sequence number ("12.5" -> 5): where a web page stands in the conversation."""
    _, _, sequence = prompt.partition(".")
    return int(sequence) if sequence.isdigit() else None


def build_web_app(
    engine: Engine,
    notifier: Notifier | None = None,
    options: WebOptions | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    deliver: bool = True,
    parts: tuple[str, ...] = ("chat", "console"),
    listener: Listener | None = None,
    speaker: Speaker | None = None,
) -> Any:
    """The ASGI app of the web chat and the coordinator console (`parts`: one of them alone, when
    the console is served on an internal port of its own). With `deliver`, it runs the notifier
    for its lifetime (False when the process runs one already, as the console does)."""
    options = options or WebOptions()
    chat = WebChat(engine, notifier, options, clock, listener, speaker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(notifier.run(), name="notifier") if notifier and deliver else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    https = bool(options.public_url and options.public_url.startswith("https:"))
    routes: list[BaseRoute] = []
    if "console" in parts:
        # Ten sign-in attempts a minute from one address: enough for typing mistakes, not for guessing.
        sign_ins = RateLimit(10, options.total_requests_per_minute)
        allow = lambda address: sign_ins.allow(address, clock())  # noqa: E731
        routes += Console(engine, chat.templates, options.console, allow, https=https).routes()
    if "chat" in parts:
        routes += [
            Route("/", chat.page, methods=["GET"]),
            Route("/say", chat.say, methods=["POST"]),
            Route("/voice", chat.voice, methods=["POST"]),
            Route("/speech/{key:str}.ogg", chat.speech, methods=["GET"]),
            Route("/resume/{token}", chat.resume, methods=["GET"]),
        ]
    routes += [
        # Browsers ask for it on their own; no icon, and no 404 in their consoles.
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Guard(
        Starlette(routes=routes, lifespan=lifespan),
        https=https,
        limit=RateLimit(options.requests_per_minute, options.total_requests_per_minute),
        refuse=chat.notice,
        trusted_proxies=options.trusted_proxies,
    )
