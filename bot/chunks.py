"""Long texts cut into messages Telegram accepts.

A Telegram message holds at most 4,096 characters, counted in UTF-16 code
units (an emoji counts two). A longer text is refused outright ("message is
too long"), so a long list is sent as several messages, cut between lines.
Counting the raw text, tags included, errs on the safe side for HTML.
"""

from __future__ import annotations

MESSAGE_LIMIT = 4096


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` as messages of at most `limit` UTF-16 units, cut between lines where it can be."""
    chunks: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        candidate = line if current is None else f"{current}\n{line}"
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current is not None:
            chunks.append(current)
        *full, current = _hard_split(line, limit)
        chunks.extend(full)
    chunks.append(current or "")
    # A cut can leave a chunk of blank lines, which Telegram refuses as empty.
    return [chunk for chunk in chunks if chunk.strip()] or chunks[-1:]


def _hard_split(line: str, limit: int) -> list[str]:
    """A single line too long for one message, cut at the limit (never inside a surrogate pair)."""
    pieces, current, size = [], "", 0
    for char in line:
        width = utf16_len(char)
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
        current += char
        size += width
    pieces.append(current)
    return pieces
