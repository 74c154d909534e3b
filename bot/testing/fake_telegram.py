"""A local fake of the Telegram Bot API, for tests that run the real python-telegram-bot stack.

``FakeTelegram`` is a small aiohttp server on 127.0.0.1 that answers the Bot API methods the bot
uses, the way Telegram does: the same URLs, the same ``{"ok": ..., "result": ...}`` envelopes, the
same error texts and status codes.  The unmodified ``telegram.ext.Application`` talks HTTP to it::

    async with FakeTelegram() as tg:
        app = (
            ApplicationBuilder()
            .token(tg.token)
            .base_url(f"{tg.root}/bot")
            .base_file_url(f"{tg.root}/file/bot")
            .build()
        )
        ...  # start the application and polling
        tg.send_text(42, "/start")                    # a user writes to the bot
        [reply] = await tg.wait_for_messages(42, 1)   # what the bot answered
        tg.tap(42, reply["message_id"], tg.buttons(reply)[0][1])

Tests play the users (``send_text``, ``tap``, ``send_voice``...: each queues an Update that the bot
fetches with getUpdates, or that is posted to its webhook) and read what the bot did
(``messages_to``, ``calls``...).  Fault switches (``fail``, ``latency``, ``slow``, ``blocked``,
``migrated``) make Telegram rate-limit, refuse, fail or hang.

A webhook (setWebhook) gets each update posted, one at a time and in order, with the
``X-Telegram-Bot-Api-Secret-Token`` header, again and again until it answers 2xx, as Telegram
does; getUpdates is refused meanwhile, and deleteWebhook goes back to polling.

What it does not do: inline mode, parse_mode rendering (stored texts are the raw texts
the bot sent; HTML is parsed only to hold its visible length to the 4096 limit), and concurrent
getUpdates conflicts.  Offsets work as on Telegram: a getUpdates with ``offset`` confirms every
update before it, and a confirmed update is never returned again, to any poller; an update not
confirmed yet is returned again to whoever polls next (a bot restarted after its confirming
getUpdates failed sees it twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

JSON_FIELDS = {
    "reply_markup", "commands", "scope", "entities", "caption_entities", "allowed_updates",
    "link_preview_options", "reply_parameters", "media", "results", "permissions", "menu_button",
}  # fmt: skip
INT_FIELDS = {
    "chat_id", "message_id", "offset", "limit", "user_id", "duration", "reply_to_message_id",
    "message_thread_id", "cache_time", "from_chat_id", "width", "height",
}  # fmt: skip
FLOAT_FIELDS = {"timeout", "latitude", "longitude"}
BOOL_FIELDS = {
    "drop_pending_updates", "show_alert", "disable_notification", "protect_content",
    "disable_web_page_preview", "allow_sending_without_reply", "disable_content_type_detection",
}  # fmt: skip
SENDING = {"sendMessage", "sendDocument", "sendVoice", "sendChatAction", "editMessageText"}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"

Json = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake received it (JSON-valued fields decoded, numbers as numbers)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float  # time.monotonic() on arrival
    filenames: dict[str, str] = field(default_factory=dict)  # multipart part name -> uploaded filename


class ApiError(Exception):
    def __init__(
        self, code: int, description: str, retry_after: int | None = None, migrate_to: int | None = None
    ) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after
        self.migrate_to = migrate_to

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to}
        return body


@dataclass
class _Fault:
    kind: str
    count: int
    retry_after: int
    chat_id: int | None


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _visible_len(text: str, parse_mode: str | None) -> int:
    """The length Telegram holds against its 4096 limit: of the text after entities are parsed."""
    if parse_mode == "HTML":
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return _utf16_len(text)


def _check_text(params: dict[str, Any]) -> str:
    text = params.get("text") or ""
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _visible_len(text, params.get("parse_mode")) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    """Turn PTB's form values (all strings, JSON for non-strings) back into Bot API values."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in JSON_FIELDS and value[:1] in ("[", "{"):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
            elif key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
                value = int(value)
            elif key in FLOAT_FIELDS and re.fullmatch(r"-?\d+(\.\d+)?", value):
                value = float(value)
            elif key in BOOL_FIELDS and value in ("true", "false", "True", "False"):
                value = value.lower() == "true"
        out[key] = value
    return out


