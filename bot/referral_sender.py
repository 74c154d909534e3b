"""Delivers referrals to coordinator chats: the sending half of a transactional outbox.

A referral row is written in the same transaction as the screening's outcome.
This sender turns pending referrals into one delivery per coordinator chat and
sends each until Telegram accepts it: a 429 waits for its `retry_after`, a
network error backs off, a chat that blocked the bot is logged and left while
the others still get it. Everything it knows is in the database, so a restart
picks up where it stopped; a crash between sending and recording a send makes
at most one repeat, carrying the same referral id.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.config import Settings
from dialogs.cards import Card, referral_card
from dialogs.engine import Engine
from dialogs.i18n import negotiate, translator
from dialogs.reports import REFERRAL_STEPS
from storage.models import utcnow
from storage.repository import Records
from storage.views import screening_view

log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    chat_id: str
    referral_id: str
    html: str
    buttons: InlineKeyboardMarkup


class ReferralSender:
    def __init__(self, engine: Engine, bot: Bot, settings: Settings) -> None:
        self.engine = engine
        self.bot = bot
        self.settings = settings
        self.chat_ids = [str(c) for c in settings.coordinators]
        self.locale = negotiate(settings.coordinator_language, engine.locales) or "en"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.chat_ids and self._task is None:
            self._task = asyncio.create_task(self._run(), name="referral-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # keep delivering whatever one round ran into
                log.exception("referral delivery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.delivery_interval)
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Send every delivery that is due; return how many were sent."""
        due = await asyncio.to_thread(self._collect)
        sent = 0
        for outgoing in due:
            sent += await self._send(outgoing)
        return sent

    def _collect(self) -> list[Outgoing]:
        with self.engine.store.transaction() as records:
            records.plan_deliveries(self.chat_ids)
            return [
                self._outgoing(records, d.id or 0, d.chat_id, d.referral_id)
                for d in records.due_deliveries(utcnow())
            ]

    def _outgoing(self, records: Records, delivery_id: int, chat_id: str, referral_id: str) -> Outgoing:
        return Outgoing(
            delivery_id, chat_id, referral_id, self.card_html(records, referral_id), self.buttons(referral_id)
        )

    def card(self, records: Records, referral_id: str) -> Card | None:
        referral = records.referral(referral_id)
        if referral is None or referral.screening_id is None:
            return None
        screening = records.screening(referral.screening_id)
        if screening is None:
            return None
        view = screening_view(records, screening)
        return referral_card(
            self.engine.trial, view, referral.id, referral.created_at, self.locale, self.settings.timezone
        )

    def card_html(self, records: Records, referral_id: str, status: str | None = None) -> str:
        card = self.card(records, referral_id)
        if card is None:
            return html.escape(referral_id)
        return render_html(card, status)

    def buttons(self, referral_id: str) -> InlineKeyboardMarkup:
        t = translator(self.locale)
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(t(label), callback_data=f"ref:{referral_id}:{step}")]
                for step, label in REFERRAL_STEPS
            ]
        )

    async def _send(self, outgoing: Outgoing) -> int:
        try:
            message = await self.bot.send_message(
                outgoing.chat_id, outgoing.html, parse_mode=ParseMode.HTML, reply_markup=outgoing.buttons
            )
        except RetryAfter as error:
            await self._retry(outgoing, "RetryAfter", _seconds(error.retry_after))
        except Forbidden:
            log.warning(
                "coordinator chat %s blocked the bot: referral %s stays pending for the others",
                outgoing.chat_id,
                outgoing.referral_id,
            )
            await self._record(outgoing, status="blocked", error="Forbidden")
        except BadRequest as error:
            log.error(
                "coordinator chat %s refused referral %s: %s",
                outgoing.chat_id,
                outgoing.referral_id,
                type(error).__name__,
            )
            await self._record(outgoing, status="failed", error="BadRequest")
        except NetworkError as error:  # includes TimedOut: it may have arrived; a repeat is acceptable
            await self._retry(outgoing, type(error).__name__, None)
        else:
            await self._record(outgoing, status="sent", message_id=message.message_id)
            log.info("referral %s delivered to coordinator chat %s", outgoing.referral_id, outgoing.chat_id)
            return 1
        return 0

    async def _retry(self, outgoing: Outgoing, error: str, wait: float | None) -> None:
        def update(records: Records) -> None:
            delivery = records.delivery(outgoing.delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            delay = wait if wait is not None else min(MAX_BACKOFF, 2.0**delivery.attempts)
            delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
            delivery.last_error = error
            records.session.add(delivery)

        log.warning("referral %s to chat %s: %s, will retry", outgoing.referral_id, outgoing.chat_id, error)
        await asyncio.to_thread(self._in_transaction, update)

    async def _record(
        self, outgoing: Outgoing, status: str, error: str | None = None, message_id: int | None = None
    ) -> None:
        def update(records: Records) -> None:
            delivery = records.delivery(outgoing.delivery_id)
            if delivery is None:
                return
            delivery.status, delivery.last_error, delivery.message_id = status, error, message_id
            delivery.attempts += 1
            if status == "sent":
                delivery.sent_at = utcnow()
            records.session.add(delivery)

        await asyncio.to_thread(self._in_transaction, update)

    def _in_transaction(self, change: Any) -> None:
        with self.engine.store.transaction() as records:
            change(records)


def render_html(card: Card, status: str | None = None) -> str:
    """The card as Telegram HTML: every value escaped, so names with < & _ cannot break it."""
    escape = html.escape
    lines = [f"<b>{escape(card.title)}</b>"]
    lines += [f"<b>{escape(label)}:</b> {escape(value)}" for label, value in card.lines]
    if status:
        lines.append(f"<b>{escape(status)}</b>")
    lines.append("")
    lines += [f"• {escape(label)}: {escape(value)}" for label, value in card.answers]
    return "\n".join(lines)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
