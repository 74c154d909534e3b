"""What the study team does on Telegram: list, export and count referrals, and record each call.

Only the chats in INTAKE_COORDINATOR_CHAT_IDS may, or an allowlisted person in their private
chat with the bot: never a group that is not allowlisted, even for an allowlisted person,
since everything said there reaches all its members. Anyone else who tries is refused and the
attempt is audited. An allowlisted chat is a coordinator of the trials its entry names (every
trial without one): it sees, exports and counts those trials' referrals only, and exports
only what the console gives a coordinator (the call list). Everything goes through the
coordination service, which checks and audits it the same way for every surface.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
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
from bot.coordination.cards import REFERRAL_STEPS, outcome_label, status_label
from bot.coordination.permissions import CSV_KINDS, NotAllowed, Principal, Role
from bot.coordination.reports import OPEN_REFERRALS, funnel_text
from bot.coordination.service import Coordination, ReferralFilter
from bot.destinations import render_html, status_buttons
from dialogs.i18n import translator
from storage.models import utcnow

log = logging.getLogger(__name__)
_STEPS = dict(REFERRAL_STEPS)
# /referrals lists the open referrals waiting longest, this many: a chat is no place for thousands
# (the console's call list pages through them all).
LISTED = 50
PTBCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
CoordinatorCommand = Callable[[Update, ContextTypes.DEFAULT_TYPE, Message, Principal], Awaitable[None]]


class Coordinators:
    def __init__(self, coordination: Coordination, chats: dict[int, frozenset[str] | None]) -> None:
        """`chats`: each allowlisted chat and the trials it works on (None: every trial)."""
        self.coordination = coordination
        self.chats = chats
        self.locale = coordination.locale

    def register(self, application: Application) -> None:
        # Group 0 runs before the patients' handler, and stops it for what it handles.
        application.add_handler(CallbackQueryHandler(self.on_card_button, pattern=r"^ref:"), group=0)
        for name, handler in (("referrals", self.list_open), ("export", self.export), ("stats", self.stats)):
            application.add_handler(CommandHandler(name, self._guarded(name, handler)), group=0)

    def _guarded(self, name: str, handler: CoordinatorCommand) -> PTBCallback:
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            who = self._principal(update)
            if message is not None and who is not None:
                try:
                    await handler(update, context, message, who)
                except NotAllowed:
                    await message.reply_text(translator(self.locale)(texts.STUDY_TEAM_ONLY))
            elif message is not None:
                await self._refuse(update, name)
                await message.reply_text(translator(self.locale)(texts.STUDY_TEAM_ONLY))
            raise ApplicationHandlerStop

        return guarded

    def _principal(self, update: Update) -> Principal | None:
        """The chat as the permission table knows it: a coordinator of its entry's trials; None
        for a chat that is not allowlisted (nor an allowlisted person's private chat)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return None
        if chat.id in self.chats:
            trials = self.chats[chat.id]
        elif chat.type == "private" and user is not None and user.id in self.chats:
            trials = self.chats[user.id]
        else:
            return None
        return Principal(_actor(update), Role.COORDINATOR, trials)

    async def _refuse(self, update: Update, what: str) -> None:
        actor = _actor(update)
        log.warning("refused %s to %s: not an allowlisted coordinator chat", what, actor)
        await asyncio.to_thread(self.coordination.refused, actor, what)

    async def list_open(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Principal
    ) -> None:
        """The open referrals of the chat's trials: reference, trial, outcome, status, contact, time."""
        t = translator(self.locale)
        zone = ZoneInfo(self.coordination.timezone)
        found = await asyncio.to_thread(
            partial(self.coordination.referrals, with_contact=True, size=LISTED, oldest_first=True),
            who,
            ReferralFilter(open_only=True),
        )
        rows = []
        for row in found.rows:  # oldest first: who has waited longest
            when = format_datetime(row.received, "short", tzinfo=zone, locale=self.locale)
            fields = (
                row.trial_id,
                outcome_label(row.outcome, t),
                status_label(row.status, t),
                row.contact or "",
                when,
            )
            rows.append(f"<code>{row.reference}</code> · " + " · ".join(html.escape(f) for f in fields))
        heading = t.plural(OPEN_REFERRALS, len(rows)) if rows else t(texts.NO_OPEN_REFERRALS)
        more = [html.escape(t(texts.MORE_OPEN_REFERRALS))] if found.next else []
        for chunk in split_message("\n".join([html.escape(heading), *rows, *more])):
            await message.reply_text(chunk, parse_mode=ParseMode.HTML)

    async def export(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Principal
    ) -> None:
        """A CSV per trial of the chat's, at a level the export policy gives a coordinator."""
        kind = (context.args or ["contact"])[0].lower()
        if kind not in CSV_KINDS:
            await message.reply_text(f"/export {' | '.join(who.exports('csv'))}")
            return
        trials = self.coordination.visible_trials(who)
        for trial in trials:
            try:
                content = await asyncio.to_thread(self.coordination.export_csv, who, trial, kind)
            except NotAllowed:
                allowed = ", ".join(f"/export {k}" for k in who.exports("csv"))
                await message.reply_text(translator(self.locale)(texts.EXPORT_NOT_HERE, kinds=allowed))
                return
            name = f"referrals-{trial.slug}-{kind}-{date.today():%Y%m%d}.csv"
            await message.reply_document(content, filename=name)

    async def stats(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, who: Principal
    ) -> None:
        """The funnel of each trial of the chat's."""
        for trial in self.coordination.visible_trials(who):
            counts = await asyncio.to_thread(self.coordination.funnel, who, trial)
            for chunk in split_message(f"{trial.registry_id}\n{funnel_text(counts, self.locale)}"):
                await message.reply_text(chunk)

    async def on_card_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        _, referral_id, step = [*(query.data or "").split(":", 2), "", ""][:3]
        who = self._principal(update)
        refused = translator(self.locale)(texts.STUDY_TEAM_ONLY)
        if who is None:
            await self._refuse(update, f"referral:{referral_id}")
            await query.answer(refused, show_alert=True)
            raise ApplicationHandlerStop
        if step not in _STEPS:
            await query.answer()
            raise ApplicationHandlerStop
        card = await asyncio.to_thread(self.coordination.set_status, who, referral_id, step)
        if card is None:  # not there any more, withdrawn, or another trial's
            await query.answer(refused, show_alert=True)
            raise ApplicationHandlerStop
        t = translator(self.locale)
        when = format_datetime(
            utcnow(), "short", tzinfo=ZoneInfo(self.coordination.timezone), locale=self.locale
        )
        who_did = query.from_user.full_name or str(query.from_user.id)
        status = t(texts.REFERRAL_STATUS, status=t(_STEPS[step]), who=who_did, when=when)
        await query.answer()
        if isinstance(query.message, Message):
            try:
                await query.edit_message_text(
                    render_html(card, status),
                    parse_mode=ParseMode.HTML,
                    reply_markup=status_buttons(referral_id, self.coordination.cards.steps()),
                )
            except BadRequest:
                log.info("referral card %s unchanged", referral_id)
        raise ApplicationHandlerStop


def _actor(update: Update) -> str:
    return f"telegram:{update.effective_user.id if update.effective_user else '?'}"
