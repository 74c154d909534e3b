"""What the engine gives back: replies to send, and what a turn changed (see `dialogs.effects`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dialogs.effects import Effect
from dialogs.i18n import SOURCE_LOCALE


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    # The language of its label where it is not the reply's (a language's own name, at the menu).
    locale: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    options: tuple[Option, ...] = ()
    # The prompt this reply asks, "<screening>.<sequence>"; buttons carry it back.
    prompt: str | None = None
    # What it asks: a question id, a dialog state ("summary") or a menu ("_confirm", "_delete").
    asks: str | None = None
    # What kind of answer is expected: a question kind, or "choice" for menus.
    expects: str | None = None
    # The input was not used (not understood, a stale button…): channels keep the old buttons.
    problem: bool = False
    # The channel should say how to answer on it ("tap a button, or type…") after this text.
    hint: bool = False
    # The person asked for the questions to be read aloud: the channel sends this one as audio too.
    speak: bool = False
    # The language it is written in, for what a channel adds itself (a button's label).
    locale: str = SOURCE_LOCALE
    # A reply in several languages (the language menu): the language of each line of its text.
    languages: tuple[str, ...] = ()
    # Its row in the outbox until it is sent.
    id: int | None = None

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        del data["id"]
        data["options"] = [[o.value, o.label, *([o.locale] if o.locale else [])] for o in self.options]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], id: int | None = None) -> Reply:
        options = tuple(Option(*option) for option in data.get("options", ()))
        languages = tuple(data.get("languages", ()))
        return cls(**{**data, "options": options, "languages": languages, "id": id})


@dataclass(frozen=True)
class Turn:
    """What handling one input did: what to say, and what others must hear about."""

    replies: list[Reply]
    effects: list[Effect]
    # Everything in the person's outbox after it, oldest first, when the channel asked for it.
    waiting: list[Reply] | None = None