def _caption(caption: str | None) -> Json:
    return {"caption": caption} if caption else {}


def _inline(markup: Any) -> Json | None:
    """The part of a reply_markup Telegram keeps on a message: only inline keyboards."""
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


class FakeTelegram:
    def __init__(
        self, token: str = "123456:TEST-TOKEN", bot_username: str = "intake_test_bot", bot_id: int = 777000
    ) -> None:
        self._token, self._bot_username, self._bot_id = token, bot_username, bot_id
        self.calls: list[Call] = []
        self.latency: float = 0.0
        # Seconds a call of a method takes on top of `latency` (sendMessage: 0.4 is a slow Telegram);
        # the call takes effect at its end, as a message gets its id when Telegram has it.
        self.slow: dict[str, float] = {}
        self.blocked: set[int] = set()
        # Groups upgraded to supergroups: old id -> new id (sending to the old one is refused).
        self.migrated: dict[int, int] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._updates: dict[int, Json] = {}  # every update ever queued, by id (for redeliver)
        self._pending: dict[int, Json] = {}  # not yet confirmed by an offset
        self._next_update_id = 1
        self._changed = asyncio.Event()  # replaced after each set(): waiters grab the current one
        self._closing = asyncio.Event()
        self._chats: dict[int, Json] = {}
        self._next_message_id: dict[int, int] = {}
        self._bot_messages: dict[int, list[Json]] = {}
        self._user_messages: dict[tuple[int, int], Json] = {}
        self._files: dict[str, _File] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(1)
        self._commands: dict[tuple[str, str], list[Json]] = {}
        self._runner: web.AppRunner | None = None
        # Set by setWebhook: (url, secret_token). Each post's (update id, HTTP status or None when no
        # answer came) is kept in `webhook_posts`; one not answered 2xx is posted again after
        # `webhook_retry` seconds (Telegram waits longer).
        self.webhook: tuple[str, str | None] | None = None
        self.webhook_retry = 0.2
        self.webhook_posts: list[tuple[int, int | None]] = []
        self.posting: int | None = None  # the update being posted, waiting for its answer
        self._webhook_task: asyncio.Task[None] | None = None
        self._port: int | None = None
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, _File]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._true,
            "sendChatAction": self._true,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
            "sendVoice": self._send_voice,
            "sendDocument": self._send_document,
        }

    # ----------------------------------------------------------------- lifecycle and identity

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        await self._stop_posting()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_username(self) -> str:
        return self._bot_username

    @property
    def bot_id(self) -> int:
        return self._bot_id

    @property
    def bot_user(self) -> Json:
        return {"id": self._bot_id, "is_bot": True, "first_name": "Intake", "username": self._bot_username}

    # ----------------------------------------------------------------- updates (the users' side)

    def push_update(self, update: Json) -> int:
        """Queue a raw Update dict (an update_id is assigned when missing); returns its id."""
        update = dict(update)
        update_id = update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._updates[update_id] = update
        self._pending[update_id] = update
        self._notify()
        return update_id

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again, as Telegram does when it is not sure the bot has it."""
        self._pending[update_id] = self._updates[update_id]
        self._notify()

    def pending_updates(self) -> list[int]:
        return sorted(self._pending)

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "en",
        first_name: str = "Test",
    ) -> int:
        return self._send_content(
            user_id,
            {"text": text, **self._command_entities(text)},
            chat_id=chat_id,
            chat_type=chat_type,
            language_code=language_code,
            first_name=first_name,
        )

    def send_command(self, user_id: int, command: str, args: str = "", **kw: Any) -> int:
        return self.send_text(user_id, f"/{command}" + (f" {args}" if args else ""), **kw)

    def tap(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        language_code: str = "en",
    ) -> int:
        """The user taps an inline button with callback ``data`` under the bot's message ``message_id``."""
        chat_key = user_id if chat_id is None else chat_id
        stored = self._find_bot_message(chat_key, message_id)
        if stored is not None:
            message = self._public(stored)
        else:
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat(chat_key),
                "from": self.bot_user,
            }
        query = {
            "id": f"{self._bot_id}{next(self._query_counter):08d}",
            "from": self._user(user_id, "Test", language_code),
            "chat_instance": "ci",
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        contact_first_name: str = "Test",
        **kw: Any,
    ) -> int:
        contact: Json = {"phone_number": phone_number, "first_name": contact_first_name}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._send_content(user_id, {"contact": contact}, **kw)

    def send_sticker(self, user_id: int, *, emoji: str = "👍", **kw: Any) -> int:
        file = self._register_file("stickers", "webp", b"RIFF-fake-webp")
        sticker = {**self._file_ref(file), "type": "regular", "width": 512, "height": 512}
        sticker |= {"is_animated": False, "is_video": False, "emoji": emoji}
        return self._send_content(user_id, {"sticker": sticker}, **kw)

    def send_photo(self, user_id: int, *, caption: str | None = None, **kw: Any) -> int:
        file = self._register_file("photos", "jpg", b"\xff\xd8\xff fake jpeg")
        photo = [{**self._file_ref(file), "width": 800, "height": 600, "file_size": len(file.content)}]
        return self._send_content(user_id, {"photo": photo} | _caption(caption), **kw)

    def send_document(
        self,
        user_id: int,
        content: bytes = b"%PDF-1.4 fake",
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        **kw: Any,
    ) -> int:
        file = self._register_file("documents", file_name.rsplit(".", 1)[-1], content)
        document = {**self._file_ref(file), "file_name": file_name, "mime_type": mime_type}
        document["file_size"] = len(content)
        return self._send_content(user_id, {"document": document} | _caption(caption), **kw)

    def send_location(
        self, user_id: int, latitude: float = 52.52, longitude: float = 13.405, **kw: Any
    ) -> int:
        return self._send_content(user_id, {"location": {"latitude": latitude, "longitude": longitude}}, **kw)

    def send_video(self, user_id: int, *, duration: int = 3, caption: str | None = None, **kw: Any) -> int:
        file = self._register_file("videos", "mp4", b"fake mp4")
        video = {**self._file_ref(file), "width": 640, "height": 480, "duration": duration}
        return self._send_content(user_id, {"video": video} | _caption(caption), **kw)

    def send_voice(self, user_id: int, ogg: bytes, duration: int = 2, **kw: Any) -> int:
        """A voice note whose bytes getFile + the file download serve."""
        return self.send_recording(user_id, "voice", ogg, duration, **kw)

    def send_recording(self, user_id: int, kind: str, data: bytes, duration: int = 2, **kw: Any) -> int:
        """A voice note, an audio file or a round video message (`kind`: voice, audio, video_note)."""
        folder, extension, mime_type = {
            "voice": ("voice", "oga", "audio/ogg"),
            "audio": ("music", "m4a", "audio/mp4"),
            "video_note": ("video_notes", "mp4", None),
        }[kind]
        file = self._register_file(folder, extension, data)
        recording = {**self._file_ref(file), "duration": duration, "file_size": len(data)}
        recording.update({"mime_type": mime_type} if mime_type else {"length": 384})
        return self._send_content(user_id, {kind: recording}, **kw)

    def edit_text(
        self,
        user_id: int,
        message_id: int,
        new_text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "en",
        first_name: str = "Test",
    ) -> int:
        """The user edits their message ``message_id``: an ``edited_message`` update."""
        chat_key = user_id if chat_id is None else chat_id
        old = self._user_messages.get((chat_key, message_id))
        message = {
            "message_id": message_id,
            "from": self._user(user_id, first_name, language_code),
            "chat": self._chat(chat_key, chat_type, first_name),
            "date": old["date"] if old else int(time.time()),
            "edit_date": int(time.time()),
            "text": new_text,
            **self._command_entities(new_text),
        }
        self._user_messages[(chat_key, message_id)] = message
        return self.push_update({"edited_message": message})

    # ----------------------------------------------------------------- the bot's side, for tests

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def messages_from(self, chat_id: int) -> list[Json]:
        """What users wrote in chat ``chat_id``, in order."""
        mine = [message for (chat, _), message in self._user_messages.items() if chat == chat_id]
        return copy.deepcopy(sorted(mine, key=lambda message: message["message_id"]))

    def messages_to(self, chat_id: int) -> list[Json]:
        """The bot's messages in the chat, in order, as stored (current text, decoded reply_markup of
        any kind; Telegram itself only echoes inline keyboards)."""
        return copy.deepcopy(self._bot_messages.get(chat_id, []))

    def last_message_to(self, chat_id: int) -> Json | None:
        messages = self._bot_messages.get(chat_id)
        return copy.deepcopy(messages[-1]) if messages else None

    @staticmethod
    def buttons(message: Json) -> list[tuple[str, str]]:
        """(text, callback_data) of the message's inline keyboard, row by row."""
        markup = _inline(message.get("reply_markup")) or {"inline_keyboard": []}
        return [(b["text"], b.get("callback_data", "")) for row in markup["inline_keyboard"] for b in row]

    def documents_to(self, chat_id: int) -> list[tuple[str, bytes]]:
        return [
            (m["document"].get("file_name", ""), self._files[m["document"]["file_id"]].content)
            for m in self._bot_messages.get(chat_id, [])
            if "document" in m
        ]

    def commands_for(self, language_code: str | None = None, scope: Json | None = None) -> list[Json]:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out waiting for {what or getattr(predicate, '__name__', '')}")
            await asyncio.sleep(0.01)

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 10) -> list[Json]:
        await self.wait_for(
            lambda: len(self._bot_messages.get(chat_id, [])) >= count,
            timeout,
            f"{count} message(s) to chat {chat_id} (have {len(self._bot_messages.get(chat_id, []))})",
        )
        return self.messages_to(chat_id)

    def fail(
        self, method: str, kind: str, count: int = 1, retry_after: int = 1, chat_id: int | None = None
    ) -> None:
        """Make the next ``count`` calls of ``method`` (to ``chat_id`` only, if given) fail.

        kind: "429", "403", "400" (or "400:<description>"), "500"; "drop": the call takes effect
        but the connection closes without an answer; "delay:<seconds>": it takes effect, the
        answer comes that much later."""
        if not re.fullmatch(r"429|403|400(:.+)?|500|drop|delay:\d+(\.\d+)?", kind):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.setdefault(method, []).append(_Fault(kind, count, retry_after, chat_id))

    def clear_faults(self) -> None:
        """Forget every queued failure: Telegram is healthy again."""
        self._faults.clear()

    # ----------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        if match := re.fullmatch(r"file/bot([^/]+)/(.+)", path):
            return await self._download(match[1], match[2])
        match = re.fullmatch(r"bot([^/]+)/([A-Za-z]+)", path)
        if match is None:
            return self._error(ApiError(404, "Not Found"))
        if match[1] != self._token:
            return self._error(ApiError(401, "Unauthorized"))
        try:
            params, files = await self._read_params(request)
        except ApiError as error:
            return self._error(error)
        method = {name.lower(): name for name in self._methods}.get(match[2].lower(), match[2])
        uploads = {key: file.content for key, file in files.items()}
        filenames = {key: file.file_path for key, file in files.items()}
        self.calls.append(Call(method, params, uploads, time.monotonic(), filenames))
        handler = self._methods.get(method)
        if handler is None:
            return self._error(ApiError(404, "Not Found"))
        if delay := self.latency + self.slow.get(method, 0.0):
            await asyncio.sleep(delay)
        fault = self._take_fault(method, params)
        try:
            if method in SENDING and params.get("chat_id") in self.blocked:
                raise ApiError(403, BLOCKED)
            if method in SENDING and params.get("chat_id") in self.migrated:
                raise ApiError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    migrate_to=self.migrated[params["chat_id"]],
                )
            if fault is not None and fault.kind != "drop" and not fault.kind.startswith("delay:"):
                raise self._fault_error(fault)
            result = await handler(params, files)
        except ApiError as error:
            return self._error(error)
        if fault is not None and fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if fault is not None:
            await self._sleep(float(fault.kind.split(":", 1)[1]))
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, _File]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, _File] = {}
        if request.content_type == "application/json":
            body = await request.read()
            try:
                loaded = json.loads(body) if body.strip() else {}
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body") from None
            if not isinstance(loaded, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            raw.update(loaded)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    # file_path holds the uploaded filename until the file is registered
                    files[key] = _File("", "", value.filename, value.file.read())
                else:
                    raw[key] = value
        return _decode(raw), files

    async def _download(self, token: str, file_path: str) -> web.StreamResponse:
        if token != self._token:
            return self._error(ApiError(401, "Unauthorized"))
        self.calls.append(Call("file", {"file_path": file_path}, {}, time.monotonic()))
        for file in self._files.values():
            if file.file_path == file_path:
                return web.Response(body=file.content, content_type="application/octet-stream")
        return self._error(ApiError(404, "Not Found"))

    @staticmethod
    def _error(error: ApiError) -> web.Response:
        return web.json_response(error.body(), status=error.code)

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        for fault in self._faults.get(method, []):
            if fault.chat_id is None or fault.chat_id == params.get("chat_id"):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults[method].remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_error(fault: _Fault) -> ApiError:
        if fault.kind == "429":
            return ApiError(429, f"Too Many Requests: retry after {fault.retry_after}", fault.retry_after)
        if fault.kind == "403":
            return ApiError(403, BLOCKED)
        if fault.kind.startswith("400"):
            return ApiError(400, "Bad Request: " + (fault.kind[4:] or "chat not found"))
        return ApiError(500, "Internal Server Error")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops (so stop() never waits on a delayed answer)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ----------------------------------------------------------------- Bot API methods

    async def _true(self, params: dict[str, Any], files: dict[str, _File]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, _File]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = None
        await self._stop_posting()
        return True

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, _File]) -> bool:
        if not params.get("url"):
            return await self._delete_webhook(params, files)
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = (str(params["url"]), params.get("secret_token"))
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._post_updates())
        return True

    async def _stop_posting(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None

    async def _post_updates(self) -> None:
        """Post each pending update to the webhook, the oldest first, until it is answered 2xx."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            while self.webhook is not None and not self._closing.is_set():
                if not self._pending:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):  # not wait_for: it can swallow the cancel
                            await self._changed.wait()
                    continue
                update_id = min(self._pending)
                url, secret = self.webhook
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                status: int | None
                self.posting = update_id
                try:
                    async with session.post(url, json=self._pending[update_id], headers=headers) as answer:
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError):
                    status = None
                finally:
                    self.posting = None
                self.webhook_posts.append((update_id, status))
                if status is not None and 200 <= status < 300:
                    self._pending.pop(update_id, None)
                    self._notify()
                else:
                    await asyncio.sleep(self.webhook_retry)

    async def _get_updates(self, params: dict[str, Any], files: dict[str, _File]) -> list[Json]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if offset < 0:  # all but the last -offset updates
            kept = sorted(self._pending)[offset:]
            offset = kept[0] if kept else max(self._pending, default=0) + 1
        for update_id in [i for i in self._pending if i < offset]:
            del self._pending[update_id]
        if not self._pending and timeout > 0 and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return [self._pending[i] for i in sorted(self._pending)[:limit]]

    async def _send_message(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        chat_id = self._chat_id(params)
        text = _check_text(params)
        _check_markup(params.get("reply_markup"))
        content: Json = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._bot_message(chat_id, params, content)

    async def _edit_message_text(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        text = _check_text(params)
        return self._edit(params, text=text)

    async def _edit_message_reply_markup(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        return self._edit(params)

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, _File]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, _File]) -> list[Json]:
        return self.commands_for(params.get("language_code"), params.get("scope"))

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, _File]) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _get_file(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        file = self._files.get(str(params.get("file_id")))
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {**self._file_ref(file), "file_size": len(file.content), "file_path": file.file_path}

    async def _send_voice(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        chat_id = self._chat_id(params)
        file = self._uploaded(params, files, "voice", "oga")
        voice = {**self._file_ref(file), "duration": int(params.get("duration") or 1)}
        voice |= {"mime_type": "audio/ogg", "file_size": len(file.content)}
        return self._bot_message(chat_id, params, {"voice": voice})

    async def _send_document(self, params: dict[str, Any], files: dict[str, _File]) -> Json:
        chat_id = self._chat_id(params)
        upload = files.get("document")
        file = self._uploaded(params, files, "document", "bin")
        name = upload.file_path if upload else file.file_path.rsplit("/", 1)[-1]
        document = {**self._file_ref(file), "file_name": name, "file_size": len(file.content)}
        return self._bot_message(chat_id, params, {"document": document})

    # ----------------------------------------------------------------- helpers

    def _user(self, user_id: int, first_name: str, language_code: str) -> Json:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def _chat(self, chat_id: int, chat_type: str | None = None, first_name: str = "Test") -> Json:
        if chat_type is None and chat_id in self._chats:
            return dict(self._chats[chat_id])
        chat_type = chat_type or ("private" if chat_id > 0 else "group")
        chat: Json = {"id": chat_id, "type": chat_type}
        chat |= {"first_name": first_name} if chat_type == "private" else {"title": "Test group"}
        self._chats[chat_id] = chat
        return dict(chat)

    def _take_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _send_content(
        self,
        user_id: int,
        content: Json,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "en",
        first_name: str = "Test",
    ) -> int:
        """Queue a user's message with ``content``; a group chat defaults to id -user_id."""
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -user_id
        message = {
            "message_id": self._take_message_id(chat_id),
            "from": self._user(user_id, first_name, language_code),
            "chat": self._chat(chat_id, chat_type, first_name),
            "date": int(time.time()),
            **content,
        }
        self._user_messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    @staticmethod
    def _command_entities(text: str) -> Json:
        if not text.startswith("/"):
            return {}
        length = _utf16_len(text.split(" ", 1)[0])
        return {"entities": [{"type": "bot_command", "offset": 0, "length": length}]}

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _bot_message(self, chat_id: int, params: dict[str, Any], content: Json) -> Json:
        message: Json = {
            "message_id": self._take_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        if params.get("caption"):
            message["caption"] = params["caption"]
        if params.get("reply_markup") is not None:
            message["reply_markup"] = params["reply_markup"]
        self._bot_messages.setdefault(chat_id, []).append(message)
        return self._public(message)

    def _find_bot_message(self, chat_id: Any, message_id: Any) -> Json | None:
        for message in self._bot_messages.get(chat_id, []):
            if message["message_id"] == message_id:
                return message
        return None

    def _edit(self, params: dict[str, Any], **changes: Any) -> Json:
        message = self._find_bot_message(params.get("chat_id"), params.get("message_id"))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        _check_markup(markup)
        new = message | changes
        if new.get("text") == message.get("text") and _inline(markup) == _inline(message.get("reply_markup")):
            raise ApiError(400, NOT_MODIFIED)
        message.update(changes)
        message.pop("reply_markup", None)  # an edit without reply_markup removes the inline keyboard
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return self._public(message)

    @staticmethod
    def _public(message: Json) -> Json:
        """The message as Telegram returns it: only inline keyboards are echoed."""
        public = copy.deepcopy(message)
        if _inline(public.get("reply_markup")) is None:
            public.pop("reply_markup", None)
        return public

    def _register_file(self, folder: str, extension: str, content: bytes) -> _File:
        n = next(self._file_counter)
        file = _File(f"FAKE-{folder}-{n:06d}", f"U{n:06d}", f"{folder}/file_{n}.{extension}", content)
        self._files[file.file_id] = file
        return file

    @staticmethod
    def _file_ref(file: _File) -> Json:
        return {"file_id": file.file_id, "file_unique_id": file.file_unique_id}

    def _uploaded(self, params: dict[str, Any], files: dict[str, _File], field_name: str, ext: str) -> _File:
        """The file sent as ``field_name``: an upload (maybe via attach://) or an existing file_id."""
        value = params.get(field_name)
        upload = files.get(field_name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            suffix = upload.file_path.rsplit(".", 1)[-1] if "." in upload.file_path else ""
            suffix = suffix if field_name != "voice" and re.fullmatch(r"[A-Za-z0-9]{1,5}", suffix) else ext
            folder = "voice" if field_name == "voice" else f"{field_name}s"
            return self._register_file(folder, suffix, upload.content)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        raise ApiError(400, f"Bad Request: there is no {field_name} in the request")

    @staticmethod
    def _commands_key(scope: Json | None, language_code: str | None) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""
