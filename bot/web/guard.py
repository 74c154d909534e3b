"""In front of every request: where it comes from, whether it may come now, and the headers.

Rate limits count a person by their verified session, since many people share one address
behind a mobile carrier's NAT or a hospital's Wi-Fi; a request without a verified session
(no cookie, a forged or expired one) counts by its address. Every request also counts
against its address's own allowance, and the budget everyone shares refuses only sources
that take more than their share of it once it is spent: one source, however it rotates
its cookies, can neither use up the budget nor lock out the people who share it.

The console (`/coordinator/…`) has budgets of its own, so a flood of the chat never
reaches the sign-in page of the study team.

The address is the connection's; behind a reverse proxy listed in `trusted_proxies`, the
first address in X-Forwarded-For that is not one of those proxies, counting from the
right (the one the nearest trusted proxy saw). An IPv6 address counts as its /64, which
one subscriber holds whole.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from bot import texts

log = logging.getLogger(__name__)

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
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONSOLE_PREFIX = "/coordinator"

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
# A page saying why a request was refused, in the visitor's language: (request, text, status, headers).
Refusal = Callable[[Request, str, int, dict[str, str]], Response]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Window:
    """Requests in the last `window` seconds, per key; the least recently seen keys are
    forgotten first beyond `keys`."""

    def __init__(self, limit: int, window: float = 60.0, keys: int = 100_000) -> None:
        self.limit, self.window, self.keys = limit, window, keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _times(self, key: str, now: float) -> deque[float]:
        times = self._seen.pop(key, None) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        # Keys quiet for a whole window hold nothing: forget them, the least recently seen
        # first (and beyond `keys`, whatever they hold).
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if len(self._seen) < self.keys and oldest and oldest[-1] > now - self.window:
                break
            self._seen.popitem(last=False)
        self._seen[key] = times  # most recently seen last
        return times

    def full(self, key: str, now: float) -> bool:
        return len(self._times(key, now)) >= self.limit

    def add(self, key: str, now: float) -> None:
        self._times(key, now).append(now)

    def allow(self, key: str, now: float) -> bool:
        """Count a request for `key` if it is within the limit."""
        if self.full(key, now):
            return False
        self.add(key, now)
        return True

    def count(self, key: str, now: float) -> int:
        return len(self._times(key, now)) if key in self._seen else 0

    def active(self) -> int:
        """How many keys were counted within about the window (the quiet are forgotten lazily)."""
        return len(self._seen)


class SharedBudget:
    """A budget of `total` requests a minute for everyone. Once it is spent, a source is
    refused only while it has had more than an equal share of it: the light users go on."""

    def __init__(self, total: int, window: float = 60.0) -> None:
        self.total = total
        self._all: deque[float] = deque()
        self._by_source = Window(total, window)
        self.window = window

    def allow(self, source: str, now: float) -> bool:
        while self._all and self._all[0] <= now - self.window:
            self._all.popleft()
        used = self._by_source.count(source, now)
        if len(self._all) >= self.total and used >= self.total / max(1, self._by_source.active()):
            return False
        self._all.append(now)
        self._by_source.add(source, now)
        return True


@dataclass(frozen=True)
class Limits:
    """Requests a minute: per verified session, per address (sessions and all), for everyone."""

    per_session: int
    per_address: int
    total: int


class Budgets:
    """The allowances of one part of the site (the chat, or the console)."""

    def __init__(self, limits: Limits) -> None:
        self.sessions = Window(limits.per_session)
        self.addresses = Window(limits.per_address)
        self.everyone = SharedBudget(limits.total)

    def allow(self, address: str, session: str | None, now: float) -> bool:
        """Within its own allowances first; only then does a request count at all."""
        if self.addresses.full(address, now) or (session and self.sessions.full(session, now)):
            return False
        if not self.everyone.allow(address, now):
            return False
        self.addresses.add(address, now)
        if session:
            self.sessions.add(session, now)
        return True


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def source_of(address: str) -> str:
    """What an address counts as: itself, or for IPv6 its /64 (one subscriber's whole prefix)."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip) if ip else address


def same_origin(request: Request, origins: frozenset[str] = frozenset()) -> bool:
    """Whether a request was made by the bot's own pages (or by the person, typing an address).

    The browser's Sec-Fetch-Site says so, and a page cannot forge it; a browser too old to send
    it sends Origin, which must then be this site's. Our pages send no referrer, so a browser
    may say `Origin: null` of our own forms: then, as without either, the CSRF token decides."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin", "null")
    return origin == "null" or urlsplit(origin).netloc == request.headers.get("host", "") or origin in origins


class Guard:
    """The size precheck, the origin check, the rate limits, and the security headers.

    The app reads the address from `request.state.address`. `session_of` names a request's
    verified chat session (None: it has none, or one that does not verify).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool,
        chat: Limits,
        console: Limits,
        refuse: Refusal,
        session_of: Callable[[Request], str | None],
        body_limit: Callable[[str], int],
        trusted_proxies: tuple[Network, ...] = (),
        origins: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.chat, self.console = Budgets(chat), Budgets(console)
        self.refuse = refuse
        self.session_of = session_of
        self.body_limit = body_limit
        self.trusted = trusted_proxies
        self.origins = origins
        self.clock = clock
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))
        self._warned = False

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.trusted)

    def address(self, scope: dict[str, Any]) -> str:
        """The client's address (see the module's docstring). Sets the scheme a trusted proxy
        reports (X-Forwarded-Proto), so that the app knows a request came over TLS, and notes in the
        request's state whether a proxy not trusted forwarded it (then the address is that proxy's)."""
        peer = (scope.get("client") or ("-", 0))[0]
        headers = dict(scope.get("headers", []))
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        scope.setdefault("state", {})["untrusted_proxy"] = bool(forwarded) and not self._trusted(peer)
        if not self._trusted(peer):
            if forwarded and not self._warned:
                self._warned = True
                log.warning(
                    "requests carry X-Forwarded-For from %s, which INTAKE_WEB_TRUSTED_PROXIES does not "
                    "list: it is ignored, and every visitor through it counts as one address",
                    peer,
                )
            return peer
        if headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower() == "https":
            scope["scheme"] = "https"
        client = peer
        for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
            client = hop
            if not self._trusted(hop):
                break
        return client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, with_headers)
        else:
            await refusal(scope, receive, with_headers)

    def _refusal(self, scope: dict[str, Any]) -> Response | None:
        address = self.address(scope)
        scope.setdefault("state", {})["address"] = address
        request = Request(scope)
        path = scope["path"]
        # What a request says it brings; what it really brings is counted as it arrives
        # (Starlette's RequestBodyLimitMiddleware, inside).
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.body_limit(path):
            return self.refuse(request, texts.WEB_TOO_BIG, 413, {})
        if scope["method"] in UNSAFE_METHODS and not same_origin(request, self.origins):
            return self.refuse(request, texts.WEB_FORM_EXPIRED, 403, {})
        if path.startswith("/static/"):
            return None
        now, source = self.clock(), source_of(address)
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            allowed = self.console.allow(source, None, now)
        else:
            allowed = self.chat.allow(source, self.session_of(request), now)
        if allowed:
            return None
        return self.refuse(request, texts.WEB_TOO_MANY, 429, {"retry-after": "60"})
