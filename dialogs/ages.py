"""An age as people give it: in years, as a birth year or date, or as a Chinese nominal age (虚岁).

An age in years is read like any number (`read_number`). Worked out from a birth year or date,
or from a nominal age (one more than the age in years), it is read back before it is stored:
"1970年出生" is "56" on a day in 2026 after the birthday, and the person confirms it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from dialogs.understanding import (
    Certainty,
    Lexicon,
    Reading,
    ascii_digits,
    clean,
    find_phrases,
    normalize,
    read_number,
)

# A date of birth: year-month-day in any of the usual separators, or day/month/year.
_YMD = re.compile(r"(?<!\d)(\d{4}|\d{2})\s*[年./\-]\s*(\d{1,2})\s*(?:[月./\-]\s*(\d{1,2}))?(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[./\-](\d{1,2})[./\-](\d{4})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
# A two-digit year after "born" ('99, "nací en el 80", "del 75").
# A two-digit year as Chinese speakers give it: 70年的, 88年生人, 97年出生.
_SHORT_YEAR = re.compile(r"(?<!\d)(\d{2})\s*年\s*(?:的|生|出生|人)")
# The Republic of China's calendar (Taiwan): 民國59年 is 1970.
_MINGUO = re.compile(r"民[國国]\s*(\d{1,3})\s*年")
# Chinese digits read one by one in a year: 一九八零年, 八零年的.
_CJK_DIGITS = str.maketrans("零〇一二三四五六七八九", "00123456789")
_CJK_DIGIT_RUN = re.compile(r"[零〇一二三四五六七八九]{2,4}(?=\s*年)")


def read_age(text: str, lexicon: Lexicon, today: date) -> Reading:
    """The age in whole years that `text` gives, and how sure that is."""
    plain = _digits(ascii_digits(unicodedata.normalize("NFKC", clean(text))))
    if find_phrases(normalize(text), lexicon.not_ages):
        return Reading()  # 上初三, "in 9th grade": a school year, not an age
    born = _born(plain, normalize(text), lexicon, today)
    if born is not None:
        return born
    nominal = find_phrases(normalize(text), lexicon.nominal_ages)
    if not nominal:
        return read_number(text, lexicon)
    return _from_nominal(text, lexicon)


def _digits(text: str) -> str:
    """Chinese digits of a year read one by one (一九八零年) as Arabic digits."""
    return _CJK_DIGIT_RUN.sub(lambda m: m.group().translate(_CJK_DIGITS), text)


def _born(plain: str, folded: str, lexicon: Lexicon, today: date) -> Reading | None:
    """The age from a birth date or year in `plain`; None if it gives none."""
    said_born = bool(find_phrases(folded, lexicon.born))
    if len(set(_YEAR.findall(plain))) > 1:
        return Reading()  # "身份证上是1965年的，实际是1963年": which?
    for pattern, parts in ((_DMY, (3, 2, 1)), (_YMD, (1, 2, 3))):
        match = pattern.search(plain)
        if match and (len(match.group(parts[0])) == 4 or said_born or "年" in match.group()):
            year, month, day = (match.group(i) for i in parts)
            if pattern is _DMY and int(month) > 12 >= int(day):
                month, day = day, month  # 12/20/1980: month first
            return _age(_full_year(year, today), int(month or 0), int(day or 0), today)
    minguo = _MINGUO.search(plain)
    if minguo:
        return _age(1911 + int(minguo.group(1)), 0, 0, today)
    short = _SHORT_YEAR.search(plain) or re.fullmatch(r"\s*(\d{2})\s*年\s*", plain)  # 99年: born in '99
    if short:
        return _age(_full_year(short.group(1), today), 0, 0, today)
    year = _YEAR.search(plain)
    if year and (said_born or plain.strip() == year.group() or "年" in plain):
        return _age(int(year.group(1)), 0, 0, today)
    two_digits = re.findall(r"(?<![\d.,])'?(\d{2})(?![\d.,])", plain)
    if said_born and len(two_digits) == 1:
        return _age(_full_year(two_digits[0], today), 0, 0, today)  # "born in '99", "nací en el 80"
    return None


def _full_year(year: str, today: date) -> int:
    if len(year) == 4:
        return int(year)
    century = 2000 if int(year) <= today.year % 100 else 1900
    return century + int(year)


def _age(year: int, month: int, day: int, today: date) -> Reading:
    """Whole years on `today` since a birth in `year` (and `month`, `day` where known): read back.
    With the year alone, it is the age reached this year, which the read-back lets the person check."""
    if not 1 <= month <= 12:
        month = 0
    not_yet = (today.month, today.day) < (month, day if 1 <= day <= 31 else 0)
    age = today.year - year - (not_yet if month else 0)
    if not 0 <= age <= 130:
        return Reading()
    return Reading(age, Certainty.READ_BACK)


def _from_nominal(text: str, lexicon: Lexicon) -> Reading:
    """虚岁58 is 57 in whole years; "57周岁，虚岁58" agrees with itself. Read back."""
    folded = normalize(text)
    found = find_phrases(folded, lexicon.nominal_ages)
    start, end = found[0]
    before, after = folded[:start], folded[end:]
    nominal_part, other = (
        (after, before) if re.search(r"\d|[一二三四五六七八九十]", after) else (before, after)
    )
    ages = set()
    for part, offset in ((nominal_part, 1), (other, 0)):
        if _has_number(part, lexicon):
            reading = read_number(part, lexicon)
            if reading.value is None:
                return Reading()
            ages.add(reading.value - offset)
    if len(ages) != 1:
        return Reading()
    return Reading(ages.pop(), Certainty.READ_BACK)


def _has_number(text: str, lexicon: Lexicon) -> bool:
    words = lexicon.number_patterns[0]
    return bool(re.search(r"\d", text) or (words is not None and words.search(text)))
