"""Long texts cut into messages Telegram accepts."""

from __future__ import annotations

from bot.chunks import MESSAGE_LIMIT, split_message, utf16_len


def test_a_text_that_fits_is_one_message() -> None:
    text = "line one\nline two"
    assert split_message(text) == [text]


def test_long_texts_are_cut_between_lines_and_lose_nothing() -> None:
    lines = [f"{i:03} · 李伟 · +8613812345678 · {'x' * 80}" for i in range(100)]
    chunks = split_message("\n".join(lines))
    assert len(chunks) > 1
    assert all(utf16_len(chunk) <= MESSAGE_LIMIT for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines, "whole lines, in order"


def test_a_single_overlong_line_is_cut_at_the_limit() -> None:
    assert split_message("abcdefg", limit=3) == ["abc", "def", "g"]


def test_emoji_count_twice_and_are_never_cut_in_half() -> None:
    assert utf16_len("😀") == 2
    assert split_message("😀😀😀", limit=4) == ["😀😀", "😀"]


def test_blank_lines_at_a_cut_do_not_become_empty_messages() -> None:
    assert split_message("aaaa\n\n\n\nbbbb", limit=4) == ["aaaa", "bbbb"]
