"""Understanding typed (or transcribed) answers: yes/no, options, numbers, phones.

The words are data: `locales/<locale>/answers.yaml` lists each language's ways
of saying yes, no and "I don't know", and its number words. Every shipped
lexicon is used at once, so someone who types 是的 in an English chat is still
understood. Among all phrases found in an answer the longest wins: "not sure"
beats "sure", 没有 beats 有, "I don't know" beats "no".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path

import yaml

from dialogs.conditions import DONT_KNOW
from dialogs.i18n import LOCALES_DIR, shipped_locales

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# Bidi overrides and isolates can disguise text; control characters break displays.
_UNSAFE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]")
# A minus or a decimal part makes it something other than a whole number of years.
# Only a minus that starts a word is a sign: "42-43" is two numbers, 我今年42岁 one.
_DIGITS = re.compile(r"(?:(?<![\w])-)?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Lexicon:
    """Phrases per stored value (yes/no/dont_know), and number words."""

    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    numbers: Mapping[str, int] = field(default_factory=dict)
    multipliers: Mapping[str, int] = field(default_factory=dict)
    fillers: tuple[str, ...] = ()

    @cached_property
    def number_patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str]]:
        """The number words as one pattern (longest first), and what may stand between them."""
        words = sorted({*self.numbers, *self.multipliers}, key=len, reverse=True)
        fillers = "|".join(re.escape(f) for f in self.fillers if f)
        gap = re.compile(rf"^(?:[\s-]|{fillers})*$" if fillers else r"^[\s-]*$")
        return (re.compile("|".join(_word(w) for w in words)) if words else None), gap

    def merged(self, other: Lexicon) -> Lexicon:
        keys = set(self.phrases) | set(other.phrases)
        return Lexicon(
            phrases={k: (*self.phrases.get(k, ()), *other.phrases.get(k, ())) for k in keys},
            numbers={**self.numbers, **other.numbers},
            multipliers={**self.multipliers, **other.multipliers},
            fillers=(*self.fillers, *other.fillers),
        )


def load_lexicon(path: Path) -> Lexicon:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    numbers = data.get("numbers") or {}
    return Lexicon(
        phrases={
            key: tuple(normalize(str(p)) for p in data.get(key) or ()) for key in ("yes", "no", DONT_KNOW)
        },
        numbers={normalize(str(k)): int(v) for k, v in (numbers.get("values") or {}).items()},
        multipliers={normalize(str(k)): int(v) for k, v in (numbers.get("multipliers") or {}).items()},
        fillers=tuple(normalize(str(f)) for f in numbers.get("fillers") or ()),
    )


@cache
def all_lexicons(locales_dir: Path = LOCALES_DIR) -> Lexicon:
    """Every shipped locale's lexicon, merged."""
    merged = Lexicon()
    for locale in shipped_locales(locales_dir):
        path = locales_dir / locale / "answers.yaml"
        if path.exists():
            merged = merged.merged(load_lexicon(path))
    return merged


def clean(text: str) -> str:
    """Text as it may be stored and shown: no control or bidi-override characters."""
    return _UNSAFE.sub("", unicodedata.normalize("NFC", text)).strip()


def normalize(text: str) -> str:
    """Folded for matching: full-width to ASCII, case folded, one apostrophe, single spaces."""
    folded = unicodedata.normalize("NFKC", clean(text)).casefold().replace("\u2019", "'")
    kept = "".join(c if (c.isalnum() or c in "' ?") else " " for c in folded)
    return " ".join(kept.split())


def match_phrase(text: str, phrases: Mapping[str, Iterable[str]]) -> str | None:
    """The key whose phrase is the longest found in `text`; None if none, or a tie."""
    frozen = tuple((key, tuple(options)) for key, options in phrases.items())
    pattern, owners = _matcher(frozen)
    if pattern is None:
        return None
    found = [m.group(1) for m in pattern.finditer(normalize(text))]
    if not found:
        return None
    longest = max(len(phrase) for phrase in found)
    keys = {key for phrase in found if len(phrase) == longest for key in owners[phrase]}
    return next(iter(keys)) if len(keys) == 1 else None


Phrases = tuple[tuple[str, tuple[str, ...]], ...]


@lru_cache(maxsize=512)
def _matcher(phrases: Phrases) -> tuple[re.Pattern[str] | None, dict[str, set[str]]]:
    """One compiled pattern for a set of phrases, and which keys each phrase means.

    A lookahead at every position finds, for each place in the text, the longest
    phrase starting there, so phrases that overlap ("i'm not" / "not sure") all count.
    """
    owners: dict[str, set[str]] = {}
    for key, options in phrases:
        for phrase in options:
            if phrase:
                owners.setdefault(phrase, set()).add(key)
    if not owners:
        return None, owners
    alternatives = "|".join(_word(p) for p in sorted(owners, key=len, reverse=True))
    return re.compile(rf"(?=({alternatives}))"), owners


def _word(phrase: str) -> str:
    """A phrase as a pattern: whole words in spaced scripts, any substring in CJK."""
    if _CJK.search(phrase):
        return re.escape(phrase)
    return rf"(?<![\w']){re.escape(phrase)}(?![\w'])"


def parse_number(text: str, lexicon: Lexicon) -> int | None:
    """The one whole number in `text`, in digits of any script or in words; else None."""
    numerals = _DIGITS.findall(unicodedata.normalize("NFKC", clean(text)))
    if any(not n.isdigit() for n in numerals):
        return None  # "42.5", "-5": not a whole number of anything the bot asks
    found = {int(n) for n in numerals} | set(_number_words(normalize(text), lexicon))
    return found.pop() if len(found) == 1 else None


def _number_words(text: str, lexicon: Lexicon) -> list[int]:
    pattern, gap = lexicon.number_patterns
    if pattern is None:
        return []
    values, run, end = [], [], None
    for match in pattern.finditer(text):
        if run and end is not None and not gap.match(text[end : match.start()]):
            values.append(_combine(run, lexicon))
            run = []
        run.append(match.group())
        end = match.end()
    if run:
        values.append(_combine(run, lexicon))
    return values


def _combine(words: list[str], lexicon: Lexicon) -> int:
    # Works for "forty two", "one hundred and five", 四十二, 一百零五, сорок два.
    section, last = 0, 0
    for word in words:
        if word in lexicon.multipliers:
            section += (last or 1) * lexicon.multipliers[word]
            last = 0
        else:
            last += lexicon.numbers[word]
    return section + last


def parse_phone(text: str) -> str | None:
    """A phone number: digits with an optional leading +, 6 to 15 digits; else None."""
    folded = unicodedata.normalize("NFKC", clean(text))
    if re.search(r"[^\d\s+().\-]", folded):
        return None
    digits = "".join(str(unicodedata.digit(c)) for c in folded if c.isdigit())
    if not 6 <= len(digits) <= 15 or folded.count("+") > 1:
        return None
    return ("+" if folded.lstrip().startswith("+") else "") + digits
