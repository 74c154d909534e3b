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
from enum import StrEnum
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

from dialogs.conditions import DONT_KNOW
from dialogs.i18n import LOCALES_DIR, shipped_locales

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# Bidi overrides and isolates can disguise text; control characters break displays.
_UNSAFE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]")
# A minus or a decimal part makes it something other than a whole number of years.
# Only a minus that starts a word is a sign: "42-43" is two numbers, 我今年42岁 one.
# Longer than any answer to a question with options; refuse rather than guess.
MAX_OPTION_ANSWER = 200
_DIGITS = re.compile(r"(?:(?<![\w])-)?\d+(?:[.,]\d+)?")


class Certainty(StrEnum):
    """How sure the bot is of what a person meant: only SURE is stored without asking."""

    SURE = "sure"  # a tap, an option's number or label, an exact answer word: stored at once
    READ_BACK = "read_back"  # understood, but interpreted: read back and stored once confirmed
    UNSURE = "unsure"  # the person hedged ("I think so", 好像有): offer the options, propose nothing
    UNCLEAR = "unclear"  # nothing found, or two answers at once: ask again


@dataclass(frozen=True)
class Reading:
    """What an answer seems to mean, and how sure that is. `value` is None unless SURE or READ_BACK."""

    value: Any = None
    certainty: Certainty = Certainty.UNCLEAR

    @property
    def sure(self) -> bool:
        return self.certainty is Certainty.SURE


