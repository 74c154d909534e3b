"""The console channel: the dialog in a terminal, or driven by piped input.

Questions are printed with numbered options; a person types a number, an
option's words, or a free answer ("yes", "not sure", "42", 是的). Lines that
start with "/" are commands (/back, /restart, /stop, /help, /language, /delete).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import TextIO

from dialogs.engine import Address, Command, Engine, Input, Reply, Start, Text


def parse_line(line: str) -> Input:
    stripped = line.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        name, _, argument = stripped[1:].partition(" ")
        return Command(name.lower(), argument.strip() or None)
    return Text(line)


def render(replies: Iterable[Reply], out: TextIO) -> None:
    for reply in replies:
        out.write(reply.text + "\n")
        for number, option in enumerate(reply.options, start=1):
            out.write(f"  {number}. {option.label}\n")
        out.write("\n")
    out.flush()


def chat(
    engine: Engine,
    stdin: TextIO,
    stdout: TextIO,
    *,
    user: str | None = None,
    locale: str | None = None,
    hint: str | None = None,
    source: str | None = None,
) -> None:
    """Run one person's conversation until the input ends.

    `locale` is a language the person chose (it also switches a screening under
    way); `hint` is only a guess for a new one, such as the terminal's $LANG.
    """
    address = Address("console", user or getpass.getuser())
    interactive = stdin.isatty()
    render(engine.handle(address, Start(source=source, locale=locale), locale=hint), stdout)
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        if not interactive:
            stdout.write(f"> {line.rstrip()}\n")
        render(engine.handle(address, parse_line(line.rstrip("\n"))), stdout)
