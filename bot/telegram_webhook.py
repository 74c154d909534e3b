"""Telegram by webhook (`intake telegram --webhook URL`): Telegram posts each update to us.

Served by Starlette and uvicorn as python-telegram-bot's own "customwebhookbot" example does
(an Application without an Updater, each update given to it by the web route), with two
differences that matter when several instances share one database:

- Each request must carry the secret given to setWebhook (X-Telegram-Bot-Api-Secret-Token): a
  forged or missing one gets 403 and changes nothing.
- The route answers only once the update is handled, through the same per-chat order as
  polling: 200 when it is (its answer committed, the update id stored so that a second delivery
  changes nothing), 500 when it failed. Telegram delivers again whatever did not get a 200, so a
  process that dies mid-update loses nothing. The example's in-memory queue would answer 200 for
  an update that dies with the process.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import sys
from contextvars import ContextVar
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.config import ConfigError, Settings
from bot.health import Health
from storage.files import create_secret_file

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few kilobytes; files are fetched, not posted
# The failures of the update the current request is handling (its error handler runs in the
# request's own task).
_failures: ContextVar[list[BaseException] | None] = ContextVar("webhook_failures", default=None)


def webhook_secret(settings: Settings) -> str:
    """INTAKE_TELEGRAM_WEBHOOK_SECRET, else the one in the data directory, created (and said so)
    on first run."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    path = settings.data_dir / "telegram-webhook.secret"
    if create_secret_file(path, secrets.token_urlsafe(32) + "\n"):
        print(
            f"trial-intake: created the Telegram webhook's secret in {path}. Every instance behind the "
            "same bot needs the same one (INTAKE_TELEGRAM_WEBHOOK_SECRET).",
            file=sys.stderr,
        )
    secret = path.read_text(encoding="ascii").strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError(f"{path} does not hold a webhook secret (1-256 of A-Z a-z 0-9 _ -)")
    return secret


def webhook_app(application: Application, secret: str, path: str, health: Health) -> Starlette:
    """The web route Telegram posts updates to, at `path`, beside the health endpoints."""
    application.add_error_handler(_note_failure)

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), application.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)  # not an update: sending it again will not help
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            # Through the update processor, as polling does: each chat's updates in order.
            await application.update_processor.process_update(update, application.process_update(update))
        finally:
            _failures.reset(token)
        return Response(status_code=500 if failures else 200)

    return Starlette(routes=[Route(path, receive, methods=["POST"]), *health.routes()])


async def _note_failure(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    failures = _failures.get()
    if failures is not None and context.error is not None:
        failures.append(context.error)


async def serve_webhook(application: Application, settings: Settings, url: str) -> None:
    """Tell Telegram where to post (with the secret), and serve it until interrupted; the
    application's background work (replies to send again, notifications) runs meanwhile."""
    secret = webhook_secret(settings)
    path = urlsplit(url).path or "/"
    channel = application.bot_data["channel"]
    health = Health(
        channel.engine.store,
        metrics_from=settings.metrics_networks,
        speech_waiting=lambda: channel.listener.waiting,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            webhook_app(application, secret, path, health),
            host=settings.telegram_webhook_host,
            port=settings.telegram_webhook_port,
            access_log=False,
            log_level="warning",
            proxy_headers=False,
        )
    )
    async with application:  # initialize, shutdown
        await application.bot.set_webhook(url, allowed_updates=Update.ALL_TYPES, secret_token=secret)
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            await server.serve()
        finally:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
