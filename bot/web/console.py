"""The coordinator console under /coordinator/: referrals, follow-up, the funnel, exports and
the people who would like to hear about other studies.

Served by the bot itself beside the web chat, in the coordinator's language (the console's
default, or one chosen with ?lang=) and time zone. Every page needs a signed-in account
(`bot.accounts`); what it shows, for which trials, and which exports it offers are the
coordination service's permission table and export policy (`bot.coordination.permissions`),
the same as on Telegram and at the command line:

  coordinator  referrals of their trials: list, card, call list, status with a note, funnel,
               other studies, the call-list export
  monitor      read-only and de-identified: the list without references or contacts,
               the funnel, the de-identified exports
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
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from babel.dates import format_date, format_datetime
from cryptography.fernet import InvalidToken
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot import texts
from bot.accounts import (
    Backoff,
    ConsoleAccounts,
    acceptable_password,
    check_password,
    hash_password,
    new_totp_secret,
    totp_step,
    totp_uri,
)
from bot.coordination import audit as vocabulary
from bot.coordination.cards import (
    CONTACT,
    LANGUAGE,
    OUTCOME,
    OUTCOMES,
    RECEIVED,
    REFERRAL_STATUSES,
    REFERRAL_STEPS,
    SOURCE,
    language_name,
    outcome_label,
    status_label,
)
from bot.coordination.permissions import Action, NotAllowed, Principal, Role
from bot.coordination.reports import FUNNEL, FUNNEL_DIMENSIONS, STATUS
from bot.coordination.service import Coordination, ReferralFilter
from bot.web.guard import source_of
from bot.web.pages import matches, page_language
from dialogs.engine import Engine
from dialogs.i18n import pick_locale, translator
from dialogs.trial import Trial
from storage.models import Account, ConsoleSession

COOKIE = "intake_console"
LANG_COOKIE = "intake_console_lang"
# Before signing in: what the sign-in form's CSRF token is bound to.
SIGN_IN_COOKIE = "intake_console_sign_in"
# A browser that has signed in to an account before: a stranger's failures do not slow it down.
DEVICE_COOKIE = "intake_console_device"
DEVICE_DAYS = 180
SETUP_MINUTES = 10  # how long a new second factor's QR code may wait for its first code
PREFIX = "/coordinator"
AUDIT_PAGE = 500  # audit rows a page shows
LIST_PAGE = 100  # referrals a page of the list shows
CALLS_PAGE = 50  # referral cards a page of the call list shows
LIST_FILTERS = ("status", "outcome", "language", "source", "q", "trial", "from", "to", "lang")
EXPORT_LABELS = {
    ("csv", "contact"): texts.CONSOLE_EXPORT_CONTACT,
    ("csv", "full"): texts.CONSOLE_EXPORT_FULL,
    ("csv", "deidentified"): texts.CONSOLE_EXPORT_DEIDENTIFIED,
    ("fhir", "full"): texts.CONSOLE_EXPORT_FHIR_FULL,
    ("fhir", "deidentified"): texts.CONSOLE_EXPORT_FHIR_DEIDENTIFIED,
}


@dataclass(frozen=True)
class ConsoleOptions:
    locale: str = "zh_Hans"  # the console's language unless one is chosen
    timezone: str = "Asia/Shanghai"
    idle_minutes: int = 30
    absolute_hours: int = 12


@dataclass(frozen=True)
class Visitor:
    """A signed-in request: who, their session, and the words to show them."""

    account: Account
    console_session: ConsoleSession
    locale: str
    principal: Principal


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
        self.coordination = Coordination(
            engine.store, engine.trials, engine.locales, locale=options.locale, timezone=options.timezone
        )
        self.accounts = ConsoleAccounts(engine.store)
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
        def needs(action: Action | None, page: Page) -> Callable[[Request], Awaitable[Response]]:
            async def guarded(request: Request) -> Response:
                return await self._guarded(request, action, page)

            return guarded

        return [
            Route(f"{PREFIX}/login", self.login_page, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login, methods=["POST"]),
            Route(f"{PREFIX}/logout", needs(None, self.logout), methods=["POST"]),
            Route(f"{PREFIX}/", needs(Action.LIST, self.referrals), methods=["GET"]),
            Route(f"{PREFIX}/calls", needs(Action.CALLS, self.calls), methods=["GET"]),
            Route(f"{PREFIX}/referrals/{{reference}}", needs(Action.CARD, self.card), methods=["GET"]),
            Route(
                f"{PREFIX}/referrals/{{reference}}", needs(Action.STATUS, self.set_status), methods=["POST"]
            ),
            Route(f"{PREFIX}/funnel", needs(Action.FUNNEL, self.funnel), methods=["GET"]),
            Route(
                f"{PREFIX}/other-studies", needs(Action.OTHER_STUDIES, self.other_studies), methods=["GET"]
            ),
            Route(f"{PREFIX}/rescreening", needs(Action.RESCREENING, self.rescreening), methods=["GET"]),
            Route(f"{PREFIX}/exports", needs(Action.EXPORT, self.exports), methods=["GET"]),
            Route(
                f"{PREFIX}/exports/{{trial}}/{{kind}}.csv", needs(Action.EXPORT, self.export), methods=["GET"]
            ),
            Route(
                f"{PREFIX}/exports/{{trial}}/fhir-{{kind}}.json",
                needs(Action.EXPORT, self.export_fhir),
                methods=["GET"],
            ),
            Route(f"{PREFIX}/audit", needs(Action.AUDIT, self.audit), methods=["GET"]),
            Route(f"{PREFIX}/account", needs(None, self.account), methods=["GET"]),
            Route(f"{PREFIX}/account/password", needs(None, self.change_password), methods=["POST"]),
            Route(
                f"{PREFIX}/account/second-factor", needs(None, self.change_second_factor), methods=["POST"]
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
        account = await asyncio.to_thread(self.accounts.sign_in, name, password, code, now, waiting=waiting)
        if account is None:
            if not waiting:
                for backoff, key in keys:
                    backoff.failed(key)
            return await self.login_page(request, texts.CONSOLE_REFUSED, 401)
        for backoff, key in keys:
            backoff.succeeded(key)
        token = secrets.token_urlsafe(32)
        await asyncio.to_thread(self.accounts.start_session, account, self._hash(token), now)
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
        actor = visitor.principal.actor
        await asyncio.to_thread(self.accounts.end_session, visitor.console_session.token_hash, actor)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def _cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict", secure=self.https
        )

    def _principal(self, account: Account) -> Principal:
        """An account as the permission table knows it: its role, and the registry ids of its
        trials (named by slug or id; None: every trial). A trial not served stays as named, and
        matches nothing."""
        named = [self.engine.trials.find(name) for name in account.trials]
        ids = {t.registry_id if t else name for t, name in zip(named, account.trials, strict=True)}
        return Principal(f"console:{account.name}", Role(account.role), frozenset(ids) if ids else None)

    async def _guarded(self, request: Request, action: Action | None, page: Page) -> Response:
        """The page, for a signed-in account whose role may do `action` (None: any account); a
        sign-in page for anyone else.

        The session is the database's: one signed out, reset, disabled, idle for too long or
        too old is ended there, and its cookie names nothing any more."""
        token = request.cookies.get(COOKIE)
        idle, absolute = (
            timedelta(minutes=self.options.idle_minutes),
            timedelta(hours=self.options.absolute_hours),
        )
        found = (
            await asyncio.to_thread(self.accounts.signed_in, self._hash(token), self._now(), idle, absolute)
            if token
            else None
        )
        if found is None:
            response = RedirectResponse(f"{PREFIX}/login", status_code=303)
            response.delete_cookie(COOKIE, path=PREFIX)
            return response
        account, session = found
        visitor = Visitor(account, session, self._locale(request), self._principal(account))
        if action is not None and not visitor.principal.may(action):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=8, max_part_size=8192)
            if not matches(form.get("csrf", ""), self.csrf(visitor.console_session)):
                return self._message(request, visitor, texts.WEB_FORM_EXPIRED, 403)
        try:
            response = await page(request, visitor)
        except NotAllowed:
            response = self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        return self._remember_language(request, response, visitor.locale)

    def _remember_language(self, request: Request, response: Response, locale: str) -> Response:
        if request.query_params.get("lang"):
            response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, path=PREFIX, samesite="strict")
        return response

    # Pages ----------------------------------------------------------------------

    def _trials(self, visitor: Visitor) -> list[Trial]:
        return self.coordination.visible_trials(visitor.principal)

    def _trial_named(self, visitor: Visitor, name: str | None) -> Trial | None:
        """A trial of the visitor's, named in a URL by its slug (None: not one of theirs)."""
        trial = self.engine.trials.find(name)
        return trial if trial is not None and visitor.principal.works_on(trial.registry_id) else None

    async def referrals(self, request: Request, visitor: Visitor) -> Response:
        params = request.query_params
        text = {
            k: params.get(k, "").strip()[:64]
            for k in ("status", "outcome", "language", "source", "q", "trial")
        }
        chosen = self._trial_named(visitor, text["trial"])
        filters = ReferralFilter(
            status=text["status"],
            outcome=text["outcome"],
            language=text["language"],
            source=text["source"],
            reference=text["q"],
            trial=chosen.registry_id if chosen else "",
            start=_day(params.get("from")),
            end=_day(params.get("to")),
        )
        page = await asyncio.to_thread(
            self.coordination.referrals,
            visitor.principal,
            filters,
            size=LIST_PAGE,
            after=params.get("after"),
        )
        identified = visitor.principal.identified
        zone = ZoneInfo(self.options.timezone)
        t = translator(visitor.locale)
        trials = self._trials(visitor)
        context = {
            "rows": [
                {
                    "reference": row.reference,
                    "trial": row.trial_id,
                    "received": format_date(
                        row.received.astimezone(zone).date(),
                        "medium" if identified else "yyyy-MM",
                        locale=visitor.locale,
                    ),
                    "status": status_label(row.status, t),
                    "outcome": outcome_label(row.outcome, t),
                    "language": language_name(row.language, visitor.locale) if row.language else "-",
                    "source": row.source or "-",
                }
                for row in page.rows
            ],
            # The same filters, from the key after this page's last row.
            "next": f"{PREFIX}/?{urlencode({**self._asked(params), 'after': page.next})}"
            if page.next
            else None,
            "filters": text,
            "from": params.get("from", ""),
            "to": params.get("to", ""),
            "trials": [(trial.slug, trial.registry_id) for trial in trials] if len(trials) > 1 else [],
            "statuses": [(k, t(v)) for k, v in REFERRAL_STATUSES.items()],
            "outcomes": [(k, t(v)) for k, v in OUTCOMES.items()],
            "languages": [(code, language_name(code, visitor.locale)) for code in self.engine.locales],
        }
        return self._render(request, visitor, visitor.locale, "console_referrals.html", context)

    @staticmethod
    def _asked(params: Any) -> dict[str, str]:
        """The list's filters as the request gave them (not its page key), for the next page's link."""
        return {k: v for k, v in params.items() if k in LIST_FILTERS and v}

    async def calls(self, request: Request, visitor: Visitor) -> Response:
        zone = ZoneInfo(self.options.timezone)
        due, following = await asyncio.to_thread(
            self.coordination.calls,
            visitor.principal,
            visitor.locale,
            size=CALLS_PAGE,
            after=request.query_params.get("after"),
        )
        context = {
            "next": f"{PREFIX}/calls?{urlencode({'after': following})}" if following else None,
            "cards": [{"reference": reference, "card": card} for reference, card in due],
            "today": format_date(datetime.now(zone), "full", locale=visitor.locale),
        }
        return self._render(request, visitor, visitor.locale, "console_calls.html", context)

    async def card(self, request: Request, visitor: Visitor) -> Response:
        reference = request.path_params["reference"]
        zone = ZoneInfo(self.options.timezone)
        found = await asyncio.to_thread(self.coordination.card, visitor.principal, reference, visitor.locale)
        if found is None:
            return self._message(request, visitor, texts.CONSOLE_NOT_FOUND, 404)
        t = translator(visitor.locale)
        context = {
            "referral": found.referral,
            "shown": {"reference": found.referral.id, "card": found.card} if found.card else None,
            "history": [
                {
                    "when": format_datetime(event.at, "medium", tzinfo=zone, locale=visitor.locale),
                    "who": event.actor.removeprefix("console:"),
                    "status": status_label(event.status, t),
                    "note": note,
                }
                for event, note in found.history
            ],
            "status": status_label(found.referral.status, t),
            "steps": [(k, t(v)) for k, v in REFERRAL_STEPS] if visitor.principal.may(Action.STATUS) else [],
            "open": found.open,
        }
        return self._render(request, visitor, visitor.locale, "console_card.html", context)

    async def set_status(self, request: Request, visitor: Visitor) -> Response:
        reference = request.path_params["reference"]
        form = await request.form()
        status, note = str(form.get("status", "")), str(form.get("note", ""))
        if status not in dict(REFERRAL_STEPS):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 400)
        changed = await asyncio.to_thread(
            self.coordination.set_status, visitor.principal, reference, status, note
        )
        if changed is None:
            return self._message(request, visitor, texts.CONSOLE_NOT_FOUND, 404)
        return RedirectResponse(f"{PREFIX}/referrals/{reference}", status_code=303)

    async def funnel(self, request: Request, visitor: Visitor) -> Response:
        """Each of the visitor's trials' funnel: an SVG drawn on the server, and a table per dimension."""
        t = translator(visitor.locale)
        sections = []
        for trial in self._trials(visitor):
            counts = await asyncio.to_thread(self.coordination.funnel, visitor.principal, trial)
            totals = {
                step: sum(c.get(step, 0) for c in counts.get("language", {}).values()) for step, _ in FUNNEL
            }
            tables = []
            for dimension, title in FUNNEL_DIMENSIONS:
                rows = [
                    (
                        language_name(group, visitor.locale)
                        if dimension == "language" and group != "-"
                        else group,
                        [c.get(step, 0) for step, _ in FUNNEL],
                    )
                    for group, c in sorted(counts.get(dimension, {}).items())
                ]
                tables.append({"title": t(title), "rows": rows})
            bars = _bars([(t(label), totals[step]) for step, label in FUNNEL])
            sections.append({"trial": trial.registry_id, "slug": trial.slug, "bars": bars, "tables": tables})
        context = {"steps": [t(label) for _, label in FUNNEL], "sections": sections}
        return self._render(request, visitor, visitor.locale, "console_funnel.html", context)

    async def other_studies(self, request: Request, visitor: Visitor) -> Response:
        """Who would like to hear about other studies, with the trials served here they may fit
        (only those who may fit one trial with ?fits=<trial>)."""
        fits = self.engine.trials.find(request.query_params.get("fits"))
        found = await asyncio.to_thread(self.coordination.other_studies, visitor.principal, fits)
        t = translator(visitor.locale)
        zone = ZoneInfo(self.options.timezone)
        people = [
            {
                "screening": c.screening_id,
                "trial": c.trial.registry_id,
                "finished": format_date(c.finished_at.astimezone(zone), "medium", locale=visitor.locale)
                if c.finished_at
                else "-",
                "language": language_name(c.language, visitor.locale) if c.language else "-",
                "source": c.source or "-",
                "reasons": ", ".join(c.reasons) or "-",
                "contact": c.contact or t(texts.CONSOLE_NO_CONTACT),
                "fits": [(f.trial.registry_id, outcome_label(f.outcome, t)) for f in c.fits],
            }
            for c in found
        ]
        context = {
            "people": people,
            "fits": fits.slug if fits else "",
            "targets": [(trial.slug, trial.registry_id) for trial in self.engine.trials],
        }
        return self._render(request, visitor, visitor.locale, "console_other_studies.html", context)

    async def rescreening(self, request: Request, visitor: Visitor) -> Response:
        """Who is due for re-screening and waits to be told (web users: no bot can write to them)."""
        due = await asyncio.to_thread(self.coordination.due_for_rescreening, visitor.principal)
        t = translator(visitor.locale)
        people = [
            {
                "screening": d.screening_id,
                "trial": d.trial.registry_id,
                "due": format_date(d.due_on, "medium", locale=visitor.locale),
                "language": language_name(d.language, visitor.locale),
                "contact": d.contact or t(texts.CONSOLE_NO_CONTACT),
            }
            for d in due
        ]
        return self._render(request, visitor, visitor.locale, "console_rescreening.html", {"people": people})

    async def exports(self, request: Request, visitor: Visitor) -> Response:
        """What the visitor may export, per trial: the export policy's levels for their role."""
        t = translator(visitor.locale)
        who = visitor.principal
        sections = [
            {
                "trial": trial.registry_id,
                "kinds": [
                    (f"{trial.slug}/{kind}.csv", t(EXPORT_LABELS["csv", kind])) for kind in who.exports("csv")
                ]
                + [
                    (f"{trial.slug}/fhir-{kind}.json", t(EXPORT_LABELS["fhir", kind]))
                    for kind in who.exports("fhir")
                ],
            }
            for trial in self._trials(visitor)
        ]
        return self._render(request, visitor, visitor.locale, "console_exports.html", {"sections": sections})

    async def export(self, request: Request, visitor: Visitor) -> Response:
        """A trial's referrals as CSV, at a level the export policy gives the visitor's role."""
        trial, kind = self._trial_named(visitor, request.path_params["trial"]), request.path_params["kind"]
        if trial is None or not visitor.principal.may_export("csv", kind, trial.registry_id):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        parts = await asyncio.to_thread(
            self.coordination.stream_csv, visitor.principal, trial, kind, visitor.locale
        )
        name = f"referrals-{trial.slug}-{kind}-{date.today():%Y%m%d}.csv"
        # Sent as it is made (Starlette reads the parts in its thread pool): memory stays flat.
        return StreamingResponse(parts, media_type="text/csv; charset=utf-8", headers=_attachment(name))

    async def export_fhir(self, request: Request, visitor: Visitor) -> Response:
        """A trial's screenings as FHIR R4, at a level the export policy gives the visitor's role."""
        trial, kind = self._trial_named(visitor, request.path_params["trial"]), request.path_params["kind"]
        if trial is None or not visitor.principal.may_export("fhir", kind, trial.registry_id):
            return self._message(request, visitor, texts.CONSOLE_NOT_ALLOWED, 403)
        content = await asyncio.to_thread(self.coordination.export_fhir, visitor.principal, [trial], kind)
        name = f"screenings-{trial.slug}-fhir-{kind}-{date.today():%Y%m%d}.json"
        return _download(content, name, "application/fhir+json")

    async def audit(self, request: Request, visitor: Visitor) -> Response:
        zone = ZoneInfo(self.options.timezone)
        t = translator(visitor.locale)
        before = _key(request.query_params.get("before"))
        trail, older = await asyncio.to_thread(
            self.coordination.audit_page, visitor.principal, AUDIT_PAGE, before
        )
        events = [
            {
                "when": format_datetime(e.at, "medium", tzinfo=zone, locale=visitor.locale),
                "who": e.actor,
                "what": t(label) if (label := vocabulary.label(e.action)) else e.action,
                "subject": e.subject,
                "detail": ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items())),
            }
            for e in trail
        ]
        following = f"{PREFIX}/audit?{urlencode({'before': older})}" if older else None
        context = {"events": events, "next": following}
        return self._render(request, visitor, visitor.locale, "console_audit.html", context)

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
        await asyncio.to_thread(
            self.accounts.change_password,
            visitor.account.id or 0,
            hashed,
            visitor.console_session.token_hash,
            visitor.principal.actor,
        )
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
        await asyncio.to_thread(
            self.accounts.change_second_factor,
            visitor.account.id or 0,
            setup["secret"],
            step,
            visitor.console_session.token_hash,
            visitor.principal.actor,
        )
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
        t = translator(locale)
        nav = []
        if visitor is not None:
            who = visitor.principal
            pages = (
                ("/", Action.LIST, texts.CONSOLE_REFERRALS),
                ("/calls", Action.CALLS, texts.CONSOLE_CALLS),
                ("/funnel", Action.FUNNEL, texts.CONSOLE_FUNNEL),
                ("/other-studies", Action.OTHER_STUDIES, texts.CONSOLE_OTHER_STUDIES),
                ("/rescreening", Action.RESCREENING, texts.CONSOLE_RESCREENING),
                ("/exports", Action.EXPORT, texts.CONSOLE_EXPORTS),
                ("/audit", Action.AUDIT, texts.CONSOLE_AUDIT),
            )
            nav = [(f"{PREFIX}{path}", t(label)) for path, action, label in pages if who.may(action)]
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
                "contact": t(CONTACT),
            },
        }
        return self.templates.TemplateResponse(request, template, {**base, **context})


_CONSOLE_WORDS = [name for name in dir(texts) if name.startswith("CONSOLE_")]


def _attachment(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"'}


def _download(content: bytes, name: str, media_type: str) -> Response:
    return Response(content, media_type=media_type, headers=_attachment(name))


def _key(text: str | None) -> int | None:
    """A page's key as a URL gives it: a row id, or None for the first page."""
    return int(text) if text and text.isdigit() and len(text) < 19 else None


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
