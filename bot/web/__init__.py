"""The web chat: the same screening in any phone browser, served by the bot itself.

Server-rendered pages and plain form posts, so it works with JavaScript off and in
WeChat's built-in browser; no asset from anywhere else (a strict Content-Security-
Policy says so). Each visitor gets an unguessable session token — a random id and
its keyed signature — in an HttpOnly, SameSite cookie. To continue on another device
they make a resume link, which has a token of its own and works once; opening it
asks before anything happens (`bot.web.resume`). Every post carries a CSRF token
derived from the session, and the prompt it answers: a typed answer counts only for
the question the page showed (its sequence is the web's message position).

Each post is one engine input; the page that follows shows what the outbox holds,
and marks it sent (post, redirect, get).

Nothing of a visitor is stored before they consent (`dialogs.before_consent`): opening the page,
a link preview, choosing a language or a study, asking for help are no participant, no screening
and no start in the funnel. Until then where they stand travels in a signed cookie of its own,
and what the bot said to them in another, until the page after the post shows it.

A tap that arrives within `settle` seconds of its page being shown is not used: the
page replaces itself under the finger, and a double tap, or a tremor's second tap,
would otherwise answer the next question with the button that is now in the same place.
The page's buttons post back when it was made (signed), so this holds whichever instance
of the bot serves the tap; nothing a request needs lives in one process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot import health, texts
from bot.notifications import Notifier
from bot.speech.listener import Listener
from bot.speech.speaker import Speaker
from bot.web.console import Console, ConsoleOptions
from bot.web.guard import Guard, Limits, Network, Window, source_of
from bot.web.pages import language_of, matches, page_language
from bot.web.resume import ResumeLinks
from bot.web.sessions import Tokens
from dialogs import before_consent
from dialogs.before_consent import Before, Unstored
from dialogs.engine import Address, Choice, Engine, Reply, Start, Text, Turn, Unsupported, parse_text
from dialogs.i18n import pick_locale, translator

log = logging.getLogger(__name__)
CHANNEL = "web"
COOKIE = "intake_session"
BEFORE_COOKIE = "intake_before"  # where a visitor stands before consent
UNSHOWN_COOKIE = "intake_unshown"  # what the bot said to them, until the next page shows it
MAX_BEFORE = 3800  # bytes; a browser keeps a cookie of up to 4096, its name and attributes included
HERE = Path(__file__).parent
MAX_BODY = 16 * 1024
MAX_VOICE_BODY = 2 * 1024 * 1024  # a minute of Opus at 32 kbit/s is 240 KB; the bot refuses over a minute
SETTLE = 1.0  # seconds; a second tap comes within a few hundred milliseconds, a reader takes longer
UNSHOWN_SECONDS = 300  # the page after a post asks for them at once; a cookie left over goes soon


def body_limit(path: str) -> int:
    """The most a request to `path` may bring."""
    return MAX_VOICE_BODY if path == "/voice" else MAX_BODY


@dataclass(frozen=True)
class WebOptions:
    """How the web chat is served (from the INTAKE_WEB_* settings)."""

    public_url: str | None = None  # https://… behind a TLS proxy: links, QR codes, HSTS, Secure cookies
    trusted_proxies: tuple[Network, ...] = ()
    tap_settle: float = SETTLE
    session_days: int = 90  # unused for this long, a session ends
    session_lifetime_days: int = 180  # and however often used, this long after it began
    resume_days: int = 7
    requests_per_minute: int = 120  # one person's (by verified session)
    address_requests_per_minute: int = 2400  # one address's, everyone behind it together
    new_visitors_per_minute: int = 60  # new sessions from one address
    total_requests_per_minute: int = 6000  # everyone's together
    console_requests_per_minute: int = 600  # the console's, from one address
    metrics_from: tuple[Network, ...] = health.LOOPBACK  # who may read /metrics
    console: ConsoleOptions = field(default_factory=ConsoleOptions)

    @property
    def https(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https:"))


class WebChat:
    def __init__(
        self,
        engine: Engine,
        notifier: Notifier | None,
        options: WebOptions,
        clock: Callable[[], float] = time.time,
        listener: Listener | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        self.engine = engine
        self.listener = listener
        self.speaker = speaker or Speaker()
        self.notifier = notifier
        self.public_url = (options.public_url or "").rstrip("/")
        self.https = options.https
        # The wall clock: a page made by one instance may be tapped on another.
        self.settle, self.clock = options.tap_settle, clock
        self.tokens = Tokens(engine.store.cipher.lookup, options.session_days, options.session_lifetime_days)
        self.links = ResumeLinks(engine.store, CHANNEL, options.resume_days)
        # Each new visitor costs a transaction (undone, until they consent): a script must not
        # make thousands, while a waiting room behind one address can all begin at once.
        self.new_visitors = Window(options.new_visitors_per_minute)
        # Every value is escaped: Jinja2Templates autoescapes .html templates.
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["language_of"] = language_of

    # Pages ----------------------------------------------------------------------

    def session_of(self, request: Request) -> str | None:
        """The request's session, if its cookie is good."""
        return self.tokens.read(request.cookies.get(COOKIE)).session_id

    async def page(self, request: Request) -> Response:
        reading = self.tokens.read(request.cookies.get(COOKIE))
        hint = _language_hint(request)
        fresh = reading.session_id is None  # a first visit; a forged, mangled or expired cookie: a new person
        if fresh and not self.new_visitors.allow(source_of(request.state.address), self.clock()):
            return self.notice(request, texts.WEB_TOO_MANY_NEW, 429, headers={"retry-after": "60"})
        token = self.tokens.issue(reading.session_id, reading.began)  # used today: it does not expire in use
        session = self.tokens.read(token).session_id
        assert session is not None
        visitor = self._carried(request, session)  # stored or not: the turn or the page finds out
        params = request.query_params
        # Opened from a link or QR code: ?src= is the campaign, ?lang= a language chosen. For a
        # screening begun already, only the person's own doing counts (typed in, a bookmark, a
        # QR code, this site's own link): another site's link cannot change its language.
        followed = fresh or request.headers.get("sec-fetch-site") in ("same-origin", "none")
        if params and followed:
            start = Start(source=params.get("src"), locale=params.get("lang"), trial=params.get("trial"))
            await self._handle(visitor, start, hint)
        elif fresh:
            await self._handle(visitor, Start(), hint)
        if params:
            return self._with_cookie(RedirectResponse("/", status_code=303), token, visitor)
        replies, read_aloud = await self._take(visitor)
        if not replies:  # a reload: where they stand, again
            await self._handle(visitor, Start(), hint)
            replies, read_aloud = await self._take(visitor)
        prompt = next((r.prompt for r in reversed(replies) if r.prompt), "")
        # Read aloud, for whoever asked: each question's audio, made now into this instance's cache.
        # Its address carries the reply, encrypted under the store's key: another instance asked
        # for it makes it again.
        spoken = [await asyncio.to_thread(self._spoken, r) if r.speak else None for r in replies]
        audio = [
            f"/speech/{self.engine.store.cipher.seal(r.to_data())}.ogg" if s else None
            for r, s in zip(replies, spoken, strict=True)
        ]
        page = self._render(request, visitor, replies, prompt, audio, read_aloud)
        return self._with_cookie(page, token, visitor)

    async def _visitor(self, request: Request, session: str) -> Visitor:
        """Who is asking: stored already, or where they stand before consent (their cookie's)."""
        visitor = self._carried(request, session)
        visitor.stored = await asyncio.to_thread(self._stored, session)
        if visitor.stored:
            visitor.before = None
        return visitor

    def _carried(self, request: Request, session: str) -> Visitor:
        """Who is asking, as far as their cookies say: whether they are stored is not known yet
        (the turn or the page that reads them finds out, in its own transaction)."""
        carried = request.cookies.get(BEFORE_COOKIE)
        before = self.tokens.open_before(session, carried)
        said = request.cookies.get(UNSHOWN_COOKIE)
        unshown = [Reply.from_data(data) for data in self.tokens.open_unshown(session, said)]
        return Visitor(session, None, before, carried is not None, unshown, said is not None)

    def _stored(self, session: str) -> bool:
        return self.engine.store.run(lambda records: records.participant(CHANNEL, session) is not None)

    async def _take(self, visitor: Visitor) -> tuple[list[Reply], bool]:
        """What the bot has said to the visitor that no page has shown yet, as reaching them (the
        page about to be rendered shows it), and whether to read it aloud. Someone stored: read
        and marked in one transaction, which also tells whether they are."""
        unshown, visitor.unshown = visitor.unshown, []
        if visitor.stored is not False:
            address = Address(CHANNEL, visitor.session_id)
            shown = await asyncio.to_thread(self.engine.take, address, _position)
            visitor.stored = shown is not None
            if shown is not None:
                visitor.before = None
                return [*unshown, *shown.replies], shown.read_aloud
        if visitor.before is not None:
            visitor.before = before_consent.shown(visitor.before, unshown, _position(unshown))
        return unshown, bool(visitor.before and visitor.before["read_aloud"])

    def _spoken(self, reply: Reply) -> tuple[str, bytes] | None:
        """A reply read aloud; a command it names is read as the page's button for it."""
        t = translator(pick_locale(reply.locale, self.engine.locales))
        return self.speaker.audio(reply, {name: t(label) for name, label in texts.WEB_BUTTONS})

    def _with_cookie(self, response: Response, token: str, visitor: Visitor | None = None) -> Response:
        """The response with the session's cookie, and where its visitor stands before consent (or
        no such cookie, once they are stored or back at the beginning)."""
        self._set_cookie(response, COOKIE, token)
        if visitor is not None and visitor.before is not None:
            self._set_cookie(
                response, BEFORE_COOKIE, self.tokens.seal_before(visitor.session_id, visitor.before)
            )
        elif visitor is not None and visitor.carried:
            self._set_cookie(response, BEFORE_COOKIE, "", max_age=0)
        said = self._sealed_unshown(visitor) if visitor is not None else ""
        if said:
            self._set_cookie(response, UNSHOWN_COOKIE, said, max_age=UNSHOWN_SECONDS)
        elif visitor is not None and visitor.carried_unshown:
            self._set_cookie(response, UNSHOWN_COOKIE, "", max_age=0)
        return response

    def _sealed_unshown(self, visitor: Visitor) -> str:
        """The cookie of what the visitor has not been shown yet; none when it would be too big for
        one (then the next page says where they stand again, as a reload does)."""
        if not visitor.unshown:
            return ""
        sealed = self.tokens.seal_unshown(visitor.session_id, [r.to_data() for r in visitor.unshown])
        return sealed if len(sealed) <= MAX_BEFORE else ""

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=self.tokens.max_age_days * 86400 if max_age is None else max_age,
            httponly=True,
            samesite="lax",
            # Over TLS, said by the configured address: a proxy uvicorn does not trust makes every
            # request look like plain HTTP to it.
            secure=self.https,
        )

    def _render(
        self,
        request: Request,
        visitor: Visitor,
        replies: list[Reply],
        prompt: str,
        audio: list[str | None],
        read_aloud: bool,
    ) -> Response:
        locale = replies[-1].locale if replies else "en"
        t = translator(pick_locale(locale, self.engine.locales))
        context = {
            **_frame(t),
            "replies": [replace(r, text=self._with_hint(r, t)) for r in replies],
            "audio": audio,
            "prompt": prompt,
            "csrf": self.tokens.csrf(visitor.session_id),
            "shown": self.tokens.shown(visitor.session_id, self.clock()),
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
            # Continuing on another device is for a screening: before consent there is none.
            "t_make_link": t(texts.WEB_MAKE_LINK) if visitor.stored else None,
            "commands": [(name, t(label)) for name, label in texts.WEB_BUTTONS],
            "read_aloud": read_aloud,
            "settle_ms": round(self.settle * 1000),
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
        session = self.session_of(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_size)
        if not matches(form.get("csrf", ""), self.tokens.csrf(session)):
            return self.notice(request, texts.WEB_FORM_EXPIRED, 403)
        return session, form

    async def say(self, request: Request) -> Response:
        posted = await self._posted(request, max_files=0, max_fields=8, max_size=MAX_BODY)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        visitor = self._carried(request, session)  # stored or not: the turn finds out
        prompt, value, command, text = (str(form.get(k, "")) for k in ("prompt", "value", "command", "text"))
        if (value or command) and self._just_shown(session, str(form.get("shown", ""))):
            return RedirectResponse("/", status_code=303)  # a second tap: the page shows its question again
        if value:
            message: Any = Choice(value, prompt)
        elif command:
            message = parse_text(command)
        else:
            message = parse_text(text)
            if isinstance(message, Text):
                message = replace(message, position=_sequence(prompt))
        return await self._answered(request, visitor, message)

    async def _answered(self, request: Request, visitor: Visitor, message: Any) -> Response:
        """A post's input handled: on to the page that shows what the bot said."""
        if not await self._handle(visitor, message, None):
            return self.notice(request, texts.WEB_TOO_BIG, 413)
        token = request.cookies.get(COOKIE, "")
        return self._with_cookie(RedirectResponse("/", status_code=303), token, visitor)

    async def voice(self, request: Request) -> Response:
        """A recording as the answer to the question the page showed: transcribed in the pool,
        then read back by the engine like every transcript."""
        posted = await self._posted(request, max_files=1, max_fields=4, max_size=MAX_VOICE_BODY)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        visitor = await self._visitor(request, session)
        upload = form.get("audio")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        locale = await self._locale(visitor) or "en"
        if not data:  # the form sent without a recording chosen
            heard: Any = Unsupported("voice_missing")
        elif self.listener is None:
            heard = Unsupported("voice_unavailable")
        else:
            heard = await self.listener.listen(data, locale)
        if isinstance(heard, Text):
            heard = replace(heard, position=_sequence(str(form.get("prompt", ""))))
        return await self._answered(request, visitor, heard)

    @staticmethod
    def settling(request: Request) -> Response:
        """The style that shows a new page's buttons take no tap yet, for as long as its name says
        (the page names the server's setting; CSP allows no style in the page itself)."""
        milliseconds = min(request.path_params["ms"], 60_000)
        rule = f".settling button {{ animation: settle {milliseconds}ms step-end; }}\n"
        return Response(rule, media_type="text/css")

    async def speech(self, request: Request) -> Response:
        """A question read aloud: from the cache the page that shows it filled, or, when another
        instance made the page (or the cache has moved on), made again from its address."""
        try:
            reply = Reply.from_data(self.engine.store.cipher.open(request.path_params["key"]))
        except (InvalidToken, ValueError, TypeError, UnicodeError):
            return Response(status_code=404)  # no address of ours
        spoken = await asyncio.to_thread(self._spoken, reply)
        if spoken is None:
            return Response(status_code=404)
        return Response(spoken[1], media_type="audio/ogg")

    def _just_shown(self, session: str, shown: str) -> bool:
        """Whether a tap came from a page made less than `settle` seconds ago (a post without its
        page's time, or with another's, is no tap on a page of ours: it is not held back)."""
        when = self.tokens.shown_at(session, shown)
        return when is not None and self.clock() - when < self.settle

    # Continuing on another device ---------------------------------------------------

    async def make_link(self, request: Request) -> Response:
        """A new resume link for this session (the one before stops working), shown once."""
        posted = await self._posted(request, max_files=0, max_fields=4, max_size=1024)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        visitor = await self._visitor(request, session)
        if not visitor.stored:
            return RedirectResponse("/", status_code=303)  # before consent there is nothing to continue
        began = self.tokens.read(request.cookies.get(COOKIE)).began
        token = await asyncio.to_thread(self.links.make, session, began)
        base = self.public_url or str(request.base_url).rstrip("/")
        t = await self._translator(request, visitor)
        context = {
            "text": t(texts.WEB_KEEP_LINK, days=self.links.days),
            "link": f"{base}/resume/{token}",
            "t_continue": t(texts.WEB_CONTINUE),
        }
        return self._page(request, t, "resume.html", context)

    async def resume(self, request: Request) -> Response:
        """A resume link opened: what will happen, and a button to do it. Opening it changes
        nothing (a link preview opens it too); only the button, posted from this page, does."""
        token = request.path_params["token"]
        link = await asyncio.to_thread(self.links.find, token)
        refusal = self._link_refusal(request, link.state)
        if refusal is not None:
            return refusal
        reading = self.tokens.read(request.cookies.get(COOKIE))
        if reading.session_id == link.session_id:
            return RedirectResponse("/", status_code=303)  # their own link, in their own browser
        # The button's CSRF token needs a session to be bound to: a new visitor gets one now
        # (nothing is stored for it).
        cookie = self.tokens.issue(reading.session_id, reading.began)
        session = self.tokens.read(cookie).session_id
        assert session is not None
        t = await self._translator(request, await self._visitor(request, session))
        replaces = await asyncio.to_thread(self._has_answers, session)
        context = {
            "text": t(texts.WEB_RESUME_ASK),
            "warning": t(texts.WEB_RESUME_REPLACES) if replaces else None,
            "csrf": self.tokens.csrf(session),
            "action": f"/resume/{token}",
            "t_resume": t(texts.WEB_RESUME_CONTINUE),
            "t_continue": t(texts.WEB_RESUME_KEEP),
        }
        return self._with_cookie(self._page(request, t, "resume.html", context), cookie)

    async def resume_here(self, request: Request) -> Response:
        """The button: this browser continues the link's session, and the link is used up."""
        posted = await self._posted(request, max_files=0, max_fields=4, max_size=1024)
        if isinstance(posted, Response):
            return posted
        link = await asyncio.to_thread(self.links.use, request.path_params["token"])
        refusal = self._link_refusal(request, link.state)
        if refusal is not None or link.session_id is None:
            return refusal or RedirectResponse("/", status_code=303)
        token = self.tokens.issue(link.session_id, link.began)
        resumed = Visitor(link.session_id, stored=True, before=None, carried=BEFORE_COOKIE in request.cookies)
        return self._with_cookie(RedirectResponse("/", status_code=303), token, resumed)

    def _link_refusal(self, request: Request, state: str) -> Response | None:
        if state == "unknown":
            return self.notice(request, texts.WEB_LINK_UNKNOWN, 404)
        if state == "used":
            return self.notice(request, texts.WEB_LINK_USED, 410)
        if state == "expired":
            return self.notice(request, texts.WEB_LINK_EXPIRED, 410, days=self.links.days)
        return None

    def _has_answers(self, session: str) -> bool:
        def read(records: Any) -> bool:
            participant = records.participant(CHANNEL, session)
            screening = records.latest_screening(participant.id) if participant else None
            return bool(screening and records.answers(screening.id))

        return self.engine.store.run(read)

    async def _locale(self, visitor: Visitor) -> str | None:
        """The language the visitor's screening is in (None before one is chosen)."""
        if not visitor.stored:
            return visitor.before.get("locale") if visitor.before else None
        return await asyncio.to_thread(self.engine.locale_of, Address(CHANNEL, visitor.session_id))

    async def _translator(self, request: Request, visitor: Visitor) -> Any:
        """The visitor's language, or the browser's before one is chosen."""
        locale = await self._locale(visitor)
        return translator(pick_locale(locale or _language_hint(request) or "en", self.engine.locales))

    def _page(self, request: Request, t: Any, template: str, context: dict[str, Any]) -> Response:
        page = {**_frame(t), **context}
        return self.templates.TemplateResponse(request, template, page)

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
            **_frame(t),
            "text": t(text, **params),
            "t_continue": t(texts.WEB_CONTINUE),
        }
        return self.templates.TemplateResponse(
            request, "notice.html", context, status_code=status, headers=headers
        )

    async def _handle(self, visitor: Visitor, message: Any, hint: str | None) -> bool:
        """One input from the visitor; False if where they would stand is too big for their cookie
        (nothing is changed then)."""
        address = Address(CHANNEL, visitor.session_id)
        with health.turn(CHANNEL):
            if visitor.stored:
                handled: Turn | Unstored = await asyncio.to_thread(
                    self.engine.handle, address, message, locale=hint
                )
            else:
                handled = await asyncio.to_thread(
                    self.engine.handle_before_consent, address, message, visitor.before, locale=hint
                )
        if isinstance(handled, Unstored):
            visitor.stored = False
            return self._keep_unstored(visitor, handled)
        visitor.stored, visitor.before = True, None  # stored already, or consented now
        if handled.effects and self.notifier is not None:
            self.notifier.wake()
        return True

    def _keep_unstored(self, visitor: Visitor, handled: Unstored) -> bool:
        """Where a visitor not stored now stands (for their cookie), and what the bot said (for their
        next page); False if it is too big for a cookie: only a very long text held for its
        read-back comes near."""
        sealed = self.tokens.seal_before(visitor.session_id, handled.before) if handled.before else ""
        if len(sealed) > MAX_BEFORE:
            return False
        visitor.before = handled.before
        visitor.unshown = [*visitor.unshown, *handled.replies]
        return True