@dataclass(frozen=True, eq=False)  # compared by identity: one object per set of locales, a cache key
class Lexicon:
    """One or more languages' ways of answering: phrases per stored value, cues, number words."""

    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Whole answers that mean a value for certain ("yes", "没有", "нет"): stored without a read-back.
    exact: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Words that turn a "yes" phrase around ("she does" + "not").
    negators: tuple[str, ...] = ()
    # Words of someone unsure ("I think", 好像, наверное): the bot offers the options instead of guessing.
    hedges: tuple[str, ...] = ()
    # Whole answers that confirm a summary or a read-back ("that's right", 信息无误,提交).
    confirm: tuple[str, ...] = ()
    numbers: Mapping[str, int] = field(default_factory=dict)
    multipliers: Mapping[str, int] = field(default_factory=dict)
    fillers: tuple[str, ...] = ()
    # Tens that may follow a unit, as in Arabic "اثنان وأربعون" (2 and 40).
    tens_after_units: frozenset[str] = frozenset()
    # "years old", 岁, лет: words a number may come with and still be exact.
    units: tuple[str, ...] = ()
    # "about", 多, около: a number that is not one number.
    approximations: tuple[str, ...] = ()
    # "half", 半: not a whole number.
    fractions: tuple[str, ...] = ()
    # A school year (上初三, "in 9th grade"), which is no age.
    not_ages: tuple[str, ...] = ()
    # 虚岁: an age counted from one at birth, one more than the age in whole years.
    nominal_ages: tuple[str, ...] = ()
    # "born", 出生: a year or date that follows is a birth date, not an age.
    born: tuple[str, ...] = ()
    # Meanings beyond yes and no, as phrases: better, same, worse, positive, negative, male,
    # no_problem ("没问题"), fine ("my heart is fine"), accept ("ok"), know (negated: "I don't really know").
    concepts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Illnesses and what shows them (`conditions:`): a medicine, a device or a kind of the illness
    # (insulin, a stent, 冠心病) says it is there. Named in a question, they are what it asks of.
    conditions: frozenset[str] = frozenset()
    # What a request asks leave to do (`actions:`: phone, store, come): granted or refused in other
    # words than the request's ("打吧", "no calls please", "я её привезу").
    actions: frozenset[str] = frozenset()
    # What a question asks, found in its English source: ability ("could you…?"), problem, pregnancy.
    asks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Words a reply may share with its question that say nothing of the answer ("doctor", 医生).
    stopwords: tuple[str, ...] = ()
    # Words that join things a question asks about at once ("or"), in its English source.
    alternatives: tuple[str, ...] = ()
    # Words of time, for how long ago something happened (dialogs.durations): years, months,
    # half_year, more_than, less_than, about, almost, this_year, last_year, year_before_last, last_month.
    time: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    months_of_year: Mapping[str, int] = field(default_factory=dict)
    # "Is" words ("是", "I am"), which are yes only where yes is an answer.
    copulas: tuple[str, ...] = ()
    # Whole answers to the bot's own menus, per meaning: confirm, wrong, change, delete, keep…
    menus: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def number_patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str]]:
        """The number words as one pattern (longest first), and what may stand between them."""
        words = sorted({*self.numbers, *self.multipliers}, key=len, reverse=True)
        fillers = "|".join(re.escape(f) for f in self.fillers if f)
        gap = re.compile(rf"^(?:[\s-]|{fillers})*$" if fillers else r"^[\s-]*$")
        return (re.compile("|".join(_word(w) for w in words)) if words else None), gap

    @property
    def agreement(self) -> dict[str, tuple[str, ...]]:
        """Agreeing and refusing ("I agree", 同意, согласен), as the yes and no they are where they
        are exact: at a consent, a "could you…?" and the bot's menus (`agreement:` in answers.yaml;
        at a question of fact they answer nothing)."""
        return {YES: self.concepts.get(AGREE, ()), NO: self.concepts.get(DISAGREE, ())}

    def merged(self, other: Lexicon) -> Lexicon:
        def both(
            a: Mapping[str, tuple[str, ...]], b: Mapping[str, tuple[str, ...]]
        ) -> dict[str, tuple[str, ...]]:
            return {k: (*a.get(k, ()), *b.get(k, ())) for k in set(a) | set(b)}

        return Lexicon(
            phrases=both(self.phrases, other.phrases),
            exact=both(self.exact, other.exact),
            negators=(*self.negators, *other.negators),
            hedges=(*self.hedges, *other.hedges),
            confirm=(*self.confirm, *other.confirm),
            numbers={**self.numbers, **other.numbers},
            multipliers={**self.multipliers, **other.multipliers},
            fillers=(*self.fillers, *other.fillers),
            tens_after_units=self.tens_after_units | other.tens_after_units,
            units=(*self.units, *other.units),
            approximations=(*self.approximations, *other.approximations),
            fractions=(*self.fractions, *other.fractions),
            nominal_ages=(*self.nominal_ages, *other.nominal_ages),
            not_ages=(*self.not_ages, *other.not_ages),
            born=(*self.born, *other.born),
            concepts=both(self.concepts, other.concepts),
            conditions=self.conditions | other.conditions,
            actions=self.actions | other.actions,
            asks=both(self.asks, other.asks),
            stopwords=(*self.stopwords, *other.stopwords),
            alternatives=(*self.alternatives, *other.alternatives),
            menus=both(self.menus, other.menus),
            copulas=(*self.copulas, *other.copulas),
            time=both(self.time, other.time),
            months_of_year={**self.months_of_year, **other.months_of_year},
        )


# The values every language has words for.
YES, NO = "yes", "no"
ANSWER_VALUES = (YES, NO, DONT_KNOW)
# Accepting what is put ("ok", 好的: also "fine" of a thing asked about), and agreeing or not
# ("I agree", "I disagree": only to a request).
ACCEPT, AGREE, DISAGREE = "accept", "agree", "disagree"


