"""Logging that never carries a secret or what a person said.

Our own log lines carry ids and states only. Libraries are another matter:
httpx logs every request URL (a Bot API URL contains the bot's token) and
python-telegram-bot logs whole updates, with people's messages, at DEBUG. So
their loggers are held at INFO or above whatever the level asked for, and
every record passes through a filter that masks bot tokens wherever they appear.
"""

from __future__ import annotations

import logging
import re

# A Bot API token: the bot's numeric id, a colon, 35 URL-safe characters.
TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
# Libraries that log request URLs or message contents below INFO.
_CHATTY = ("httpx", "httpcore", "telegram", "hpack", "asyncio")
_QUIET = ("alembic", "httpx", "httpcore")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = TOKEN.sub("<token>", message)
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "<secret>")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str, secrets: list[str] | None = None) -> None:
    root = logging.getLogger()
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level.upper())
    redact = RedactSecrets(secrets or [])
    for handler in root.handlers:
        handler.addFilter(redact)
    floor = max(logging.INFO, root.level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(floor)
    # Migrations and every HTTP request at INFO are noise in a chat.
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
