"""What the study team does on Telegram: list, export and count referrals, and record each call.

Only the chats in INTAKE_COORDINATOR_CHAT_IDS may, or an allowlisted person in
their private chat with the bot: never a group that is not allowlisted, even
for an allowlisted person, since everything said there reaches all its members.
Anyone else who tries is refused and the attempt is audited. Every view, export
and change is audited with who did it.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot import texts
from bot.chunks import split_message
from bot.config import Settings
from bot.destinations import render_html, status_buttons
from bot.notifications import CardMaker
from dialogs.cards import OUTCOMES, contact_of
from dialogs.engine import Engine
from dialogs.i18n import translator
from dialogs.reports import (
    EXPORTS,
    OPEN_REFERRALS,
    OPEN_STATUSES,
    REFERRAL_STEPS,
    funnel_text,
    referrals_csv,
    status_label,
)
from storage.models import utcnow
from storage.repository import Records
from storage.views import referral_views

log = logging.getLogger(__name__)
_STEPS = dict(REFERRAL_STEPS)
T = TypeVar("T")
PTBCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
CoordinatorCommand = Callable[[Update, ContextTypes.DEFAULT_TYPE, Message], Awaitable[None]]


class Coordinators:
    def __init__(self, engine: Engine, settings: Settings, cards: CardMaker) -> None:
        self.engine = engine
        self.settings = settings
        self.cards = cards
        self.allowed = set(settings.coordinators)
        self.locale = cards.locale

    def register(self, application: Application) -> None:
        # Group 0 runs before the patients' handler, and stops it for what it handles.
        application.add_handler(CallbackQueryHandler(self.on_card_button, pattern=r"^ref:"), group=0)
        for name, handler in (("referrals", self.list_open), ("export", self.export), ("stats", self.stats)):
            application.add_handler(CommandHandler(name, self._guarded(name, handler)), group=0)

    def _guarded(self, name: str, handler: CoordinatorCommand) -> PTBCallback:
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            if message is not None and self._allowed(update):
                await handler(update, context, message)
            elif message is not None:
                await self._refuse(update, name)
                await message.reply_text(translator(self.locale)(texts.STUDY_TEAM_ONLY))
            raise ApplicationHandlerStop

        return guarded

    def _allowed(self, update: Update) -> bool:
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return False
        private_with_a_coordinator = chat.type == "private" and user is not None and user.id in self.allowed
        return chat.id in self.allowed or private_with_a_coordinator

    async def _refuse(self, update: Update, what: str) -> None:
        actor = f"telegram:{update.effective_user.id if update.effective_user else '?'}"
        log.warning("refused %s to %s: not an allowlisted coordinator chat", what, actor)
        await asyncio.to_thread(self._audit, actor, "refused", what)

    def _audit(self, actor: str, action: str, subject: str) -> None:
        with self.engine.store.transaction() as records:
            records.audit(actor, action, subject)

    async def list_open(self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
        actor = _actor(update)
        t = translator(self.locale, (self.engine.trial.domain,))

        def lines(records: Records) -> list[str]:
            rows = []
            for referral, view in referral_views(records):
                if referral.status not in OPEN_STATUSES or view is None:
                    continue
                contact = contact_of(self.engine.trial, view["answers"])
                when = format_datetime(
                    referral.created_at, "short", tzinfo=ZoneInfo(self.settings.timezone), locale=self.locale
                )
                fields = (t(OUTCOMES[referral.outcome]), status_label(referral.status, t), contact, when)
                rows.append(f"<code>{referral.id}</code> · " + " · ".join(html.escape(f) for f in fields))
            records.audit(actor, "viewed_referrals", "referrals", count=len(rows))
            return rows

        rows = await asyncio.to_thread(self._read, lines)
        heading = t.plural(OPEN_REFERRALS, len(rows)) if rows else t(texts.NO_OPEN_REFERRALS)
        for chunk in split_message("\n".join([html.escape(heading), *rows])):
            await message.reply_text(chunk, parse_mode=ParseMode.HTML)

    async def export(self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
        actor = _actor(update)

        kind = (context.args or ["contact"])[0].lower()
        if kind not in EXPORTS:
            await message.reply_text(f"/export {' | '.join(EXPORTS)}")
            return

        def build(records: Records) -> bytes:
            content = referrals_csv(records, self.engine.trial, self.locale, self.settings.timezone, kind)
            records.audit(actor, "exported_referrals", "referrals", kind=kind, bytes=len(content))
            return content

        content = await asyncio.to_thread(self._read, build)
        await message.reply_document(content, filename=f"referrals-{kind}-{date.today():%Y%m%d}.csv")

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
        actor = _actor(update)

        def build(records: Records) -> str:
            records.audit(actor, "viewed_stats", "funnel")
            return funnel_text(records, self.locale)

        await message.reply_text(await asyncio.to_thread(self._read, build))

    async def on_card_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        _, referral_id, step = [*(query.data or "").split(":", 2), "", ""][:3]
        if not self._allowed(update):
            await self._refuse(update, f"referral:{referral_id}")
            await query.answer(translator(self.locale)(texts.STUDY_TEAM_ONLY), show_alert=True)
            raise ApplicationHandlerStop
        if step not in _STEPS:
            await query.answer()
            raise ApplicationHandlerStop
        who = query.from_user.full_name or str(query.from_user.id)

        def change(records: Records) -> str | None:
            if records.set_referral_status(referral_id, step, _actor(update)) is None:
                return None
            t = translator(self.locale)
            when = format_datetime(
                utcnow(), "short", tzinfo=ZoneInfo(self.settings.timezone), locale=self.locale
            )
            status = t(texts.REFERRAL_STATUS, status=t(_STEPS[step]), who=who, when=when)
            card = self.cards.card(records, referral_id)
            return render_html(card, status) if card else html.escape(referral_id)

        card = await asyncio.to_thread(self._read, change)
        await query.answer()
        if card is not None and isinstance(query.message, Message):
            try:
                await query.edit_message_text(
                    card,
                    parse_mode=ParseMode.HTML,
                    reply_markup=status_buttons(referral_id, self.cards.steps()),
                )
            except BadRequest:
                log.info("referral card %s unchanged", referral_id)
        raise ApplicationHandlerStop

    def _read(self, work: Callable[[Records], T]) -> T:
        """Run `work` in one transaction (in a worker thread: the database is synchronous)."""
        with self.engine.store.transaction() as records:
            return work(records)


def _actor(update: Update) -> str:
    return f"telegram:{update.effective_user.id if update.effective_user else '?'}"
