"""The second Xuanwu trial, NCT06079125 (PFDD versus PFDRT for Chiari I with syringomyelia).

Eligibility on personas through `dialogs.eligibility.assess`, as tests/test_eligibility.py does for
the first trial. Every expected value is worked out by hand from dialogs/trials/nct06079125.yaml:
inclusion is I1 (14 or older), I2 (Chiari), I3 (syrinx) and I4 (MRI to share); G (14 to 17,
answering alone, no parent or guardian with them), X1, X2, X3/X4, X5/X6, X7/X8, X9, X12/X13 and
X14 (an operation at the back of the head) exclude; X10, X11, X15 and X16 are what I2, I3, I4
and the consent already decide, and are never assessed. Then the dialog: who is asked whether a
parent or guardian is with them.
"""

from __future__ import annotations

from typing import Any

import pytest

from dialogs.conditions import DONT_KNOW
from dialogs.eligibility import Assessment, Outcome, assess
from dialogs.engine import Engine
from dialogs.trial import Trial, check_trial, find_trial
from tests.conftest import Person

EXCLUSIONS = ("X1", "X2", "X3/X4", "X5/X6", "X7/X8", "X9", "X12/X13", "X14")
# A question per exclusion, and the answer that excludes.
EXCLUDING = {
    "hydrocephalus": "X1",
    "tumour": "X2",
    "head_injury_stroke": "X3/X4",
    "cns_infection": "X5/X6",
    "other_malformation": "X7/X8",
    "degenerative": "X9",
    "fibromyalgia_fatigue": "X12/X13",
    "prior_surgery": "X14",
}


@pytest.fixture(scope="module")
def trial() -> Trial:
    """This module's trial; the `engine` fixture of conftest builds on it."""
    return find_trial("nct06079125")


def adult(**changes: Any) -> dict[str, Any]:
    """A likely eligible adult answering for themselves: Chiari and a syrinx diagnosed, never
    operated on, MRI images to share, none of the listed conditions.

    Keyword arguments replace answers; a value of None removes that answer.
    """
    answers: dict[str, Any] = {
        "consent_storage": "yes",
        "consent_contact": "yes",
        "respondent": "self",
        "age": 35,
        "chiari": "yes",
        "syrinx": "yes",
        "prior_surgery": "no",
        "mri_available": "yes",
        "hydrocephalus": "no",
        "tumour": "no",
        "head_injury_stroke": "no",
        "cns_infection": "no",
        "other_malformation": "no",
        "degenerative": "no",
        "fibromyalgia_fatigue": "no",
        "travel": "yes",
        "contact_name": "Li Wei",
        "contact_phone": "+8613812345678",
    }
    for key, value in changes.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    return answers


def teenager(guardian: str | None, **changes: Any) -> dict[str, Any]:
    """A 15-year-old answering for themselves, with the answer to "is a parent or guardian with you?"."""
    return adult(age=15, guardian=guardian, **changes)


LIKELY = Assessment(Outcome.LIKELY_ELIGIBLE)


def not_eligible(*reasons: str) -> Assessment:
    return Assessment(Outcome.NOT_ELIGIBLE, reasons=reasons)


def needs_review(uncertain: tuple[str, ...], unsure: tuple[str, ...]) -> Assessment:
    return Assessment(Outcome.NEEDS_REVIEW, uncertain=uncertain, unsure_questions=unsure)


# --- the file ------------------------------------------------------------------------------------


def test_the_trial_loads_with_its_own_consent_and_the_same_site(trial: Trial) -> None:
    first = find_trial("nct07295067")
    assert check_trial(trial) == []
    assert (trial.registry_id, trial.consent_version) == ("NCT06079125", "2026-12-07.2")
    assert trial.questions[0].scope == "storage"
    assert trial.consent_question("contact") is trial.question("consent_contact")
    assert trial.contact == first.contact, "the same hospital, the same address"
    assert trial.variant_by == "respondent"


