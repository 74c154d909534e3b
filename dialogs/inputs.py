"""What a person sends, as every channel hands it to the engine."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Campaign codes travel in links (Telegram deep links allow these characters only).
CAMPAIGN_SOURCE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Start:
    """The person opened the conversation, possibly from a campaign link.

    `locale` is a language the person chose explicitly (a command-line flag, a
    web page's picker); unlike the channel's hint, it also switches a screening
    already under way.
    """

    source: str | None = None
    locale: str | None = None
    # The study the link was for (a trial's slug), where the channel says so apart from the source.
    trial: str | None = None


@dataclass(frozen=True)
class Choice:
    """A tapped option, with the prompt its button belonged to."""

    value: str
    prompt: str


@dataclass(frozen=True)
class Text:
    """Something typed, or a transcript (`via="voice"`: always read back before it is stored)."""

    text: str
    via: str = "text"
    # Its place in the conversation, where the channel numbers messages (Telegram's message_id,
    # one sequence for both sides of a private chat): something sent before the current
    # question reached the person cannot answer it.
    position: int | None = None
    # How sure the speech engine was of a transcript (0..1), stored with the answer.
    confidence: float | None = None


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """Something the bot cannot use: a sticker, a photo, a file, a location…"""

    kind: str


Input = Start | Choice | Text | Command | Unsupported


def parse_text(text: str) -> Input:
    """A typed line as an input: "/name argument" is a command (/start: a Start), anything else text.

    The one command parser of every channel, so that /start behaves the same
    everywhere. "/start@intake_bot" (Telegram groups) is /start.
    """
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) == 1:
        return Text(text)
    name, _, argument = stripped[1:].partition(" ")
    name = name.split("@")[0].lower()
    if name == "start":
        return Start(source=argument.strip() or None)
    return Command(name, argument.strip() or None)


@dataclass(frozen=True)
class Address:
    """Who is speaking, as a channel knows them."""

    channel: str
    external_id: str
