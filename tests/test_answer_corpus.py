"""The phrase corpus (`locales/<locale>/answers-corpus.yaml`): no answer is ever read as another one.

Each phrase is read as the engine reads it at one question of each kind. A phrase listed
as `sure` is stored at once as its value; `read back`, understood as its value and read
back first; `ask`, neither stored nor proposed. Whatever a phrase is, the bot never takes
it for a value other than the one listed: that is the property that matters.
"""

from __future__ import annotations

from typing import Any

import pytest

from dialogs.corpus import CORPUS_QUESTIONS, Case, load_corpus, read_case
from dialogs.i18n import shipped_locales
from dialogs.trial import Trial, find_trial
from dialogs.understanding import Certainty

LOCALES = shipped_locales()
CASES: list[Case] = [case for locale in LOCALES for case in load_corpus(locale)]


@pytest.fixture(scope="module")
def trial() -> Trial:
    return find_trial("nct07295067")


def test_every_language_has_at_least_forty_phrasings_across_every_kind() -> None:
    for locale in LOCALES:
        cases = load_corpus(locale)
        assert len(cases) >= 40, f"{locale}: {len(cases)} phrasings"
        assert {c.kind for c in cases} == set(CORPUS_QUESTIONS), locale


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_no_phrase_is_read_as_another_answer(trial: Trial, case: Case) -> None:
    reading = read_case(trial, case)
    expected: Any = case.value
    if case.expect == "ask":
        assert reading.value is None, f"{case.text!r} must not be stored or proposed"
        return
    assert reading.value == expected, f"{case.text!r}: {reading}"
    wanted = Certainty.SURE if case.expect == "sure" else Certainty.READ_BACK
    assert reading.certainty is wanted, f"{case.text!r}: {reading}"