def test_questions_that_mean_what_the_first_trials_mean_name_the_same_concept(trial: Trial) -> None:
    first = find_trial("nct07295067")
    concepts = {q.concept: q.id for q in trial.questions if q.concept}
    assert concepts == {
        "respondent": "respondent",
        "age": "age",
        "syrinx_diagnosed": "syrinx",
        "contact_name": "contact_name",
        "contact_phone": "contact_phone",
    }
    # The syrinx question is the first trial's diagnosis question, word for word.
    assert trial.question("syrinx").text == first.question("diagnosis").text
    # An operation at the back of the head is not "surgery for syringomyelia" (a shunt is that too).
    assert trial.question("prior_surgery").concept is None


def test_the_guardian_is_asked_only_of_young_people_answering_for_themselves(trial: Trial) -> None:
    asked = trial.question("guardian").ask_if
    assert asked is not None

    def asks(answers: dict[str, Any]) -> bool | None:
        return asked.evaluate(answers.get, lambda _: None)

    assert asks({"respondent": "self", "age": 14}) is True
    assert asks({"respondent": "self", "age": 17}) is True
    assert asks({"respondent": "self", "age": 18}) is False
    assert asks({"respondent": "self", "age": 13}) is False
    assert asks({"respondent": "proxy", "age": 15}) is False


# --- eligibility ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(adult(), id="adult-for-themselves"),
        pytest.param(adult(respondent="proxy"), id="answered-by-a-relative"),
        pytest.param(adult(age=14, guardian="yes"), id="14-youngest-with-a-parent"),
        pytest.param(adult(age=90), id="90-no-upper-limit"),
        pytest.param(teenager("yes"), id="15-with-a-parent"),
        pytest.param(adult(respondent="proxy", age=15), id="15-answered-by-a-parent"),
        pytest.param(adult(consent_contact="no", contact_name=None, contact_phone=None), id="no-contact"),
    ],
)
def test_likely_eligible(trial: Trial, answers: dict[str, Any]) -> None:
    assert assess(trial, answers) == LIKELY


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(13, not_eligible("I1"), id="13-too-young"),
        pytest.param(1, not_eligible("I1"), id="1"),
        pytest.param(14, LIKELY, id="14"),
        pytest.param(120, LIKELY, id="120"),
    ],
)
def test_age(trial: Trial, age: int, expected: Assessment) -> None:
    """With a parent or guardian there, for the ages at which one is asked."""
    assert assess(trial, adult(age=age, guardian="yes")) == expected


def test_a_15_year_old_without_a_parent_or_guardian_is_not_eligible_for_now(trial: Trial) -> None:
    assert assess(trial, teenager("no")) == not_eligible("G")
    g = next(c for c in trial.criteria if c.id == "G")
    assert g.explanation is not None and "come back" in g.explanation


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(adult(age=17, guardian="no"), not_eligible("G"), id="17-alone"),
        pytest.param(adult(age=18, guardian="no"), LIKELY, id="18-needs-no-one"),
        pytest.param(adult(respondent="proxy", age=15, guardian="no"), LIKELY, id="a-parent-answering"),
        pytest.param(teenager(None), needs_review(("G",), ()), id="15-not-yet-asked"),
        pytest.param(adult(age=13, guardian="no"), not_eligible("I1"), id="13-whoever-is-there"),
    ],
)
def test_the_guardian_decides_only_for_14_to_17_year_olds_answering_alone(
    trial: Trial, answers: dict[str, Any], expected: Assessment
) -> None:
    assert assess(trial, answers) == expected


@pytest.mark.parametrize(("question", "criterion"), list(EXCLUDING.items()), ids=list(EXCLUDING.values()))
def test_each_exclusion_alone(trial: Trial, question: str, criterion: str) -> None:
    assert assess(trial, adult(**{question: "yes"})) == not_eligible(criterion)


def test_every_exclusion_at_once_in_the_trials_order(trial: Trial) -> None:
    answers = adult(**dict.fromkeys(EXCLUDING, "yes"))
    assert assess(trial, answers) == not_eligible(*EXCLUSIONS)


