"""Chinese transcripts in the person's script. Whisper writes Mandarin in either script, and
mixes them within a sentence; a person reads their answer back in the characters they write.

OpenCC (the `opencc` package: the OpenCC project's own binding of its C++ library, with its
current dictionaries) converts whole words, not characters one by one: 头发 -> 頭髮, 发现 ->
發現. Traditional is written with Taiwan's character forms (為, 裡), as the zh_Hant texts are;
words are kept as said (no vocabulary is swapped for Taiwan's).
"""

from __future__ import annotations

from functools import cache

import opencc

CONVERSIONS = {"zh_Hans": "t2s", "zh_Hant": "s2tw"}


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def in_script(text: str, locale: str) -> str:
    """`text` in the script of `locale` (zh_Hans, zh_Hant); in another language, as it is."""
    config = CONVERSIONS.get(locale)
    return _converter(config).convert(text) if config else text
