"""How long ago something happened, as people say it, against a question's time window.

A question whose English source asks "at least one year ago?" or "in the past three months"
has a window; a reply that dates the event ("2019年", "去年10月", "three years ago",
"不到一年", "才半年") answers it when the whole span the words allow falls on one side of it,
and is asked again when it straddles it ("about a year", 去年年底 for "at least a year").
Spans are in whole months elapsed, counted on `today`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from dialogs.understanding import Lexicon, ascii_digits, find_phrases, normalize, read_number

_WINDOW = re.compile(
    r"\b(?:(?P<least>at least)\s+(?P<n1>\w+)\s+(?P<u1>year|month)s?\s+ago"
    r"|(?:in|within) the (?:past|last)\s+(?P<n2>\w+)\s+(?P<u2>year|month)s?)"
)
_ENGLISH_COUNTS = {"one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "six": 6, "twelve": 12}
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_MONTH_OF_YEAR = re.compile(r"(\d{1,2})\s*月(?!份?前)")  # 3月 is March; 3个月 is three months
_FOREVER = 10_000


@dataclass(frozen=True)
class Window:
    """What a question asks of when: at least `months` ago (`since`), or within the last `months`."""

    since: bool
    months: int

    def answers(self, low: int, high: int) -> str | None:
        """Yes, no, or None (the span straddles the window) for an event `low`–`high` months ago."""
        if self.since:
            return "yes" if low >= self.months else "no" if high < self.months else None
        return "yes" if high <= self.months else "no" if low > self.months else None


def window(source: str) -> Window | None:
    """The time window a question's English source asks about, if any."""
    match = _WINDOW.search(source.casefold())
    if match is None:
        return None
    count, unit = (match["n1"], match["u1"]) if match["least"] else (match["n2"], match["u2"])
    number = int(count) if count.isdigit() else _ENGLISH_COUNTS.get(count)
    if number is None:
        return None
    return Window(since=bool(match["least"]), months=number * (12 if unit == "year" else 1))


def elapsed(text: str, lexicon: Lexicon, today: date) -> tuple[int, int] | None:
    """How many whole months ago `text` says something happened, as a span; None if it does not say."""
    text = ascii_digits(text)
    folded = normalize(text)
    time = lexicon.time
    calendar = _calendar(text, folded, lexicon, today)
    if calendar is not None:
        return calendar
    amount = _amount(folded, lexicon)
    if amount is None:
        return None
    months, slack = amount
    # "About", "almost" and "less than" first: 差不多 holds 多 ("more than").
    if find_phrases(folded, time.get("about", ())):
        return max(months - 3, 0), months + 3
    if find_phrases(folded, time.get("almost", ())):
        return max(months - 3, 0), max(months - 1, 0)
    if find_phrases(folded, time.get("less_than", ())):
        return 0, max(months - 1, 0)
    if find_phrases(folded, time.get("more_than", ())):
        return months + 1, _FOREVER
    return max(months - slack, 0), months + slack


def _calendar(text: str, folded: str, lexicon: Lexicon, today: date) -> tuple[int, int] | None:
    """A span from a year ("2019", 去年, "this year") and perhaps its month (去年10月, "March")."""
    time = lexicon.time
    now = today.year * 12 + today.month
    years = {int(y) for y in _YEAR.findall(text)}
    if len(years) > 1:
        return None
    year = years.pop() if years else None
    for words, back in (("this_year", 0), ("last_year", 1), ("year_before_last", 2)):
        if find_phrases(folded, time.get(words, ())):
            year = today.year - back
    month = _month(text, folded, lexicon)
    if year is None and month is not None and find_phrases(folded, time.get("this_year", ())):
        year = today.year
    if year is None:
        return (0, 2) if find_phrases(folded, time.get("last_month", ())) else None
    if month is not None:
        months = now - (year * 12 + month)
        return max(months - 1, 0), months + 1  # the day of the month is not said
    return max(now - (year * 12 + 12) - 1, 0), now - (year * 12 + 1)


def _month(text: str, folded: str, lexicon: Lexicon) -> int | None:
    """The month of the year named (3月, "March"), if one is."""
    chinese = _MONTH_OF_YEAR.search(text)
    if chinese and 1 <= int(chinese.group(1)) <= 12:
        return int(chinese.group(1))
    named = {lexicon.months_of_year[w] for w in folded.split() if w in lexicon.months_of_year}
    return named.pop() if len(named) == 1 else None


def _amount(folded: str, lexicon: Lexicon) -> tuple[int, int] | None:
    """An amount of time ("three years", 半年, 三个月) in months, and how loosely it is said."""
    time = lexicon.time
    if find_phrases(folded, time.get("half_year", ())):
        return 6, 1
    for unit, months, slack in (("years", 12, 6), ("months", 1, 0)):
        found = find_phrases(folded, time.get(unit, ()))
        if not found:
            continue
        count = _count_before(folded[: found[0][0]], lexicon)
        return (count * months, slack) if count is not None else None
    return None


def _count_before(prefix: str, lexicon: Lexicon) -> int | None:
    """The number just before a unit ("三" of 三个月, "three" of "three years", "a" of "a year")."""
    digits = re.search(r"(\d+|[零〇一二两三四五六七八九十百]+)\s*$", prefix)
    if digits:
        return read_number(digits.group(1), lexicon).value
    words = prefix.split()
    if words and words[-1] in ("a", "an", "one"):
        return 1
    for size in (3, 2, 1):
        reading = read_number(" ".join(words[-size:]), lexicon) if len(words) >= size else None
        if reading is not None and reading.value is not None:
            return reading.value
    return None
