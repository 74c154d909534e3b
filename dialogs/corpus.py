"""The phrase corpus: how people answer each question, per language, and what they meant.

`locales/<locale>/answers-corpus.yaml` holds it as data, per trial and question (and for the
bot's own menus), grouped by what the person meant: an option's value, a number, or
`unclear` (a careful person would ask again). A `proxy:` group holds what only a relative
answering for someone would type, read at the question as worded for relatives.
`tests/test_answer_corpus.py` holds the bot to it and `bench/understanding.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dialogs import messages as m
from dialogs.answers import AnswerReader
from dialogs.i18n import LOCALES_DIR, shipped_locales, translator
from dialogs.inputs import Text
from dialogs.prompts import DELETE_OPTIONS, OTHER_STUDIES_OPTIONS, READ_BACK_OPTIONS, SUMMARY_OPTIONS
from dialogs.trial import TRIALS_DIR, Trial, find_trial
from dialogs.understanding import Certainty, Reading, all_lexicons

UNCLEAR = "unclear"
MENUS = "menus"
RESPONDENTS = ("self", "proxy")
# The bot's menus: their options and what they ask (where the dialog's words ask it).
MENU_OPTIONS = {
    "read_back": (READ_BACK_OPTIONS, None),
    "summary": (SUMMARY_OPTIONS, None),
    "delete": (DELETE_OPTIONS, None),
    "other_studies": (OTHER_STUDIES_OPTIONS, m.OTHER_STUDIES),
}
# The day the corpus's ages from birth dates are counted on.
CORPUS_DAY = date(2026, 12, 7)


@dataclass(frozen=True)
class Case:
    locale: str
    trial: str  # a trial's slug, or "menus"
    question: str  # a question id, or a menu's name
    text: str
    meaning: Any  # an option's value or a number; None when unclear
    respondent: str = "self"

    @property
    def id(self) -> str:
        return f"{self.locale}-{self.trial}-{self.question}-{self.respondent}-{self.text}"


class Outcome(StrEnum):
    """What the bot did with a phrase, judged against what the person meant."""

    STORED_RIGHT = "stored right at once"
    READ_BACK_RIGHT = "read back right"
    ASKED_AGAIN = "asked again"
    READ_BACK_WRONG = "read back wrong"
    STORED_WRONG = "stored wrong"


@cache
def load_corpus(locale: str, locales_dir: Path = LOCALES_DIR) -> tuple[Case, ...]:
    return load_corpus_file(locales_dir / locale / "answers-corpus.yaml", locale)


@cache
def load_corpus_file(path: Path, locale: str) -> tuple[Case, ...]:
    """The phrases of one corpus file in `locale` (the shipped one, or one held out of tuning)."""
    if not path.exists():
        return ()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cases: list[Case] = []
    for trial, questions in data.items():
        for question, groups in questions.items():
            cases += _cases(locale, trial, question, groups, "self")
    return tuple(cases)


def _cases(locale: str, trial: str, question: str, groups: dict[Any, Any], respondent: str) -> list[Case]:
    cases = []
    for meaning, phrases in groups.items():
        if meaning in RESPONDENTS and isinstance(phrases, dict):  # a group only one wording fits
            cases += _cases(locale, trial, question, phrases, meaning)
            continue
        value = None if meaning == UNCLEAR else meaning
        cases += [Case(locale, trial, question, str(text), value, respondent) for text in phrases]
    return cases


def servable(case: Case) -> bool:
    """Whether the case's trial is here (menus are every trial's)."""
    return case.trial == MENUS or (TRIALS_DIR / f"{case.trial}.yaml").exists()


_trial = cache(find_trial)


@cache
def _reader(locale: str, slug: str, locales_dir: Path) -> AnswerReader:
    trial = _trial(slug)
    locales = shipped_locales(locales_dir)
    t = translator(locale, (trial.domain,), locales_dir)
    everyone = tuple(translator(loc, (trial.domain,), locales_dir) for loc in locales)
    return AnswerReader(all_lexicons(locales_dir), t, locales, everyone, today=CORPUS_DAY)


def read_case(case: Case, locales_dir: Path = LOCALES_DIR, trial: Trial | None = None) -> Reading:
    """How the engine reads `case` typed at its question, in a conversation in its language (with
    `trial`, as that file words the case's trial)."""
    if case.trial == MENUS:
        reader = _reader(case.locale, "nct07295067", locales_dir)
        options, asked = MENU_OPTIONS[case.question]
        reading = reader.read_menu(Text(case.text), options, case.question, asked)
        if case.question not in ("delete", "other_studies") and reading.value is not None:
            return Reading(reading.value, Certainty.SURE)  # acted on, as the dialog does
        return reading
    question = (trial or _trial(case.trial)).question(case.question)
    wording = question.text if isinstance(question.text, str) else question.text.get(case.respondent)
    reading, _ = _reader(case.locale, case.trial, locales_dir).read(question, Text(case.text), wording)
    return reading


def judge(case: Case, reading: Reading) -> Outcome:
    stored = reading.certainty is Certainty.SURE
    if reading.value is None:
        return Outcome.ASKED_AGAIN
    if reading.value == case.meaning:
        return Outcome.STORED_RIGHT if stored else Outcome.READ_BACK_RIGHT
    return Outcome.STORED_WRONG if stored else Outcome.READ_BACK_WRONG