@dataclass
class Visitor:
    """A request's session: stored already (they have consented), or where they stand before."""

    session_id: str
    stored: bool | None  # None: not known yet (their next turn, or page, reads it)
    before: Before | None
    carried: bool = False  # the request brought a cookie of where they stood before consent
    unshown: list[Reply] = field(default_factory=list)  # what the bot said to them, not shown yet
    carried_unshown: bool = False  # the request brought a cookie of that


def _frame(t: Any) -> dict[str, str]:
    """What every page of the chat says of itself: its language, title and description."""
    return {**page_language(t), "title": t(texts.WEB_TITLE), "description": t(texts.WEB_DESCRIPTION)}


def _language_hint(request: Request) -> str | None:
    """The browser's first language (Accept-Language)."""
    return request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip() or None


def _sequence(prompt: str) -> int | None:
    """A prompt's sequence number ("12.5" -> 5): where a web page stands in the conversation."""
    _, _, sequence = prompt.partition(".")
    return int(sequence) if sequence.isdigit() else None


def _position(replies: list[Reply]) -> int | None:
    """Where a page showing `replies` stands: its last question's sequence number."""
    return _sequence(next((r.prompt for r in reversed(replies) if r.prompt), ""))


def build_web_app(
    engine: Engine,
    notifier: Notifier | None = None,
    options: WebOptions | None = None,
    *,
    clock: Callable[[], float] = time.time,
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

    watch = health.Health(
        engine.store,
        metrics_from=options.metrics_from,
        speech_waiting=(lambda: listener.waiting) if listener is not None else None,
    )
    routes: list[BaseRoute] = [*watch.routes()]
    if "console" in parts:
        routes += Console(engine, chat.templates, options.console, https=options.https).routes()
    if "chat" in parts:
        routes += [
            Route("/", chat.page, methods=["GET"]),
            Route("/say", chat.say, methods=["POST"]),
            Route("/voice", chat.voice, methods=["POST"], max_body_size=MAX_VOICE_BODY),
            Route("/speech/{key:str}.ogg", chat.speech, methods=["GET"]),
            Route("/resume-link", chat.make_link, methods=["POST"]),
            Route("/resume/{token}", chat.resume, methods=["GET"]),
            Route("/resume/{token}", chat.resume_here, methods=["POST"]),
        ]
    routes += [
        # Browsers ask for it on their own; no icon, and no 404 in their consoles.
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Route("/static/settle-{ms:int}.css", chat.settling, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    def too_big(request: Request, error: Exception) -> Response:
        return chat.notice(request, texts.WEB_TOO_BIG, 413)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # Every body is counted as it arrives, whatever its Content-Length says, or without one
        # (chunked): at the limit, 413, and nothing more is read.
        middleware=[
            # Pages are compressed, for slow phones. Compression can give a secret away (BREACH)
            # only where a page shows it beside text another site chooses: here none does (a link's
            # query string is never shown, a post needs the session's CSRF token, and the console's
            # cookie is SameSite=Strict). Audio is compressed already, and left alone.
            Middleware(GZipMiddleware),
            Middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY),
        ],
        exception_handlers={413: too_big},
    )
    public = urlsplit(options.public_url or "")
    origins = frozenset({f"{public.scheme}://{public.netloc}"} if public.netloc else set())
    return Guard(
        app,
        https=options.https,
        chat=Limits(
            options.requests_per_minute,
            options.address_requests_per_minute,
            options.total_requests_per_minute,
        ),
        console=Limits(
            options.console_requests_per_minute,
            options.console_requests_per_minute,
            options.total_requests_per_minute,
        ),
        refuse=chat.notice,
        session_of=chat.session_of,
        body_limit=body_limit,
        trusted_proxies=options.trusted_proxies,
        origins=origins,
    )
