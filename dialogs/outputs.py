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
    # Its row in the outbox until it is sent.
    id: int | None = None

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        del data["id"]
        data["options"] = [[o.value, o.label] for o in self.options]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], id: int | None = None) -> Reply:
        options = tuple(Option(v, label) for v, label in data.get("options", ()))
        return cls(**{**data, "options": options, "id": id})


@dataclass(frozen=True)
class Turn:
    """What handling one input did: what to say, and what others must hear about."""

    replies: list[Reply]
    effects: list[Effect]
