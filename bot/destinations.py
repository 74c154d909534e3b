"""Where notifications go: a Telegram chat, an email inbox, a WeCom (企业微信) group robot.

A destination is configured as a URL, optionally followed by `#card` or `#notice`:

    telegram:-1002222222          a Telegram chat (a person, group or channel)
    mailto:trial-team@example.org an email address, through the configured SMTP server
    wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…   a WeCom group robot

`card` sends everything a coordinator needs to call the person back; `notice` only
the reference, the outcome, the time and where to read the rest. Email and webhooks
default to the notice: they cross systems the study does not control.

A destination that begins with a trial and `=` (`nct06079125=telegram:-1002222222`) hears
only of that trial's referrals; one without hears of every trial's.

Each sender turns what went wrong into a `DeliveryError`: transient (try again
soon), permanent (refused; tried again slowly and reported to the operator), or
moved (a Telegram group became a supergroup with a new id).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import smtplib
import ssl
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.coordination.cards import Card

DETAILS = ("card", "notice")
_DEFAULT_DETAIL = {"telegram": "card", "mailto": "notice", "wecom": "notice"}


class DestinationError(ValueError):
    """A configured destination that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Destination:
    # What a notification row stores: the URL, except for a webhook, whose URL holds its key.
    name: str
    url: str
    detail: str
    # The trial whose referrals it hears of (as configured: a slug or a registry id); None: all.
    trial: str | None = None

    @property
    def scheme(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def target(self) -> str:
        """What the sender needs: a chat id, an address, or the webhook's URL."""
        return (
            self.url.split(":", 1)[1] if self.scheme in ("telegram", "mailto") else self.url[len("wecom+") :]
        )


def parse_destinations(text: str, setting: str) -> list[Destination]:
    """Destinations from a setting: URLs separated by commas, spaces or new lines, each
    optionally after a trial and `=`."""
    found = []
    for item in text.replace(",", " ").split():
        trial, equals, rest = item.partition("=")
        if equals and not any(c in trial for c in ":/?"):  # a webhook's key=… comes after its URL
            item = rest
        else:
            trial = ""
        url, _, detail = item.partition("#")
        scheme = url.split(":", 1)[0].lower()
        scheme = "wecom" if scheme.startswith("wecom+") else scheme
        if scheme not in _DEFAULT_DETAIL:
            raise DestinationError(f"{setting}: {_shown(item)}: use telegram:, mailto: or wecom+https:")
        detail = detail or _DEFAULT_DETAIL[scheme]
        if detail not in DETAILS:
            raise DestinationError(f"{setting}: {_shown(item)}: the detail is #card or #notice")
        found.append(replace(_destination(url, detail, setting), trial=trial.lower() or None))
    return found


def _destination(url: str, detail: str, setting: str) -> Destination:
    scheme, _, rest = url.partition(":")
    if scheme == "telegram":
        if not rest.lstrip("-").isdigit():
            raise DestinationError(
                f"{setting}: {url}: a Telegram chat id is a number, like telegram:-1002222222"
            )
        return Destination(url, url, detail)
    if scheme == "mailto":
        if "@" not in rest or any(c.isspace() for c in rest):
            raise DestinationError(f"{setting}: {url}: not an email address")
        return Destination(url, url, detail)
    parts = urlsplit(url[len("wecom+") :])
    key = parse_qs(parts.query).get("key", [""])[0]
    if parts.scheme not in ("http", "https") or not parts.netloc or not key:
        raise DestinationError(f"{setting}: {_shown(url)}: a WeCom robot webhook URL ends in ?key=…")
    # Stored by a fingerprint of its key, which is a secret: whoever has it can post to the group.
    return Destination(f"wecom:{parts.netloc}:{hashlib.sha256(key.encode()).hexdigest()[:12]}", url, detail)


def _shown(item: str) -> str:
    """A setting's item as it may be printed: a webhook key is never shown."""
    return item.split("?", 1)[0] + ("?…" if "?" in item else "")


@dataclass(frozen=True)
class Message:
    """A notification as every destination renders it."""

    subject: str
    card: Card
    # Under a full card, where the destination has buttons: the steps a coordinator records on it.
    steps: tuple[tuple[str, str], ...] = ()
    referral_id: str | None = None


class DeliveryError(Exception):
    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        moved_to: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.moved_to = moved_to


class Sender(Protocol):
    async def send(self, target: str, message: Message) -> str | None:
        """Send; return what the destination calls the message, if it can be edited later."""

    async def edit(self, target: str, sent_ref: str, message: Message) -> bool:
        """Replace a sent message; False where the destination cannot (then a new one is sent)."""


# Telegram ---------------------------------------------------------------------


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, target: str, message: Message) -> str | None:
        sent = await self._call(
            self.bot.send_message(
                int(target),
                render_html(message.card),
                parse_mode=ParseMode.HTML,
                reply_markup=_buttons(message),
            )
        )
        return f"{target}:{sent.message_id}"

    async def edit(self, target: str, sent_ref: str, message: Message) -> bool:
        chat_id, _, message_id = sent_ref.rpartition(":")
        await self._call(
            self.bot.edit_message_text(
                render_html(message.card),
                chat_id=int(chat_id),
                message_id=int(message_id),
                parse_mode=ParseMode.HTML,
                reply_markup=_buttons(message),
            )
        )
        return True

    @staticmethod
    async def _call(request):  # type: ignore[no-untyped-def]
        try:
            return await request
        except RetryAfter as error:
            raise DeliveryError("RetryAfter", retry_after=_seconds(error.retry_after)) from None
        except ChatMigrated as error:
            raise DeliveryError("ChatMigrated", moved_to=f"telegram:{error.new_chat_id}") from None
        except Forbidden:
            raise DeliveryError("Forbidden: the bot was blocked or removed", permanent=True) from None
        except BadRequest as error:
            # "Chat not found", a message too long, one that no longer exists: the same again fails again.
            raise DeliveryError(f"BadRequest: {str(error)[:120]}", permanent=True) from None
        except NetworkError as error:  # TimedOut too: it may have arrived; a repeat is acceptable
            raise DeliveryError(type(error).__name__) from None
        except TelegramError as error:
            raise DeliveryError(type(error).__name__) from None


