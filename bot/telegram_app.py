"""The Telegram channel: python-telegram-bot around the dialog engine, nothing more.

Each update becomes one engine input (a tap, a text, a command, a shared
contact, or something unusable), handled in a worker thread inside one
database transaction; then the person's outbox is sent, in order, each reply
marked sent as it goes. A reply that fails (a 5xx, a timeout, a crash) stays in
the outbox and is sent again by a background loop or with the person's next
update, under the same per-chat lock. The update id is the input's key, so a
redelivered update changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from dataclasses import replace
from datetime import timedelta
from typing import Any

from telegram import (
    Audio,
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    VideoNote,
    Voice,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    TypeHandler,
)
from telegram.warnings import PTBDeprecationWarning

from bot import health, texts
from bot.chunks import split_message
from bot.config import Settings
from bot.coordinators import Coordinators
from bot.notifications import Notifier
from bot.speech.audio import MAX_BYTES, MAX_SECONDS
from bot.speech.listener import Listener
from bot.speech.speaker import Speaker
from bot.update_processor import PerChatUpdateProcessor
from bot.wiring import build_coordination, build_listener, build_notifier, build_speaker, coordinator_locale
from dialogs.engine import Address, Choice, Engine, Input, Reply, Text, Turn, Unsupported, parse_text
from dialogs.i18n import SOURCE_LOCALE, pick_locale, translator

log = logging.getLogger(__name__)
CHANNEL = "telegram"
Recording = Voice | Audio | VideoNote
# Everything a person can send that the dialog cannot use, by the Message attribute that carries it.
_UNUSABLE = (
    "sticker",
    "photo",
    "document",
    "location",
    "venue",
    "video",
    "animation",
    "poll",
    "dice",
    "game",
    "story",
)


def build_application(settings: Settings, engine: Engine, *, webhook: bool = False) -> Application:
    """The Application production runs and the tests drive: one factory for both. By webhook it
    has no Updater: updates come from `bot.telegram_webhook`'s route."""
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    root = settings.telegram_api_root.rstrip("/")
    builder = ApplicationBuilder().updater(None) if webhook else ApplicationBuilder()
    application = (
        builder.token(settings.telegram_bot_token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .read_timeout(settings.telegram_timeout)
        .write_timeout(settings.telegram_timeout)
        .concurrent_updates(processor := PerChatUpdateProcessor(settings.telegram_concurrent_updates))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(_started)
        .post_stop(_stopping)
        .build()
    )
    notifier = build_notifier(settings, engine, application.bot)
    coordinators = Coordinators(
        build_coordination(settings, engine.store, engine.trials), settings.coordinator_trials
    )
    channel = TelegramChannel(
        engine, settings, notifier, processor, build_listener(settings), build_speaker(settings)
    )
    application.bot_data.update(channel=channel, notifier=notifier, coordinators=coordinators)
    coordinators.register(application)
    application.add_handler(TypeHandler(Update, channel.on_update), group=1)
    application.add_error_handler(_on_error)
    return application


async def _started(application: Application) -> None:
    channel: TelegramChannel = application.bot_data["channel"]
    await channel.register_commands(application)
    channel.start(application.bot)


async def _stopping(application: Application) -> None:
    await application.bot_data["channel"].stop()


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # The exception's type only: its text can quote what a person sent.
    log.error("update failed: %s", type(context.error).__name__, exc_info=context.error)


class TelegramChannel:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        notifier: Notifier,
        chats: PerChatUpdateProcessor,
        listener: Listener,
        speaker: Speaker,
    ) -> None:
        self.engine = engine
        self.listener = listener
        self.speaker = speaker
        self.typing_every = 4.5  # seconds; Telegram's "typing…" lasts five
        self.settings = settings
        self.notifier = notifier
        self.chats = chats
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, bot: Bot) -> None:
        """In the background: send again what failed before (also what a crash left unsent),
        and deliver notifications to the study team."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._resend(bot), name="reply-resender"),
                asyncio.create_task(self.notifier.run(), name="notifier"),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _resend(self, bot: Bot) -> None:
        while True:
            try:
                await asyncio.to_thread(self.engine.remind)
                for address in await asyncio.to_thread(self.engine.due, CHANNEL):
                    async with self.chats.chat(int(address.external_id)):
                        await self.deliver(bot, int(address.external_id))
            except Exception:  # keep going whatever one round ran into
                log.exception("resending replies failed")
            await asyncio.sleep(self.settings.delivery_interval)

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_tap(update, context)
            return
        message = update.message or update.edited_message
        user = update.effective_user
        if message is None or user is None or user.is_bot:
            return
        if message.chat.type != "private":
            await self._point_to_private_chat(message, user.language_code, context)
            return
        recording = _recording(update.message) if update.message else None
        heard = await self._hear(context.bot, update, recording) if recording else None
        turn = await self._handle(update, heard or _to_input(update))
        await self.deliver(context.bot, message.chat.id, turn.waiting)

    async def _hear(self, bot: Bot, update: Update, recording: Recording) -> Input:
        """A recording as the person's answer: downloaded, checked and transcribed off the event
        loop (other chats go on meanwhile), then read back by the engine like any transcript."""
        message, user = update.message, update.effective_user
        assert message is not None and user is not None
        if _seconds(recording) > MAX_SECONDS or (recording.file_size or 0) > MAX_BYTES:
            return Unsupported("voice_too_long")  # not even downloaded
        address = Address(CHANNEL, str(user.id))
        locale = await asyncio.to_thread(self.engine.locale_of, address) or pick_locale(user.language_code)
        if not self.listener.understands(locale):
            return Unsupported("voice_unavailable")
        typing = asyncio.create_task(self._typing(bot, message.chat.id))  # "typing…": it is coming
        try:
            data = bytes(await (await bot.get_file(recording.file_id)).download_as_bytearray())
            heard = await self.listener.listen(data, locale)
        except TelegramError:
            return Unsupported("voice_unreadable")
        finally:
            typing.cancel()
        return replace(heard, position=message.message_id) if isinstance(heard, Text) else heard

    async def _typing(self, bot: Bot, chat_id: int) -> None:
        """Telegram shows "typing…" for five seconds: said again until the transcript is ready
        (a big model, a queue), so that the person does not think their answer was lost."""
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(self.typing_every)

    async def _handle(self, update: Update, message: Input) -> Turn:
        """One input handled, with what waits to be sent after it (read in its transaction)."""
        user = update.effective_user
        assert user is not None
        with health.turn(CHANNEL):
            turn = await asyncio.to_thread(
                self.engine.handle,
                Address(CHANNEL, str(user.id)),
                message,
                locale=user.language_code,
                dedupe_key=f"{CHANNEL}:{update.update_id}",
                with_outbox=True,
            )
        if turn.effects:
            self.notifier.wake()  # a referral created or withdrawn: the study team hears now
        return turn

    async def _on_tap(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        message = query.message if isinstance(query.message, Message) else None
        prompt, sep, value = (query.data or "").partition(":")
        if (
            message is None
            or message.chat.type != "private"
            or message.chat.id != query.from_user.id
            or not sep
        ):
            await query.answer()  # another's button, or data we never sent: change nothing
            return
        turn = await self._handle(update, Choice(value, prompt))
        replies = turn.replies
        with contextlib.suppress(TelegramError):
            await query.answer()  # only stops the button's spinner: never worth losing the replies over
        if replies and not any(r.problem for r in replies):
            label = (
                next(
                    (
                        b.text
                        for row in message.reply_markup.inline_keyboard
                        for b in row
                        if b.callback_data == query.data
                    ),
                    value,
                )
                if message.reply_markup
                else value
            )
            chosen = translator(replies[0].locale)(texts.CHOSEN, answer=label)
            try:
                await query.edit_message_text(f"{message.text}\n\n✓ {chosen}", reply_markup=None)
            except TelegramError:
                log.info("could not mark the chosen answer (message too old or unchanged)")
        await self.deliver(context.bot, message.chat.id, turn.waiting)

    async def deliver(self, bot: Bot, chat_id: int, waiting: list[Reply] | None = None) -> None:
        """Send what waits in the person's outbox (`waiting`, if just read), in order, each marked
        sent once Telegram has it.

        A network error, a timeout or a rate limit leaves the rest for later (the
        background loop, or the person's next message); a reply Telegram refuses
        for good is dropped; a person who blocked the bot gets nothing more.
        """
        address = Address(CHANNEL, str(chat_id))
        replies = waiting if waiting is not None else await asyncio.to_thread(self.engine.outbox, address)
        asks_phone = any(reply.expects == "phone" for reply in replies)
        for reply in replies:
            try:
                position = await self._send(bot, chat_id, reply, asks_phone)
            except Forbidden:
                log.info("a person blocked the bot: their replies are dropped")
                await asyncio.to_thread(self.engine.unreachable, address)
                return
            except BadRequest as error:
                log.error("Telegram refused a reply: %s", type(error).__name__)
                await asyncio.to_thread(self.engine.undeliverable, address, reply)
                continue
            except (NetworkError, RetryAfter) as error:  # TimedOut too: it may have arrived; a repeat is fine
                log.warning("a reply could not be sent (%s): it will be sent again", type(error).__name__)
                await asyncio.to_thread(self.engine.postpone, address, 1.0)
                return
            await asyncio.to_thread(self.engine.sent, address, [reply], position)

    async def _send(self, bot: Bot, chat_id: int, reply: Reply, asks_phone: bool) -> int:
        """One reply; one too long for a message goes as several, its buttons last. Returns the
        message id of the last, which orders it among the person's messages."""
        text = reply.text
        if reply.hint:
            text += "\n\n" + translator(reply.locale)(texts.HOW_TO_ANSWER_TELEGRAM)
        *before, last = split_message(text)
        for chunk in before:
            await bot.send_message(chat_id, chunk)
        markup = _markup(reply)
        if markup is None and not asks_phone:
            # The share-phone keyboard hides itself only when tapped; a typed number leaves it up.
            markup = ReplyKeyboardRemove()
        position = (await bot.send_message(chat_id, last, reply_markup=markup)).message_id
        if reply.speak:
            # Read aloud too. The text is what matters: a voice note that fails is not sent again.
            spoken = await asyncio.to_thread(self.speaker.audio, reply)
            with contextlib.suppress(BadRequest, NetworkError, RetryAfter):
                if spoken is not None:
                    position = (await bot.send_voice(chat_id, spoken[1])).message_id
        return position

    async def _point_to_private_chat(
        self, message: Message, language_code: str | None, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        t = translator(pick_locale(language_code, self.engine.locales))
        link = f"https://t.me/{context.bot.username}?start=group"
        await message.reply_text(t(texts.PRIVATE_ONLY, link=link))

    async def register_commands(self, application: Application) -> None:
        """The command menu in every shipped language (Telegram keys it by two-letter code)."""
        bot = application.bot
        default = translator(SOURCE_LOCALE)
        await bot.set_my_commands([BotCommand(c, default(d)) for c, d in texts.COMMANDS])
        done: set[str] = set()
        for locale in self.engine.locales:
            code = locale.split("_")[0]
            if code in done:
                continue  # zh: the first Chinese in LINGUAS (Simplified) speaks for both scripts
            done.add(code)
            t = translator(locale)
            await bot.set_my_commands([BotCommand(c, t(d)) for c, d in texts.COMMANDS], language_code=code)
        coordinator = translator(coordinator_locale(self.settings))
        menu = [BotCommand(c, coordinator(d)) for c, d in (*texts.COMMANDS, *texts.COORDINATOR_COMMANDS)]
        for chat_id in self.settings.coordinators:
            try:
                await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
            except TelegramError as error:
                log.warning("coordinator chat %s: no command menu (%s)", chat_id, type(error).__name__)


def _recording(message: Message) -> Recording | None:
    """Something spoken: a voice note, or an audio file or round video message (one tap away
    from the voice button in Telegram's apps, and just as good an answer)."""
    return message.voice or message.audio or message.video_note


def _seconds(recording: Recording) -> float:
    """Its length (an int today, a timedelta in python-telegram-bot's next major)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        duration = recording.duration
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration or 0)


def _to_input(update: Update) -> Input:
    if update.edited_message is not None:
        return Unsupported("edit")
    message = update.message
    assert message is not None
    if message.contact is not None:
        return Text(message.contact.phone_number, via="contact", position=message.message_id)
    if message.text is not None:
        parsed = parse_text(message.text)
        return replace(parsed, position=message.message_id) if isinstance(parsed, Text) else parsed
    kind = next((k for k in _UNUSABLE if getattr(message, k, None)), "other")
    return Unsupported(kind)


def _markup(reply: Reply) -> Any:
    if reply.options:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(o.label, callback_data=f"{reply.prompt}:{o.value}")]
                for o in reply.options
            ]
        )
    if reply.expects == "phone":
        share = translator(reply.locale)(texts.SHARE_PHONE)
        return ReplyKeyboardMarkup(
            [[KeyboardButton(share, request_contact=True)]], one_time_keyboard=True, resize_keyboard=True
        )
    return None