@pytest.mark.parametrize(
    ("answers", "reasons"),
    [
        pytest.param(adult(chiari="no"), ("I2",), id="no-chiari-X11"),
        pytest.param(adult(syrinx="no"), ("I3",), id="no-syrinx-X10"),
        pytest.param(adult(mri_available="no"), ("I4",), id="no-mri-X15"),
        pytest.param(adult(age=13, prior_surgery="yes"), ("I1", "X14"), id="age-and-surgery"),
        pytest.param(teenager("no", tumour="yes"), ("G", "X2"), id="alone-and-tumour"),
    ],
)
def test_inclusion_failing(trial: Trial, answers: dict[str, Any], reasons: tuple[str, ...]) -> None:
    assert assess(trial, answers) == not_eligible(*reasons)


@pytest.mark.parametrize(
    ("answers", "uncertain", "unsure"),
    [
        pytest.param(adult(chiari=DONT_KNOW), ("I2",), ("chiari",), id="chiari"),
        pytest.param(adult(syrinx=DONT_KNOW), ("I3",), ("syrinx",), id="syrinx"),
        pytest.param(adult(mri_available=DONT_KNOW), ("I4",), ("mri_available",), id="mri"),
        pytest.param(
            adult(chiari=DONT_KNOW, mri_available=DONT_KNOW),
            ("I2", "I4"),
            ("chiari", "mri_available"),
            id="chiari-and-mri",
        ),
        pytest.param(adult(prior_surgery=DONT_KNOW), ("X14",), ("prior_surgery",), id="surgery"),
        pytest.param(adult(degenerative=DONT_KNOW), ("X9",), ("degenerative",), id="degenerative"),
    ],
)
def test_dont_know_needs_review_never_exclusion(
    trial: Trial, answers: dict[str, Any], uncertain: tuple[str, ...], unsure: tuple[str, ...]
) -> None:
    assert assess(trial, answers) == needs_review(uncertain, unsure)


def test_travel_is_passed_on_never_excluding(trial: Trial) -> None:
    assert assess(trial, adult(travel="no")) == LIKELY
    assert assess(trial, adult(travel=DONT_KNOW)) == LIKELY


def test_what_the_other_criteria_already_decide_is_never_assessed_or_named(trial: Trial) -> None:
    unassessed = [c.id for c in trial.criteria if c.when is None]
    assert unassessed == ["X10", "X11", "X15", "X16"]
    everything = assess(trial, {})
    assert everything.uncertain == ("I1", "G", "I2", "I3", "I4", *EXCLUSIONS)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param({"age": 13}, not_eligible("I1"), id="13-decides-at-once"),
        pytest.param({"respondent": "self", "age": 15, "guardian": "no"}, not_eligible("G"), id="alone"),
        pytest.param({"age": 40, "prior_surgery": "yes"}, not_eligible("X14"), id="surgery-decides"),
    ],
)
def test_partial_answers_decide_as_soon_as_they_can(
    trial: Trial, answers: dict[str, Any], expected: Assessment
) -> None:
    assert assess(trial, answers) == expected


# --- the dialog ----------------------------------------------------------------------------------

OPENING = {"consent_storage": "yes", "consent_contact": "no", "respondent": "1"}


def test_a_15_year_old_alone_is_asked_for_a_parent_and_told_to_come_back_together(engine: Engine) -> None:
    person = Person(engine, "teen-alone")
    person.start()
    asked = person.answer_some({**OPENING, "age": "15", "guardian": "no"})
    assert asked == ["consent_storage", "consent_contact", "respondent", "age", "guardian"]
    stored = person.stored()
    assert (stored["outcome"], stored["reasons"]) == ("not_eligible", ["G"])
    assert any("come back when one of them can be with you" in text for text in person.texts)


def test_a_15_year_old_with_a_parent_goes_on_to_the_diagnosis(engine: Engine) -> None:
    person = Person(engine, "teen-with-parent")
    person.start()
    person.answer_some({**OPENING, "age": "15", "guardian": "yes"})
    assert person.prompt == "chiari"


@pytest.mark.parametrize(
    ("respondent", "age"), [pytest.param("1", "35", id="adult"), pytest.param("2", "15", id="parent")]
)
def test_nobody_else_is_asked_for_a_parent(engine: Engine, respondent: str, age: str) -> None:
    person = Person(engine, f"no-guardian-{respondent}-{age}")
    person.start()
    person.answer_some({**OPENING, "respondent": respondent, "age": age})
    assert person.prompt == "chiari"