def render_html(card: Card, status: str | None = None) -> str:
    """A card as Telegram HTML: every value escaped, so names with < & _ cannot break it."""
    escape = html.escape
    lines = [f"<b>{escape(card.title)}</b>"]
    lines += [f"<b>{escape(label)}:</b> {escape(value)}" for label, value in card.lines]
    if status:
        lines.append(f"<b>{escape(status)}</b>")
    if card.answers:
        lines.append("")
        lines += [f"• {escape(label)}: {escape(value)}" for label, value in card.answers]
    return "\n".join(lines)


def status_buttons(referral_id: str, steps: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup:
    """A card's buttons: one per step a coordinator records (contacted, booked…)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"ref:{referral_id}:{step}")] for step, label in steps]
    )


def _buttons(message: Message) -> InlineKeyboardMarkup | None:
    if not message.steps or message.referral_id is None:
        return None
    return status_buttons(message.referral_id, message.steps)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# Email ------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # starttls, ssl or none
    user: str | None
    password: str | None
    sender: str
    timeout: float = 30.0


class EmailSender:
    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    async def send(self, target: str, message: Message) -> str | None:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self.smtp.sender, target, message.subject
        email["Message-ID"] = make_msgid(domain=self.smtp.sender.rpartition("@")[2] or None)
        email.set_content(message.card.plain() + "\n")
        await asyncio.to_thread(self._send, email)
        return None

    async def edit(self, target: str, sent_ref: str, message: Message) -> bool:
        return False

    def _send(self, email: EmailMessage) -> None:
        smtp = self.smtp
        try:
            client: smtplib.SMTP
            if smtp.security == "ssl":
                client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout)
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
            with client:
                if smtp.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if smtp.user:
                    client.login(smtp.user, smtp.password or "")
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP: the recipient was refused", permanent=True) from None
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError(
                "SMTP: the login was refused (INTAKE_SMTP_USER/PASSWORD)", permanent=True
            ) from None
        except smtplib.SMTPResponseException as error:
            # 4xx: try again later; 5xx: the server will say the same again.
            raise DeliveryError(f"SMTP {error.smtp_code}", permanent=error.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP: {type(error).__name__}") from None


# WeCom group robot --------------------------------------------------------------

# WeCom's robot API: errcode 45009 is its rate limit (20 messages a minute per robot).
_WECOM_RATE_LIMITED = 45009
_WECOM_MAX_BYTES = 4000


class WeComSender:
    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout

    async def send(self, target: str, message: Message) -> str | None:
        content = _truncate(message.card.plain(), _WECOM_MAX_BYTES)
        body = {"msgtype": "text", "text": {"content": content}}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(target, json=body)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryError(f"webhook: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryError(f"webhook: HTTP {response.status_code}", permanent=True)
        try:
            code = int(response.json().get("errcode", -1))
        except (ValueError, AttributeError):
            raise DeliveryError("webhook: not a WeCom answer", permanent=True) from None
        if code == _WECOM_RATE_LIMITED:
            raise DeliveryError("webhook: rate limited", retry_after=60)
        if code != 0:
            raise DeliveryError(f"webhook: errcode {code}", permanent=True)
        return None

    async def edit(self, target: str, sent_ref: str, message: Message) -> bool:
        return False


def _truncate(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"
