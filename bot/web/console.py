"""The coordinator console under /coordinator/: referrals, follow-up, the funnel and exports.

Served by the bot itself beside the web chat, in the coordinator's language (the
console's default, or one chosen with ?lang=) and time zone. Every page needs a
signed-in account (`bot.accounts`); what it shows depends on the role:

  coordinator  referrals of their trials: list, card, call list, status with a note, funnel,
               the call-list export
  monitor      read-only and de-identified: the list without references or contacts,
               the funnel, the de-identified export
  operator     everything, every trial, every export, and the audit trail

Every view, export, sign-in and change is in the audit trail with the account's name.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from babel.dates import format_date, format_datetime
from cryptography.fernet import InvalidToken
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot import texts
from bot.accounts import (
    ROLES,
    Backoff,
    acceptable_password,
    check_password,
    hash_password,
    new_totp_secret,
    sign_in,
    totp_step,
    totp_uri,
)
from bot.web.guard import source_of
from bot.web.pages import matches, page_language
from dialogs.cards import LANGUAGE, OUTCOME, OUTCOMES, RECEIVED, SOURCE, language_name, referral_card
from dialogs.engine import Engine
from dialogs.fhir import fhir_bundle
from dialogs.i18n import pick_locale, translator
from dialogs.reports import (
    EXPORTS,
    FUNNEL,
    FUNNEL_DIMENSIONS,
    REFERRAL_STATUSES,
    REFERRAL_STEPS,
    STATUS,
    funnel,
    referrals_csv,
    status_label,
)
from storage.models import Account, ConsoleSession, Referral
from storage.repository import Records
from storage.views import referral_views

COOKIE = "intake_console"
LANG_COOKIE = "intake_console_lang"
# Before signing in: what the sign-in form's CSRF token is bound to.
SIGN_IN_COOKIE = "intake_console_sign_in"
# A browser that has signed in to an account before: a stranger's failures do not slow it down.
DEVICE_COOKIE = "intake_console_device"
DEVICE_DAYS = 180
SETUP_MINUTES = 10  # how long a new second factor's QR code may wait for its first code
PREFIX = "/coordinator"
# Who may export what: the same three levels as Telegram's /export.
EXPORTS_BY_ROLE = {
    "coordinator": ("contact",),
    "monitor": ("deidentified",),
    "operator": EXPORTS,
}
FHIR_BY_ROLE = {"operator": ("full", "deidentified"), "monitor": ("deidentified",)}
CALL_STATUSES = ("pending", "unreachable")
# Who may open which pages: the routes and the menu both read these.
EVERYONE = ROLES
FOLLOWERS = ("coordinator", "operator")  # who follow referrals up: cards, calls, statuses
OPERATORS = ("operator",)


@dataclass(frozen=True)
class ConsoleOptions:
    locale: str = "zh_Hans"  # the console's language unless one is chosen
    timezone: str = "Asia/Shanghai"
    idle_minutes: int = 30
    absolute_hours: int = 12


@dataclass(frozen=True)
class Visitor:
    """A signed-in request: who, their session, and the words and times to show them."""

    account: Account
    console_session: ConsoleSession
    locale: str

    @property
    def actor(self) -> str:
        return f"console:{self.account.name}"

    def works_on(self, trial_id: str) -> bool:
        """An account without trials works on every one."""
        return not self.account.trials or trial_id in self.account.trials

    def may_see(self, referral: Referral) -> bool:
        return self.works_on(referral.trial_id)


Page = Callable[[Request, Visitor], Awaitable[Response]]


class Console:
    def __init__(
        self,
        engine: Engine,
        templates: Jinja2Templates,
        options: ConsoleOptions,
        clock: Callable[[], float] = time.time,
        https: bool = False,
    ) -> None:
        self.engine = engine
        self.https = https
        self.templates = templates
        self.options = options
        self.clock = clock
        self.lookup = engine.store.cipher.lookup
        # Failed sign-ins wait, doubling, per browser known to an account; otherwise per address
        # (generous: a hospital's staff share one), per name from an address, and per name from
        # everywhere (a guesser with many addresses). None of them can lock out an account's
        # owner in their own browser.
        monotonic = lambda: float(self.clock())  # noqa: E731
        self.backoff = {
            "device": Backoff(free=5, clock=monotonic),
            "address": Backoff(free=20, clock=monotonic),
            "name": Backoff(free=5, clock=monotonic),
            "account": Backoff(free=50, clock=monotonic),
        }

    def routes(self) -> list[Route]:
        def only(roles: tuple[str, ...], page: Page) -> Callable[[Request], Awaitable[Response]]:
            async def guarded(request: Request) -> Response:
                return await self._guarded(request, roles, page)

            return guarded

        return [
            Route(f"{PREFIX}/login", self.login_page, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login, methods=["POST"]),
            Route(f"{PREFIX}/logout", only(EVERYONE, self.logout), methods=["POST"]),
            Route(f"{PREFIX}/", only(EVERYONE, self.referrals), methods=["GET"]),
            Route(f"{PREFIX}/calls", only(FOLLOWERS, self.calls), methods=["GET"]),
            Route(f"{PREFIX}/referrals/{{reference}}", only(FOLLOWERS, self.card), methods=["GET"]),
            Route(f"{PREFIX}/referrals/{{reference}}", only(FOLLOWERS, self.set_status), methods=["POST"]),
            Route(f"{PREFIX}/funnel", only(EVERYONE, self.funnel), methods=["GET"]),
            Route(f"{PREFIX}/exports", only(EVERYONE, self.exports), methods=["GET"]),
            Route(f"{PREFIX}/exports/{{kind}}.csv", only(EVERYONE, self.export), methods=["GET"]),
            Route(f"{PREFIX}/exports/fhir-{{kind}}.json", only(EVERYONE, self.export_fhir), methods=["GET"]),
            Route(f"{PREFIX}/audit", only(OPERATORS, self.audit), methods=["GET"]),
            Route(f"{PREFIX}/account", only(EVERYONE, self.account), methods=["GET"]),
            Route(f"{PREFIX}/account/password", only(EVERYONE, self.change_password), methods=["POST"]),
            Route(
                f"{PREFIX}/account/second-factor", only(EVERYONE, self.change_second_factor), methods=["POST"]
            ),
        ]

    # Signing in -----------------------------------------------------------------

    def _locale(self, request: Request) -> str:
        chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return pick_locale(chosen or self.options.locale, self.engine.locales)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _sign_in_csrf(self, before: str) -> str:
        return self.lookup(f"console-sign-in:{before}")[:43]

    async def login_page(self, request: Request, refused: str | None = None, status: int = 200) -> Response:
        """The sign-in form, its CSRF token bound to a cookie of its own (there is no session yet)."""
        locale = self._locale(request)
        before = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
        context = {
            "refused": translator(locale)(refused) if refused else None,
            "csrf": self._sign_in_csrf(before),
        }
        response = self._render(request, None, locale, "console_login.html", context)
        response.status_code = status
        self._cookie(response, SIGN_IN_COOKIE, before, None)
        return self._remember_language(request, response, locale)

    def _device_of(self, request: Request, name: str) -> str | None:
        """The browser's id, if it signed in to the account `name` before."""
        nonce, _, signature = request.cookies.get(DEVICE_COOKIE, "").partition(".")
        if nonce and matches(signature, self.lookup(f"console-device:{name.casefold()}.{nonce}")[:43]):
            return nonce
        return None

    def _backoff_keys(self, request: Request, name: str) -> list[tuple[Backoff, str]]:
        device = self._device_of(request, name)
        if device is not None:
            return [(self.backoff["device"], device)]
        address, name = source_of(request.state.address), name.casefold()
        return [
            (self.backoff["address"], address),
            (self.backoff["name"], f"{name}\n{address}"),
            (self.backoff["account"], name),
        ]

    async def login(self, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=6, max_part_size=4096)
        name, password, code = (str(form.get(k, ""))[:256] for k in ("name", "password", "code"))
        name = name.strip()
        before = request.cookies.get(SIGN_IN_COOKIE)
        if not before or not matches(form.get("csrf", ""), self._sign_in_csrf(before)):
            return await self.login_page(request, texts.WEB_FORM_EXPIRED, 403)
        keys = self._backoff_keys(request, name)
        waiting = any(backoff.wait(key) > 0 for backoff, key in keys)
        now = self._now()

        def check(records: Records) -> Account | None:
            if waiting:  # not even checked: as quick for every name, known or not
                known = records.account(name)
                result_name, reason = (known.name if known else None), "backoff"
            else:
                result = sign_in(records, name, password, code, now)
                if result.account is not None:
                    records.audit(f"console:{result.account.name}", "console_login", "console")
                    return result.account
                result_name, reason = result.name, result.reason
            # Only an existing account's name: what a stranger typed is not kept.
            records.audit(f"console:{result_name or '?'}", "console_login_refused", "console", why=reason)
            return None

        account = await asyncio.to_thread(self.engine.store.run, check)
        if account is None:
            if not waiting:
                for backoff, key in keys:
                    backoff.failed(key)
            return await self.login_page(request, texts.CONSOLE_REFUSED, 401)
        for backoff, key in keys:
            backoff.succeeded(key)
        token = secrets.token_urlsafe(32)
        await asyncio.to_thread(
            self.engine.store.run,
            lambda records: records.add_console_session(account, self._hash(token), now),
        )
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        self._cookie(response, COOKIE, token, self.options.absolute_hours * 3600)
        device = self._device_of(request, name) or secrets.token_urlsafe(16)
        signature = self.lookup(f"console-device:{name.casefold()}.{device}")[:43]
        self._cookie(response, DEVICE_COOKIE, f"{device}.{signature}", DEVICE_DAYS * 86400)
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    def _hash(self, token: str) -> str:
        """What the database keeps of a session's token: its keyed hash."""
        return self.lookup(f"console-session:{token}")

    def csrf(self, session: ConsoleSession) -> str:
        return self.lookup(f"console-csrf:{session.token_hash}")[:43]

    async def logout(self, request: Request, visitor: Visitor) -> Response:
        def end(records: Records) -> None:
            records.end_console_session(visitor.console_session.token_hash)
            records.audit(visitor.actor, "console_logout", "console")

        await asyncio.to_thread(self.engine.store.run, end)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def _cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict", secure=self.https
        )

    async def _guarded(self, request: Request, roles: tuple[str, ...], page: Page) -> Response:
        """The page, for a signed-in account of one of `roles`; a sign-in page for anyone else.

        The session is the database's: one signed out, reset, disabled, idle for too long or
        too old is ended there, and its cookie names nothing any more."""
        token = request.cookies.get(COOKIE)
        now = self._now()
        idle, absolute = (
            timedelta(minutes=self.options.idle_minutes),
            timedelta(hours=self.options.absolute_hours),
        )

        def current(records: Records) -> tuple[Account, ConsoleSession] | None:
            session = records.console_session(self._hash(token)) if token else None
            if session is None:
                return None
            account = records.account_by_id(session.account_id)
            if (
                account is None
                or account.disabled
                or now - session.used_at > idle
                or now - session.began_at > absolute
            ):
                records.end_console_session(session.token_hash)
                return None
            if now - session.used_at > timedelta(minutes=1):  # each use renews the idle timeout
                records.touch_console_session(session, now)
            return account, session

        found = await asyncio.to_thread(self.engine.store.run, current)
        if found is None:
            response = RedirectResponse(f"{PREFIX}/login", status_code=303)
            response.delete_cookie(COOKIE, path=PREFIX)
            return response
        visitor = Visitor(*found, self._locale(request))
        if visitor.account.role not in roles:
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=8, max_part_size=8192)
            if not matches(form.get("csrf", ""), self.csrf(visitor.console_session)):
                return self._message(request, visitor, texts.WEB_FORM_EXPIRED, 403)
        response = await page(request, visitor)
        return self._remember_language(request, response, visitor.locale)

    def _remember_language(self, request: Request, response: Response, locale: str) -> Response:
        if request.query_params.get("lang"):
            response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, path=PREFIX, samesite="strict")
        return response

    # Pages ----------------------------------------------------------------------

    async def referrals(self, request: Request, visitor: Visitor) -> Response:
        params = request.query_params
        filters = {k: params.get(k, "").strip() for k in ("status", "outcome", "language", "source", "q")}
        start, end = _day(params.get("from")), _day(params.get("to"))
        zone = ZoneInfo(self.options.timezone)
        identified = visitor.account.role != "monitor"

        def rows(records: Records) -> list[dict[str, Any]]:
            shown = []
            # The list needs each screening's language and source, not its answers: nothing is
            # decrypted here, however many referrals there are.
            for referral in records.referrals():
                if not visitor.may_see(referral):
                    continue
                screening = records.screening(referral.screening_id) if referral.screening_id else None
                received = referral.created_at.astimezone(zone).date()
                language = (screening.locale if screening else None) or ""
                source = (screening.source if screening else None) or ""
                if (
                    (filters["status"] and referral.status != filters["status"])
                    or (filters["outcome"] and referral.outcome != filters["outcome"])
                    or (filters["language"] and language != filters["language"])
                    or (filters["source"] and source != filters["source"])
                    or (filters["q"] and identified and filters["q"].lower() not in referral.id.lower())
                    or (start and received < start)
                    or (end and received > end)
                ):
                    continue
                shown.append(
                    {"referral": referral, "language": language, "source": source, "received": received}
                )
            detail = {k: v for k, v in filters.items() if v}
            records.audit(visitor.actor, "console_view", "referrals", shown=len(shown), **detail)
            return list(reversed(shown))  # newest first

        found = await asyncio.to_thread(self.engine.store.run, rows)
        t = translator(visitor.locale, (self.engine.trial.domain,))
        context = {
            "rows": [
                {
                    "reference": row["referral"].id if identified else None,
                    "received": format_date(
                        row["received"], "medium" if identified else "yyyy-MM", locale=visitor.locale
                    ),
                    "status": status_label(row["referral"].status, t),
                    "outcome": t(OUTCOMES.get(row["referral"].outcome, row["referral"].outcome)),
                    "language": language_name(row["language"], visitor.locale) if row["language"] else "-",
                    "source": row["source"] or "-",
                }
                for row in found
            ],
            "filters": filters,
            "from": params.get("from", ""),
            "to": params.get("to", ""),
            "statuses": [(k, t(v)) for k, v in REFERRAL_STATUSES.items()],
            "outcomes": [(k, t(v)) for k, v in OUTCOMES.items()],
            "languages": [(code, language_name(code, visitor.locale)) for code in self.engine.locales],
        }
        return self._render(request, visitor, visitor.locale, "console_referrals.html", context)

    async def calls(self, request: Request, visitor: Visitor) -> Response:
        zone = ZoneInfo(self.options.timezone)

        def rows(records: Records) -> list[dict[str, Any]]:
            due = [
                (referral, view)
                for referral, view in referral_views(records)
                if view is not None and referral.status in CALL_STATUSES and visitor.may_see(referral)
            ]
            records.audit(visitor.actor, "console_view", "calls", shown=len(due))
            return [self._card_of(referral, view, visitor.locale) for referral, view in due]

        cards = await asyncio.to_thread(self.engine.store.run, rows)
        context = {"cards": cards, "today": format_date(datetime.now(zone), "full", locale=visitor.locale)}
        return self._render(request, visitor, visitor.locale, "console_calls.html", context)

    def _card_of(self, referral: Referral, view: dict[str, Any], locale: str) -> dict[str, Any]:
        card = referral_card(
            self.engine.trial, view, referral.id, referral.created_at, locale, self.options.timezone
        )
        return {"reference": referral.id, "card": card}

    async def card(self, request: Request, visitor: Visitor) -> Response:
        reference = request.path_params["reference"]
        zone = ZoneInfo(self.options.timezone)

        def read(records: Records) -> dict[str, Any] | None:
            [(referral, view)] = referral_views(records, [reference]) or [(None, None)]
            if referral is None or not visitor.may_see(referral):
                return None
            records.audit(visitor.actor, "console_view", f"referral:{referral.id}")
            t = translator(visitor.locale)
            history = [
                {
                    "when": format_datetime(event.at, "medium", tzinfo=zone, locale=visitor.locale),
                    "who": event.actor.removeprefix("console:"),
                    "status": status_label(event.status, t),
                    "note": note,
                }
                for event, note in records.referral_history(referral.id)
            ]
            shown = self._card_of(referral, view, visitor.locale) if view is not None else None
            return {"referral": referral, "shown": shown, "history": history}

        found = await asyncio.to_thread(self.engine.store.run, read)
        if found is None:
            return self._message(request, visitor, texts.CONSOLE_NOT_FOUND, 404)
        t = translator(visitor.locale)
        context = {
            **found,
            "status": status_label(found["referral"].status, t),
            "steps": [(k, t(v)) for k, v in REFERRAL_STEPS],
            "open": found["referral"].status not in ("cancelled", "replaced"),
        }
        return self._render(request, visitor, visitor.locale, "console_card.html", context)

    async def set_status(self, request: Request, visitor: Visitor) -> Response:
        reference = request.path_params["reference"]
        form = await request.form()
        status, note = str(form.get("status", "")), " ".join(str(form.get("note", "")).split())[:2000]
        if status not in dict(REFERRAL_STEPS):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 400)

        def change(records: Records) -> bool:
            referral = records.referral(reference)
            if referral is None or not visitor.may_see(referral):
                return False
            return records.set_referral_status(reference, status, visitor.actor, note or None) is not None

        if not await asyncio.to_thread(self.engine.store.run, change):
            return self._message(request, visitor, texts.CONSOLE_NOT_FOUND, 404)
        return RedirectResponse(f"{PREFIX}/referrals/{reference}", status_code=303)

    async def funnel(self, request: Request, visitor: Visitor) -> Response:
        trial = self.engine.trial
        allowed = visitor.works_on(trial.registry_id)

        def count(records: Records) -> dict[str, Any]:
            records.audit(visitor.actor, "console_view", "funnel")
            return funnel(records, trial.registry_id) if allowed else {}

        counts = await asyncio.to_thread(self.engine.store.run, count)
        t = translator(visitor.locale)
        totals = {
            step: sum(c.get(step, 0) for c in counts.get("language", {}).values()) for step, _ in FUNNEL
        }
        tables = []
        for dimension, title in FUNNEL_DIMENSIONS:
            groups = sorted(counts.get(dimension, {}).items())
            rows = [
                (
                    language_name(group, visitor.locale)
                    if dimension == "language" and group != "-"
                    else group,
                    [c.get(step, 0) for step, _ in FUNNEL],
                )
                for group, c in groups
            ]
            tables.append({"title": t(title), "rows": rows})
        context = {
            "steps": [t(label) for _, label in FUNNEL],
            "bars": _bars([(t(label), totals[step]) for step, label in FUNNEL]),
            "tables": tables,
            "total": t(texts.CONSOLE_TOTAL),
        }
        return self._render(request, visitor, visitor.locale, "console_funnel.html", context)

    async def exports(self, request: Request, visitor: Visitor) -> Response:
        t = translator(visitor.locale)
        labels = {
            "contact": texts.CONSOLE_EXPORT_CONTACT,
            "full": texts.CONSOLE_EXPORT_FULL,
            "deidentified": texts.CONSOLE_EXPORT_DEIDENTIFIED,
        }
        fhir_labels = {
            "full": texts.CONSOLE_EXPORT_FHIR_FULL,
            "deidentified": texts.CONSOLE_EXPORT_FHIR_DEIDENTIFIED,
        }
        role = visitor.account.role
        kinds = [(f"{kind}.csv", t(labels[kind])) for kind in EXPORTS_BY_ROLE[role]]
        kinds += [(f"fhir-{kind}.json", t(fhir_labels[kind])) for kind in FHIR_BY_ROLE.get(role, ())]
        return self._render(request, visitor, visitor.locale, "console_exports.html", {"kinds": kinds})

    async def export(self, request: Request, visitor: Visitor) -> Response:
        """Referrals as CSV, at the levels the role may have."""
        kind = request.path_params["kind"]

        def make(records: Records) -> bytes:
            records.audit(visitor.actor, "export", "referrals", kind=kind, via="console")
            return referrals_csv(records, self.engine.trial, visitor.locale, self.options.timezone, kind)

        allowed = kind in EXPORTS_BY_ROLE[visitor.account.role]
        name = f"referrals-{kind}-{date.today():%Y%m%d}.csv"
        return await self._download(request, visitor, allowed, make, name, "text/csv; charset=utf-8")

    async def export_fhir(self, request: Request, visitor: Visitor) -> Response:
        """Every screening as FHIR R4: in full for the operator, de-identified for a monitor."""
        kind = request.path_params["kind"]

        def make(records: Records) -> bytes:
            records.audit(visitor.actor, "export", "screenings", kind=kind, format="fhir", via="console")
            trial, locales = self.engine.trial, self.engine.locales
            return fhir_bundle(records, trial, locales, deidentified=kind == "deidentified")

        allowed = kind in FHIR_BY_ROLE.get(visitor.account.role, ())
        name = f"screenings-fhir-{kind}-{date.today():%Y%m%d}.json"
        return await self._download(request, visitor, allowed, make, name, "application/fhir+json")

    async def _download(
        self,
        request: Request,
        visitor: Visitor,
        allowed: bool,
        make: Callable[[Records], bytes],
        name: str,
        media_type: str,
    ) -> Response:
        """An export as a file, if the role may have it and the trial is theirs."""
        if not (allowed and visitor.works_on(self.engine.trial.registry_id)):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        content = await asyncio.to_thread(self.engine.store.run, make)
        disposition = {"content-disposition": f'attachment; filename="{name}"'}
        return Response(content, media_type=media_type, headers=disposition)

    async def audit(self, request: Request, visitor: Visitor) -> Response:
        zone = ZoneInfo(self.options.timezone)

        t = translator(visitor.locale)

        def read(records: Records) -> list[dict[str, str]]:
            records.audit(visitor.actor, "console_view", "audit")
            return [
                {
                    "when": format_datetime(e.at, "medium", tzinfo=zone, locale=visitor.locale),
                    "who": e.actor,
                    "what": t(texts.AUDIT_ACTIONS[e.action]) if e.action in texts.AUDIT_ACTIONS else e.action,
                    "subject": e.subject,
                    "detail": ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items())),
                }
                for e in records.audit_trail()[-500:][::-1]
            ]

        events = await asyncio.to_thread(self.engine.store.run, read)
        return self._render(request, visitor, visitor.locale, "console_audit.html", {"events": events})

    # One's own account ------------------------------------------------------------

    async def account(self, request: Request, visitor: Visitor, said: str | None = None) -> Response:
        """Changing one's own password or second factor, each with the current password."""
        t = translator(visitor.locale)
        context = {"said": t(said) if said else None, "setup": None}
        return self._render(request, visitor, visitor.locale, "console_account.html", context)

    async def _current_password(self, request: Request, visitor: Visitor, password: str) -> bool:
        """The account's current password, typed again; failures wait like failed sign-ins, so
        a session left open is no way to guess it."""
        keys = self._backoff_keys(request, visitor.account.name)
        if any(backoff.wait(key) > 0 for backoff, key in keys):
            return False
        right = await asyncio.to_thread(check_password, visitor.account, password)
        for backoff, key in keys:
            backoff.succeeded(key) if right else backoff.failed(key)
        return right

    async def change_password(self, request: Request, visitor: Visitor) -> Response:
        form = await request.form()
        current, new, again = (str(form.get(k, ""))[:256] for k in ("current", "new", "again"))
        if not await self._current_password(request, visitor, current):
            return await self.account(request, visitor, texts.CONSOLE_WRONG_PASSWORD)
        if new != again or not acceptable_password(new, visitor.account.name):
            return await self.account(request, visitor, texts.CONSOLE_PASSWORD_UNACCEPTABLE)
        hashed = await asyncio.to_thread(hash_password, new)

        def change(records: Records) -> None:
            account = records.account_by_id(visitor.account.id or 0)
            assert account is not None
            account.password_hash = hashed
            records.save_account(account)
            records.end_console_sessions(account.id or 0, keep=visitor.console_session.token_hash)
            records.audit(visitor.actor, "password_changed", f"account:{account.name}")

        await asyncio.to_thread(self.engine.store.run, change)
        return await self.account(request, visitor, texts.CONSOLE_PASSWORD_CHANGED)

    async def change_second_factor(self, request: Request, visitor: Visitor) -> Response:
        """Two steps: the current password, then a code from the new secret, which proves the
        app has it before the old one stops counting. Between them, the new secret travels in
        the page, encrypted and bound to this session."""
        form = await request.form()
        cipher, now = self.engine.store.cipher, self._now()
        if "sealed" not in form:
            if not await self._current_password(request, visitor, str(form.get("current", ""))[:256]):
                return await self.account(request, visitor, texts.CONSOLE_WRONG_PASSWORD)
            secret = new_totp_secret()
            sealed = cipher.seal(
                {"session": visitor.console_session.token_hash, "secret": secret, "at": now.timestamp()}
            )
            return self._setup_page(request, visitor, secret, sealed, None)
        sealed = str(form.get("sealed", ""))
        try:
            setup = cipher.open(sealed)
        except (InvalidToken, ValueError, TypeError):
            setup = {}
        if (
            setup.get("session") != visitor.console_session.token_hash
            or now.timestamp() - setup["at"] > SETUP_MINUTES * 60
        ):
            return self._message(request, visitor, texts.WEB_FORM_EXPIRED, 403)
        step = totp_step(setup["secret"], str(form.get("code", ""))[:16], now)
        if step is None:
            return self._setup_page(request, visitor, setup["secret"], sealed, texts.CONSOLE_CODE_WRONG)

        def change(records: Records) -> None:
            account = records.account_by_id(visitor.account.id or 0)
            assert account is not None
            records.set_totp_secret(account, setup["secret"])
            account.totp_required, account.totp_last_step = True, step
            records.save_account(account)
            records.end_console_sessions(account.id or 0, keep=visitor.console_session.token_hash)
            records.audit(visitor.actor, "second_factor_changed", f"account:{account.name}")

        await asyncio.to_thread(self.engine.store.run, change)
        return await self.account(request, visitor, texts.CONSOLE_SECOND_FACTOR_CHANGED)

    def _setup_page(
        self, request: Request, visitor: Visitor, secret: str, sealed: str, said: str | None
    ) -> Response:
        t = translator(visitor.locale)
        uri = totp_uri(visitor.account.name, secret)
        setup = {
            "qr": segno.make(uri, error="m").svg_data_uri(scale=4),
            "scan": t(texts.CONSOLE_SCAN, key=secret),
            "sealed": sealed,
        }
        context = {"said": t(said) if said else None, "setup": setup}
        return self._render(request, visitor, visitor.locale, "console_account.html", context)

    # Rendering ------------------------------------------------------------------

    def _message(self, request: Request, visitor: Visitor | None, text: str, status: int) -> Response:
        t = translator(visitor.locale if visitor else self._locale(request))
        response = self._render(request, visitor, t.locale, "console_message.html", {"text": t(text)})
        response.status_code = status
        return response

    def _render(
        self, request: Request, visitor: Visitor | None, locale: str, template: str, context: dict[str, Any]
    ) -> Response:
        t = translator(locale, (self.engine.trial.domain,))
        nav = []
        if visitor is not None:
            role = visitor.account.role
            nav = [(f"{PREFIX}/", t(texts.CONSOLE_REFERRALS))]
            if role in FOLLOWERS:
                nav.append((f"{PREFIX}/calls", t(texts.CONSOLE_CALLS)))
            nav += [
                (f"{PREFIX}/funnel", t(texts.CONSOLE_FUNNEL)),
                (f"{PREFIX}/exports", t(texts.CONSOLE_EXPORTS)),
            ]
            if role in OPERATORS:
                nav.append((f"{PREFIX}/audit", t(texts.CONSOLE_AUDIT)))
            nav.append((f"{PREFIX}/account", t(texts.CONSOLE_ACCOUNT)))
        words = {name.removeprefix("CONSOLE_").lower(): t(getattr(texts, name)) for name in _CONSOLE_WORDS}
        base = {
            **page_language(t),
            "title": t(texts.CONSOLE_TITLE),
            "t": words,
            "nav": nav,
            "visitor": visitor,
            "csrf": self.csrf(visitor.console_session) if visitor else "",
            # Each language in its own name, on every page: how a reader finds theirs.
            "language_links": [(code, language_name(code, code)) for code in self.engine.locales],
            "labels": {
                "outcome": t(OUTCOME),
                "status": t(STATUS),
                "language": t(LANGUAGE),
                "source": t(SOURCE),
                "received": t(RECEIVED),
            },
        }
        return self.templates.TemplateResponse(request, template, {**base, **context})


_CONSOLE_WORDS = [name for name in dir(texts) if name.startswith("CONSOLE_")]


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bars(values: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """A horizontal bar per funnel step, scaled to the largest, for an SVG drawn on the server."""
    top = max((v for _, v in values), default=0) or 1
    return [
        {"label": label, "value": value, "width": round(300 * value / top), "y": 10 + 34 * i}
        for i, (label, value) in enumerate(values)
    ]
