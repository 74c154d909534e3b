"""Eligibility rules of NCT07295067 applied to answers, via `dialogs.eligibility.assess`.

Every expected value below is worked out by hand from the criteria in
dialogs/trials/nct07295067.yaml (inclusion: A and (B1 or B2); any of E1..E10
excludes; E11 cannot be assessed), never by calling the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from dialogs.eligibility import Assessment, Outcome, assess
from dialogs.trial import Trial, find_trial
from tests.conftest import B1_VALUES

ALL_EXCLUSIONS = ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10")


@pytest.fixture(scope="module")
def trial() -> Trial:
    return find_trial("nct07295067")


def b1_answers(**changes: Any) -> dict[str, Any]:
    """A complete, likely eligible person answering for themselves, operated on (criterion B1).

    Keyword arguments replace answers; a value of None removes that answer.
    """
    answers: dict[str, Any] = dict(B1_VALUES)
    return _apply(answers, changes)


def b2_answers(**changes: Any) -> dict[str, Any]:
    """Like `b1_answers`, but never operated on and the syrinx resolved by itself (criterion B2)."""
    answers = b1_answers(had_surgery="no", surgery_year_ago=None, mri_shrunk=None, mri_resolved="yes")
    return _apply(answers, changes)


def proxy_answers(**changes: Any) -> dict[str, Any]:
    """Like `b1_answers`, but a relative answers, so `can_communicate` (part of E8) is asked."""
    answers = b1_answers(respondent="proxy", can_communicate="yes")
    return _apply(answers, changes)


def _apply(answers: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    return answers


LIKELY = Assessment(Outcome.LIKELY_ELIGIBLE)


def not_eligible(*reasons: str) -> Assessment:
    return Assessment(Outcome.NOT_ELIGIBLE, reasons=reasons)


def needs_review(uncertain: tuple[str, ...], unsure: tuple[str, ...]) -> Assessment:
    return Assessment(Outcome.NEEDS_REVIEW, uncertain=uncertain, unsure_questions=unsure)


def test_personas_are_what_they_claim() -> None:
    """Guards the helpers: the B2 persona has no surgery answers, the proxy one answers for another."""
    assert "surgery_year_ago" not in b2_answers()
    assert "mri_shrunk" not in b2_answers()
    assert b2_answers()["mri_resolved"] == "yes"
    assert "can_communicate" not in b1_answers()
    assert proxy_answers()["respondent"] == "proxy"


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(b1_answers(), id="B1-after-surgery"),
        pytest.param(b2_answers(), id="B2-without-surgery"),
        pytest.param(proxy_answers(), id="B1-answered-by-relative"),
    ],
)
def test_complete_answers_are_likely_eligible(trial: Trial, answers: dict[str, Any]) -> None:
    result = assess(trial, answers)
    assert result.outcome is Outcome.LIKELY_ELIGIBLE
    assert result.reasons == ()
    assert result.uncertain == ()
    assert result.unsure_questions == ()


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(17, not_eligible("A"), id="17-too-young"),
        pytest.param(18, LIKELY, id="18-youngest"),
        pytest.param(60, LIKELY, id="60-oldest"),
        pytest.param(61, not_eligible("A"), id="61-too-old"),
        pytest.param(1, not_eligible("A"), id="1"),
        pytest.param(120, not_eligible("A"), id="120"),
    ],
)
def test_age_boundaries(trial: Trial, age: int, expected: Assessment) -> None:
    assert assess(trial, b1_answers(age=age)) == expected


@pytest.mark.parametrize(
    ("answers", "criterion"),
    [
        pytest.param(b1_answers(diabetes="yes"), "E1", id="E1-diabetes"),
        pytest.param(b1_answers(heart_disease="yes"), "E1", id="E1-heart-disease"),
        pytest.param(b1_answers(liver_kidney="yes"), "E1", id="E1-liver-kidney"),
        pytest.param(b1_answers(other_cns_disease="yes"), "E2", id="E2-other-cns-disease"),
        pytest.param(b1_answers(back_infection="yes"), "E3", id="E3-back-infection"),
        pytest.param(b1_answers(heart_abnormality="yes"), "E4", id="E4-heart-abnormality"),
        pytest.param(b1_answers(autoimmune="yes"), "E5", id="E5-autoimmune"),
        pytest.param(b1_answers(biologic_allergy="yes"), "E6", id="E6-biologic-allergy"),
        pytest.param(b1_answers(recent_study="yes"), "E7", id="E7-recent-study"),
        pytest.param(b1_answers(follow_plan="no"), "E8", id="E8-cannot-follow-plan"),
        pytest.param(proxy_answers(follow_plan="no"), "E8", id="E8-proxy-cannot-follow-plan"),
        pytest.param(proxy_answers(can_communicate="no"), "E8", id="E8-proxy-cannot-communicate"),
        pytest.param(b1_answers(pregnancy="yes"), "E9", id="E9-pregnancy"),
        pytest.param(b1_answers(serology="yes"), "E10", id="E10-serology"),
        pytest.param(b2_answers(diabetes="yes"), "E1", id="E1-diabetes-B2-persona"),
        pytest.param(b2_answers(serology="yes"), "E10", id="E10-serology-B2-persona"),
    ],
)
def test_each_exclusion_alone(trial: Trial, answers: dict[str, Any], criterion: str) -> None:
    assert assess(trial, answers) == not_eligible(criterion)


@pytest.mark.parametrize(
    ("answers", "reasons"),
    [
        pytest.param(
            b1_answers(serology="yes", back_infection="yes", diabetes="yes"),
            ("E1", "E3", "E10"),
            id="E10-E3-E1-in-criterion-order",
        ),
        pytest.param(
            b1_answers(diabetes="yes", heart_disease="yes", liver_kidney="yes"),
            ("E1",),
            id="three-answers-one-criterion",
        ),
        pytest.param(
            proxy_answers(can_communicate="no", pregnancy="yes", heart_abnormality="yes"),
            ("E4", "E8", "E9"),
            id="E4-E8-E9",
        ),
        pytest.param(
            proxy_answers(
                diabetes="yes",
                other_cns_disease="yes",
                back_infection="yes",
                heart_abnormality="yes",
                autoimmune="yes",
                biologic_allergy="yes",
                recent_study="yes",
                can_communicate="no",
                follow_plan="no",
                pregnancy="yes",
                serology="yes",
            ),
            ALL_EXCLUSIONS,
            id="every-exclusion",
        ),
        pytest.param(b1_answers(age=17, serology="yes"), ("A", "E10"), id="age-and-exclusion"),
        pytest.param(
            b1_answers(age=61, diagnosis="no", diabetes="yes"), ("A", "B1", "B2", "E1"), id="A-B-and-E1"
        ),
    ],
)
def test_several_reasons_follow_the_trials_order(
    trial: Trial, answers: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    assert assess(trial, answers) == not_eligible(*reasons)


@pytest.mark.parametrize(
    ("answers", "reasons"),
    [
        pytest.param(b1_answers(diagnosis="no"), ("B1", "B2"), id="no-diagnosis"),
        pytest.param(b2_answers(diagnosis="no"), ("B1", "B2"), id="no-diagnosis-B2-persona"),
        pytest.param(b1_answers(surgery_year_ago="no"), ("B1", "B2"), id="surgery-too-recent"),
        pytest.param(b1_answers(mri_shrunk="no"), ("B1", "B2"), id="syrinx-not-shrunk"),
        pytest.param(b1_answers(symptoms_course="improved"), ("B1", "B2"), id="symptoms-improved-B1"),
        pytest.param(b2_answers(symptoms_course="improved"), ("B1", "B2"), id="symptoms-improved-B2"),
        pytest.param(b2_answers(mri_resolved="no"), ("B1", "B2"), id="syrinx-not-resolved"),
        pytest.param(b1_answers(age=17, diagnosis="no"), ("A", "B1", "B2"), id="too-young-and-no-diagnosis"),
        pytest.param(b2_answers(age=61, mri_resolved="no"), ("A", "B1", "B2"), id="too-old-and-not-resolved"),
    ],
)
def test_inclusion_b_failing(trial: Trial, answers: dict[str, Any], reasons: tuple[str, ...]) -> None:
    assert assess(trial, answers) == not_eligible(*reasons)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(b1_answers(), id="absent"),
        pytest.param(b1_answers(can_communicate="no"), id="no"),
        pytest.param(b1_answers(can_communicate="dont_know"), id="dont-know"),
    ],
)
def test_e8_for_a_person_answering_for_themselves_ignores_can_communicate(
    trial: Trial, answers: dict[str, Any]
) -> None:
    """Only a relative can report that someone cannot communicate (E8 interpretation)."""
    assert assess(trial, answers) == LIKELY


def test_e8_for_a_relative_needs_can_communicate(trial: Trial) -> None:
    """A relative who has not said whether the person can communicate leaves E8 open."""
    assert assess(trial, proxy_answers(can_communicate=None)) == needs_review(("E8",), ())


@pytest.mark.parametrize(
    ("answers", "uncertain", "unsure"),
    [
        # Inclusion B: with had_surgery "yes", B2 is already false, so only B1 is open.
        pytest.param(b1_answers(diagnosis="dont_know"), ("B1",), ("diagnosis",), id="diagnosis"),
        pytest.param(b1_answers(had_surgery="dont_know"), ("B1", "B2"), ("had_surgery",), id="had_surgery"),
        pytest.param(
            b1_answers(surgery_year_ago="dont_know"), ("B1",), ("surgery_year_ago",), id="surgery_year_ago"
        ),
        pytest.param(b1_answers(mri_shrunk="dont_know"), ("B1",), ("mri_shrunk",), id="mri_shrunk"),
        pytest.param(
            b1_answers(symptoms_course="dont_know"),
            ("B1",),
            ("symptoms_course",),
            id="symptoms_course",
        ),
        # With had_surgery "no", B1 is already false, so only B2 is open.
        pytest.param(b2_answers(diagnosis="dont_know"), ("B2",), ("diagnosis",), id="B2-diagnosis"),
        pytest.param(
            b2_answers(had_surgery="dont_know"), ("B1", "B2"), ("had_surgery",), id="B2-had_surgery"
        ),
        pytest.param(b2_answers(mri_resolved="dont_know"), ("B2",), ("mri_resolved",), id="B2-mri_resolved"),
        pytest.param(
            b2_answers(symptoms_course="dont_know"),
            ("B2",),
            ("symptoms_course",),
            id="B2-symptoms_course",
        ),
        # Exclusions.
        pytest.param(b1_answers(diabetes="dont_know"), ("E1",), ("diabetes",), id="diabetes"),
        pytest.param(b1_answers(heart_disease="dont_know"), ("E1",), ("heart_disease",), id="heart_disease"),
        pytest.param(b1_answers(liver_kidney="dont_know"), ("E1",), ("liver_kidney",), id="liver_kidney"),
        pytest.param(
            b1_answers(other_cns_disease="dont_know"), ("E2",), ("other_cns_disease",), id="other_cns_disease"
        ),
        pytest.param(
            b1_answers(back_infection="dont_know"), ("E3",), ("back_infection",), id="back_infection"
        ),
        pytest.param(
            b1_answers(heart_abnormality="dont_know"), ("E4",), ("heart_abnormality",), id="heart_abnormality"
        ),
        pytest.param(b1_answers(autoimmune="dont_know"), ("E5",), ("autoimmune",), id="autoimmune"),
        pytest.param(
            b1_answers(biologic_allergy="dont_know"), ("E6",), ("biologic_allergy",), id="biologic_allergy"
        ),
        pytest.param(b1_answers(recent_study="dont_know"), ("E7",), ("recent_study",), id="recent_study"),
        pytest.param(b1_answers(follow_plan="dont_know"), ("E8",), ("follow_plan",), id="follow_plan"),
        pytest.param(
            proxy_answers(can_communicate="dont_know"),
            ("E8",),
            ("can_communicate",),
            id="proxy-can_communicate",
        ),
        pytest.param(b1_answers(pregnancy="dont_know"), ("E9",), ("pregnancy",), id="pregnancy"),
        pytest.param(b1_answers(serology="dont_know"), ("E10",), ("serology",), id="serology"),
        # Several at once: criteria in the trial's order, questions in the order they are asked.
        pytest.param(
            b1_answers(serology="dont_know", diagnosis="dont_know", diabetes="dont_know"),
            ("B1", "E1", "E10"),
            ("diagnosis", "diabetes", "serology"),
            id="diagnosis-diabetes-serology",
        ),
    ],
)
def test_dont_know_needs_review(
    trial: Trial, answers: dict[str, Any], uncertain: tuple[str, ...], unsure: tuple[str, ...]
) -> None:
    result = assess(trial, answers)
    assert result.outcome is Outcome.NEEDS_REVIEW
    assert result.reasons == ()
    assert result.uncertain == uncertain
    assert result.unsure_questions == unsure


def test_dont_know_on_travel_changes_nothing(trial: Trial) -> None:
    """Travel is passed on to the study team; it is not a criterion."""
    assert assess(trial, b1_answers(travel="dont_know")) == LIKELY
    assert assess(trial, b1_answers(travel="no")) == LIKELY


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(b1_answers(serology="dont_know", diabetes="yes"), not_eligible("E1"), id="exclusion"),
        pytest.param(
            b1_answers(diabetes="dont_know", heart_disease="yes"), not_eligible("E1"), id="same-criterion"
        ),
        pytest.param(b1_answers(serology="dont_know", age=17), not_eligible("A"), id="age"),
        pytest.param(
            b1_answers(serology="dont_know", mri_shrunk="no"), not_eligible("B1", "B2"), id="inclusion-B"
        ),
        pytest.param(
            proxy_answers(can_communicate="dont_know", follow_plan="no"),
            not_eligible("E8"),
            id="E8-either-way",
        ),
    ],
)
def test_a_clear_no_beats_dont_know(trial: Trial, answers: dict[str, Any], expected: Assessment) -> None:
    assert assess(trial, answers) == expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param({"age": 17}, not_eligible("A"), id="too-young-decides-early"),
        pytest.param({"age": 61}, not_eligible("A"), id="too-old-decides-early"),
        pytest.param({"age": 30, "diabetes": "yes"}, not_eligible("E1"), id="exclusion-decides-early"),
        pytest.param({"age": 30, "diagnosis": "no"}, not_eligible("B1", "B2"), id="no-diagnosis-decides"),
        pytest.param(
            {"age": 30},
            needs_review(("B1", "B2", *ALL_EXCLUSIONS), ()),
            id="age-only-decides-nothing",
        ),
        pytest.param({}, needs_review(("A", "B1", "B2", *ALL_EXCLUSIONS), ()), id="no-answers"),
        pytest.param(
            b1_answers(serology=None),
            needs_review(("E10",), ()),
            id="last-question-unanswered",
        ),
    ],
)
def test_partial_answers(trial: Trial, answers: dict[str, Any], expected: Assessment) -> None:
    assert assess(trial, answers) == expected


@pytest.mark.parametrize(
    ("outcome", "refers"),
    [
        (Outcome.LIKELY_ELIGIBLE, True),
        (Outcome.NEEDS_REVIEW, True),
        (Outcome.NOT_ELIGIBLE, False),
    ],
)
def test_which_outcomes_are_referred(outcome: Outcome, refers: bool) -> None:
    assert outcome.refers is refers


def test_outcome_values_are_stable() -> None:
    """The values are stored and exported, so they must not change."""
    assert [o.value for o in Outcome] == ["likely_eligible", "needs_review", "not_eligible"]


def test_e11_cannot_be_assessed_and_is_never_named(trial: Trial) -> None:
    e11 = next(c for c in trial.criteria if c.id == "E11")
    assert e11.kind == "exclusion"
    assert e11.when is None
    everything_unknown = assess(trial, {})
    assert "E11" not in everything_unknown.uncertain
    assert everything_unknown.uncertain[-1] == "E10"
    every_exclusion = assess(
        trial,
        proxy_answers(
            diabetes="yes",
            other_cns_disease="yes",
            back_infection="yes",
            heart_abnormality="yes",
            autoimmune="yes",
            biologic_allergy="yes",
            recent_study="yes",
            can_communicate="no",
            pregnancy="yes",
            serology="yes",
        ),
    )
    assert every_exclusion.reasons == ALL_EXCLUSIONS
    assert "E11" not in every_exclusion.reasons


def test_assess_does_not_change_the_answers(trial: Trial) -> None:
    answers = b1_answers(serology="dont_know")
    before = dict(answers)
    assess(trial, answers)
    assert answers == before