def load_lexicon(path: Path) -> Lexicon:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    numbers = data.get("numbers") or {}
    exact = data.get("exact") or {}
    agreement = data.get("agreement") or {}

    def words(items: Any) -> tuple[str, ...]:
        return tuple(normalize(str(p)) for p in items or ())

    return Lexicon(
        phrases={key: words(data.get(key)) + words(exact.get(key)) for key in ANSWER_VALUES},
        exact={key: words(exact.get(key)) for key in ANSWER_VALUES},
        negators=words(data.get("negators")),
        hedges=words(data.get("hedges")),
        confirm=words(data.get("confirm")),
        numbers={normalize(str(k)): int(v) for k, v in (numbers.get("values") or {}).items()},
        multipliers={normalize(str(k)): int(v) for k, v in (numbers.get("multipliers") or {}).items()},
        fillers=words(numbers.get("fillers")),
        tens_after_units=frozenset(words(numbers.get("tens_after_units"))),
        units=words(numbers.get("units")),
        approximations=words(numbers.get("approximations")),
        fractions=words(numbers.get("fractions")),
        nominal_ages=words(numbers.get("nominal")),
        not_ages=words(numbers.get("not_ages")),
        born=words(numbers.get("born")),
        concepts={
            **{
                key: words(items)
                for section in ("concepts", "conditions", "actions")
                for key, items in (data.get(section) or {}).items()
            },
            # Elsewhere than where they are exact, agreeing and disagreeing answer a consent or a
            # "could you…?" only as read back, and a question of fact not at all (dialogs.reading).
            AGREE: words(agreement.get(YES)),
            DISAGREE: words(agreement.get(NO)),
        },
        conditions=frozenset(data.get("conditions") or ()),
        actions=frozenset(data.get("actions") or ()),
        asks={key: words(items) for key, items in (data.get("asks") or {}).items()},
        stopwords=words(data.get("stopwords")),
        alternatives=words(data.get("alternatives")),
        menus={key: words(items) for key, items in (data.get("menus") or {}).items()},
        copulas=words(data.get("copulas")),
        time={key: words(items) for key, items in ((data.get("time") or {}).get("words") or {}).items()},
        months_of_year={
            normalize(k): int(v) for k, v in ((data.get("time") or {}).get("months") or {}).items()
        },
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


def ascii_digits(text: str) -> str:
    """Digits of any script (٤٢, ４２) as 0-9, for reading dates and years."""
    return "".join(str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c for c in text)


def normalize(text: str) -> str:
    """Folded for matching: full-width to ASCII, case folded, one apostrophe, single spaces."""
    folded = unicodedata.normalize("NFKC", clean(text)).casefold().replace("\u2019", "'")
    return " ".join("".join(map(_fold, folded)).split())


def _fold(c: str) -> str:
    """A character as `normalize` keeps it: a mark over a letter (Arabic vowels, as in أبداً) is
    dropped, a pictograph (👍, 👌) is a word of its own, and other symbols part words."""
    if c.isalnum() or c in "' ?":
        return c
    category = unicodedata.category(c)
    return "" if category == "Mn" else f" {c} " if category == "So" else " "


def match_phrase(text: str, phrases: Mapping[str, Iterable[str]]) -> str | None:
    """The key whose phrase is the longest found in `text`; None if none, or a tie."""
    frozen = tuple((key, tuple(options)) for key, options in phrases.items())
    pattern, owners = matcher(frozen)
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
def matcher(phrases: Phrases) -> tuple[re.Pattern[str] | None, dict[str, set[str]]]:
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


def find_phrases(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    """Where any of `words` occurs in `text` (whole words, or anywhere in CJK)."""
    pattern, _ = matcher((("", tuple(words)),))
    if pattern is None:
        return []
    return [(m.start(), m.start() + len(m.group(1))) for m in pattern.finditer(text)]


def read_number(text: str, lexicon: Lexicon) -> Reading:
    """The one whole number in `text`, in digits of any script or in words, and how sure that is.

    Digits or number words alone (with a unit such as "years" or 岁) are exact; with
    other words around them they are read back. Two numbers, an approximation
    ("about forty", 四十多), a decimal or a fraction, and ill-formed number words
    ("twenty twenty") are never turned into one number.
    """
    if len(text) > MAX_OPTION_ANSWER:
        return Reading()
    plain = unicodedata.normalize("NFKC", clean(text))
    folded = normalize(text)
    if find_phrases(folded, lexicon.approximations):
        return Reading(certainty=Certainty.UNSURE)
    numerals = _DIGITS.findall(plain)
    if any(not n.isdigit() for n in numerals) or find_phrases(folded, lexicon.fractions):
        return Reading()  # not a whole number
    words = _number_words(folded, lexicon)
    if words is None:
        return Reading()
    found = {int(n) for n in numerals} | set(words)
    if len(found) != 1:
        return Reading()
    rest = re.sub(r"\d+", " ", folded)
    for start, end in sorted(find_phrases(rest, (*lexicon.numbers, *lexicon.multipliers, *lexicon.units)))[
        ::-1
    ]:
        rest = rest[:start] + " " + rest[end:]
    bare = lexicon.number_patterns[1].match(rest) is not None
    return Reading(found.pop(), Certainty.SURE if bare else Certainty.READ_BACK)


def _number_words(text: str, lexicon: Lexicon) -> list[int] | None:
    """The numbers spelled out in `text`; None if a run of number words is not a number."""
    pattern, gap = lexicon.number_patterns
    if pattern is None:
        return []
    values: list[int] = []
    run: list[str] = []
    end: int | None = None
    for match in pattern.finditer(text):
        if run and end is not None and not gap.match(text[end : match.start()]):
            values.append(_combine(run, lexicon))
            run = []
        run.append(match.group())
        end = match.end()
    if run:
        values.append(_combine(run, lexicon))
    return None if -1 in values else values


def _combine(words: list[str], lexicon: Lexicon) -> int:
    """The value of a run of number words, or -1 if it is not one well-formed number.

    Works for "forty two", "one hundred and five", "forty two thousand", 四十二,
    一百零五, сорок два. Within a part, each word must be below the place of the one
    before (40 then 2, not 20 then 20); 十 and "hundred" multiply what precedes them,
    "thousand" everything so far.
    """
    total, section, last, previous = 0, 0, 0, None
    for word in words:
        if word in lexicon.multipliers:
            factor = lexicon.multipliers[word]
            if factor >= 1000:
                total, section, last = (total + section + last) * factor, 0, 0
            else:
                section += (last or 1) * factor
                last = 0
            previous = None
            continue
        value = lexicon.numbers[word]
        # Arabic says the units first: "اثنان وأربعون" is 2 and 40.
        inverted = (
            word in lexicon.tens_after_units and previous is not None and previous < 10 and last == previous
        )
        if previous is not None and not inverted and (value >= _place(previous) or previous == value == 0):
            return -1
        last += value
        previous = value
    return total + section + last


def _place(value: int) -> int:
    """The place a following number word must stay below: 10 after forty, 100 after a hundred."""
    if value == 0:
        return 10
    place = 1
    while value % (place * 10) == 0:
        place *= 10
    return place


def parse_phone(text: str, international: bool = False) -> str | None:
    """A phone number, as E.164 ("+8613812345678"); else None.

    Digits with spaces, dots, dashes or brackets, and an optional leading +. A number without a
    country code is mainland China's (+86): the study's site; `international` reads one without
    a + as having its country code (a contact card shared from a phone, which Telegram sends as
    "447700900123"). Whether it can be a number at all is phonenumbers' (Google's
    libphonenumber data), which catches a digit too many or too few in a mobile number.
    """
    folded = unicodedata.normalize("NFKC", clean(text))
    if re.search(r"[^\d\s+().\-]", folded):
        return None
    digits = "".join(str(unicodedata.digit(c)) for c in folded if c.isdigit())
    if not 6 <= len(digits) <= 15 or folded.count("+") > 1:
        return None
    plus = folded.lstrip().startswith("+") or international
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
