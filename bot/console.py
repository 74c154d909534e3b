"""The console channel: the dialog in a terminal, or driven by piped input.

Questions are printed with numbered options; a person types a number, an
option's words, or a free answer ("yes", "not sure", "42", 是的). Lines that
start with "/" are commands (/back, /restart, /stop, /help, /language, /delete).
What the engine says is taken from its outbox and marked sent once printed.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO

from bot import texts
from dialogs.engine import Address, Engine, Reply, Start, parse_text
from dialogs.i18n import translator
from dialogs.inputs import Command, Input, Unsupported


class Lines(Protocol):
    def readline(self) -> str: ...
    def isatty(self) -> bool: ...


class Utf8Lines:
    """A byte stream's lines, each decoded on its own: an undecodable line raises
    UnicodeDecodeError only when it is reached, after every good line before it was handled."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readline(self) -> str:
        return self.stream.readline().decode("utf-8")

    def isatty(self) -> bool:
        return self.stream.isatty()


def render(replies: Iterable[Reply], out: TextIO) -> None:
    for reply in replies:
        out.write(reply.text + "\n")
        for number, option in enumerate(reply.options, start=1):
            out.write(f"  {number}. {option.label}\n")
        if reply.hint:
            out.write(translator(reply.locale)(texts.HOW_TO_ANSWER_CONSOLE) + "\n")
        out.write("\n")
    out.flush()


def deliver(engine: Engine, address: Address, out: TextIO) -> str | None:
    """Print everything waiting for the person, mark it sent; return the language it was in."""
    replies = engine.outbox(address)
    render(replies, out)
    engine.sent(address, replies)
    return replies[-1].locale if replies else None


def _input(
    engine: Engine,
    address: Address,
    line: str,
    listen: Callable[[bytes, str], Input] | None,
    hint: str | None,
) -> Input:
    """A typed line as an input; "/voice <file>" is the recording in that file, as heard."""
    message = parse_text(line)
    if not (isinstance(message, Command) and message.name == "voice" and message.argument):
        return message
    try:
        data = Path(message.argument).expanduser().read_bytes()
    except OSError:
        return Unsupported("voice_unreadable")
    if listen is None:
        return Unsupported("voice_unavailable")
    return listen(data, engine.locale_of(address) or hint or "en")


def chat(
    engine: Engine,
    stdin: Lines,
    stdout: TextIO,
    *,
    user: str | None = None,
    locale: str | None = None,
    hint: str | None = None,
    source: str | None = None,
    trial: str | None = None,
    after_turn: Callable[[], None] = lambda: None,
    listen: Callable[[bytes, str], Input] | None = None,
) -> None:
    """Run one person's conversation until the input ends.

    `locale` is a language the person chose (it also switches a screening under
    way); `hint` is only a guess for a new one, such as the terminal's $LANG.
    After each reply the language it was written in becomes the hint, so that
    someone who chose Chinese and then erased their data is still answered in Chinese.
    `after_turn` runs after each input (the notifier looks for new referrals). `listen` turns a
    recording into an input ("/voice answer.ogg" answers by voice); without it, recordings are
    answered "please type".
    """
    address = Address("console", user or getpass.getuser())
    interactive = stdin.isatty()
    engine.handle(address, Start(source=source, locale=locale, trial=trial), locale=hint)
    hint = deliver(engine, address, stdout) or hint
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        if not interactive:
            stdout.write(f"> {line.rstrip()}\n")
        engine.handle(address, _input(engine, address, line.rstrip("\n"), listen, hint), locale=hint)
        after_turn()
        hint = deliver(engine, address, stdout) or hint
