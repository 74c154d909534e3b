"""The phrase corpus: how people answer, per language, and what the bot may do with each answer.

`locales/<locale>/answers-corpus.yaml` holds it as data, so translators can add the ways
people really answer. `tests/test_answer_corpus.py` holds the bot to it and
`bench/understanding.py` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dialogs.answers import AnswerReader
from dialogs.i18n import LOCALES_DIR, shipped_locales, translator
from dialogs.inputs import Text
from dialogs.trial import Trial
from dialogs.understanding import Reading, all_lexicons

# The question each kind of phrase is read at.
CORPUS_QUESTIONS = {
    "yes_no": "diabetes",
    "consent": "consent_storage",
    "choice": "symptoms_course",
    "number": "age",
}
EXPECTATIONS = ("sure", "read back", "ask")


@dataclass(frozen=True)
class Case:
    locale: str
    kind: str
    text: str
    expect: str  # sure, read back or ask
    value: Any = None

    @property
    def id(self) -> str:
        return f"{self.locale}-{self.kind}-{self.expect}-{self.text}"


@cache
def load_corpus(locale: str, locales_dir: Path = LOCALES_DIR) -> list[Case]:
    path = locales_dir / locale / "answers-corpus.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cases = []
    for kind, expectations in data.items():
        for expect, phrases in expectations.items():
            if expect not in EXPECTATIONS or kind not in CORPUS_QUESTIONS:
                raise ValueError(f"{path}: unknown {kind!r} / {expect!r}")
            if expect == "ask":
                cases += [Case(locale, kind, str(text), expect) for text in phrases]
                continue
            for value, texts in phrases.items():
                cases += [Case(locale, kind, str(text), expect, value) for text in texts]
    return cases


def read_case(trial: Trial, case: Case, locales_dir: Path = LOCALES_DIR) -> Reading:
    """How the engine reads `case` typed at its question, in a conversation in its language."""
    locales = shipped_locales(locales_dir)
    t = translator(case.locale, (trial.domain,), locales_dir)
    everyone = tuple(translator(locale, (trial.domain,), locales_dir) for locale in locales)
    reader = AnswerReader(all_lexicons(locales_dir), t, locales, everyone)
    reading, _ = reader.read(trial.question(CORPUS_QUESTIONS[case.kind]), Text(case.text))
    return reading
