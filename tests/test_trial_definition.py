"""Loading and validating trial files (`dialogs.trial`), and the condition language (`dialogs.conditions`).

Malformed trials are the shipped trial with one thing changed, so each case
shows that exactly that change is caught and named.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialogs.conditions import (
    All,
    Any_,
    ConditionError,
    CriterionRef,
    Not,
    QuestionTest,
    Truth,
    explain,
    parse_condition,
    walk,
)
from dialogs.trial import (
    TRIALS_DIR,
    Trial,
    TrialDefinitionError,
    available_trials,
    check_trial,
    find_trial,
    load_trial,
)

SHIPPED = TRIALS_DIR / "nct07295067.yaml"
Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def shipped_data() -> dict[str, Any]:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def question(data: dict[str, Any], question_id: str) -> dict[str, Any]:
    return next(q for q in data["questions"] if q["id"] == question_id)


def criterion(data: dict[str, Any], criterion_id: str) -> dict[str, Any]:
    return next(c for c in data["criteria"] if c["id"] == criterion_id)


def write_trial(directory: Path, data: Any, name: str = "broken.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> TrialDefinitionError:
    with pytest.raises(TrialDefinitionError) as caught:
        load_trial(path)
    return caught.value


# --- the shipped trial -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trial() -> Trial:
    return find_trial("nct07295067")


def test_shipped_trial_loads(trial: Trial) -> None:
    assert trial.slug == "nct07295067"
    assert trial.domain == "nct07295067"
    assert trial.registry_id == "NCT07295067"
    assert trial.site == "Xuanwu Hospital, Beijing"
    assert trial.variant_by == "respondent"
    assert check_trial(trial) == []


def test_first_question_is_the_storage_consent(trial: Trial) -> None:
    first = trial.questions[0]
    assert first.id == "consent_storage"
    assert first.kind == "consent"
    assert first.scope == "storage"
    assert trial.consent_question("storage") is first
    assert trial.consent_question("contact") is trial.question("consent_contact")
    assert trial.consent_question("future_studies") is None


def test_shipped_criteria(trial: Trial) -> None:
    ids = tuple(c.id for c in trial.criteria)
    assert ids == ("A", "B1", "B2", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10", "E11")
    kinds = {c.id: c.kind for c in trial.criteria}
    assert [i for i in ids if kinds[i] == "inclusion"] == ["A", "B1", "B2"]
    unassessable = [c.id for c in trial.criteria if c.when is None]
    assert unassessable == ["E11"]
    assert trial.criteria[0].when == QuestionTest(question="age", min=18, max=60)


def test_shipped_inclusion_rule(trial: Trial) -> None:
    assert trial.inclusion_rule == All((CriterionRef("A"), Any_((CriterionRef("B1"), CriterionRef("B2")))))


def test_shipped_questions(trial: Trial) -> None:
    age = trial.question("age")
    assert (age.kind, age.min, age.max) == ("number", 1, 120)
    assert isinstance(age.text, dict)
    assert set(age.text) == {"self", "proxy"}
    assert [o.value for o in trial.question("diabetes").choices] == ["yes", "no", "dont_know"]
    assert [o.value for o in trial.question("respondent").choices] == ["self", "proxy"]
    assert trial.question("can_communicate").ask_if == QuestionTest(question="respondent", equals="proxy")
    assert trial.question("diabetes").option("maybe") is None


def test_find_trial_ignores_case() -> None:
    assert find_trial("NCT07295067").registry_id == "NCT07295067"


def test_available_trials_lists_the_shipped_trials() -> None:
    assert {"nct07295067", "nct06079125"} <= set(available_trials())


@pytest.mark.parametrize("slug", available_trials())
def test_every_shipped_trial_loads(slug: str) -> None:
    loaded = find_trial(slug)
    assert check_trial(loaded) == []
    assert loaded.registry_id.lower() == slug


def test_a_concept_asks_the_same_in_every_trial_that_names_it() -> None:
    """An answer carries over between trials by its concept: the questions that name one take the
    same kind of answer, with the same option values and bounds, in every shipped trial."""
    by_concept: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    for slug in available_trials():
        for q in find_trial(slug).questions:
            if q.concept:
                shape = (q.kind, q.number, q.min, q.max, tuple(o.value for o in q.choices))
                by_concept.setdefault(q.concept, []).append((slug, shape))
    shared = {concept: found for concept, found in by_concept.items() if len(found) > 1}
    assert {"age", "respondent", "syrinx_diagnosed", "contact_name", "contact_phone"} <= set(shared)
    for concept, found in shared.items():
        assert len({shape for _, shape in found}) == 1, f"{concept}: {found}"


def test_the_shipped_file_round_trips_through_yaml(tmp_path: Path, shipped_data: dict[str, Any]) -> None:
    """The malformed cases below are built this way, so the unchanged copy must load."""
    loaded = load_trial(write_trial(tmp_path, shipped_data, name="copy.yaml"))
    assert loaded.slug == "copy"
    assert loaded.registry_id == "NCT07295067"
    assert len(loaded.questions) == len(shipped_data["questions"])


def test_without_an_inclusion_rule_all_assessable_inclusion_criteria_are_needed(
    tmp_path: Path, shipped_data: dict[str, Any]
) -> None:
    data = copy.deepcopy(shipped_data)
    del data["inclusion"]
    loaded = load_trial(write_trial(tmp_path, data))
    assert loaded.inclusion_rule == All((CriterionRef("A"), CriterionRef("B1"), CriterionRef("B2")))


# --- malformed trial files ---------------------------------------------------------------------------


def _set_question(question_id: str, field: str, value: Any) -> Mutation:
    return lambda data: question(data, question_id).__setitem__(field, value)


def _drop_question_field(question_id: str, field: str) -> Mutation:
    return lambda data: question(data, question_id).pop(field)


def _set_when(criterion_id: str, condition: Any) -> Mutation:
    return lambda data: criterion(data, criterion_id).__setitem__("when", condition)


def _append_question(new: dict[str, Any]) -> Mutation:
    return lambda data: data["questions"].append(new)


def _rename_label(data: dict[str, Any]) -> None:
    question(data, "travel")["lable"] = question(data, "travel").pop("label")


def _swap_first_questions(data: dict[str, Any]) -> None:
    data["questions"][0], data["questions"][1] = data["questions"][1], data["questions"][0]


def _duplicate_scope(data: dict[str, Any]) -> None:
    question(data, "consent_contact")["scope"] = "storage"


def _duplicate_criterion(data: dict[str, Any]) -> None:
    criterion(data, "E11")["id"] = "E10"


MALFORMED: list[Any] = [
    pytest.param(
        lambda d: question(d, "age").update(min=70, max=60),
        ["question `age`: `min` must be below `max`"],
        id="number-min-above-max",
    ),
    pytest.param(
        lambda d: question(d, "age").update(min=60, max=60),
        ["question `age`: `min` must be below `max`"],
        id="number-min-equals-max",
    ),
    pytest.param(
        _drop_question_field("age", "max"),
        ["question `age`: a number question needs `min` and `max`"],
        id="number-without-max",
    ),
    pytest.param(
        _append_question(
            {
                "id": "colour",
                "kind": "choice",
                "label": "Colour",
                "text": "Colour?",
                "options": [{"value": "red", "text": "Red"}],
            }
        ),
        ["question `colour`: a choice question needs at least two options"],
        id="choice-with-one-option",
    ),
    pytest.param(
        _set_question("travel", "id", "diabetes"),
        ["question `diabetes`: the id is used twice"],
        id="duplicate-question-id",
    ),
    pytest.param(
        _set_question("travel", "id", "summary"),
        ["question `summary`: `summary` is reserved for the dialog itself"],
        id="reserved-question-id",
    ),
    pytest.param(
        _set_question("travel", "id", "Travel Plans"),
        ["question `Travel Plans`: the id must be lower-case letters, digits and _ (at most 32)"],
        id="question-id-with-capitals-and-space",
    ),
    pytest.param(
        _set_question("travel", "id", "t" * 33),
        [f"question `{'t' * 33}`: the id must be lower-case letters, digits and _ (at most 32)"],
        id="question-id-too-long",
    ),
    pytest.param(
        _set_question("had_surgery", "ask_if", {"question": "mri_shrunk", "equals": "yes"}),
        ["question `had_surgery`: ask_if: `mri_shrunk` is not an earlier question"],
        id="ask-if-later-question",
    ),
    pytest.param(
        _set_question("had_surgery", "ask_if", {"question": "had_surgery", "equals": "yes"}),
        ["question `had_surgery`: ask_if: `had_surgery` is not an earlier question"],
        id="ask-if-itself",
    ),
    pytest.param(
        _set_question("had_surgery", "ask_if", {"question": "weight", "equals": "yes"}),
        ["question `had_surgery`: ask_if: `weight` is not an earlier question"],
        id="ask-if-unknown-question",
    ),
    pytest.param(
        _set_question("surgery_year_ago", "ask_if", {"question": "had_surgery", "equals": "maybe"}),
        ["question `surgery_year_ago`: ask_if: `had_surgery` has no option `maybe`"],
        id="ask-if-unknown-option",
    ),
    pytest.param(
        _set_question("can_communicate", "ask_if", {"question": "respondent", "in": ["proxy", "carer"]}),
        ["question `can_communicate`: ask_if: `respondent` has no option `carer`"],
        id="ask-if-unknown-option-in-list",
    ),
    pytest.param(
        _set_question("travel", "ask_if", {"question": "diabetes", "min": 1, "max": 2}),
        ["question `travel`: ask_if: min/max on `diabetes`, which is not a number question"],
        id="ask-if-min-on-yes-no-question",
    ),
    pytest.param(
        _set_question("travel", "ask_if", {"criterion": "A"}),
        ["question `travel`: ask_if: `criterion` is only allowed in the trial's inclusion rule"],
        id="ask-if-naming-a-criterion",
    ),
    pytest.param(
        _set_when("E3", {"question": "back_pain", "equals": "yes"}),
        ["criterion `E3`: `back_pain` is not an earlier question"],
        id="criterion-unknown-question",
    ),
    pytest.param(
        _set_when("E10", {"question": "serology", "equals": "weak"}),
        ["criterion `E10`: `serology` has no option `weak`"],
        id="criterion-unknown-option",
    ),
    pytest.param(
        _rename_label,
        [
            "question `travel`: `label`: Field required",
            "question `travel`: `lable`: Extra inputs are not permitted",
        ],
        id="typo-in-question-field",
    ),
    pytest.param(
        _set_question("travel", "kind", "date"),
        [
            "question `travel`: `kind`: "
            "Input should be 'yes_no', 'number', 'choice', 'text', 'phone' or 'consent'"
        ],
        id="unknown-question-kind",
    ),
    pytest.param(
        _swap_first_questions,
        ["the first question must be the consent to store answers (scope: storage)"],
        id="first-question-not-storage-consent",
    ),
    pytest.param(
        _duplicate_scope,
        ["more than one consent question with scope `storage`"],
        id="two-storage-consents",
    ),
    pytest.param(
        _set_question("travel", "scope", "future_studies"),
        ["question `travel`: consent questions, and only they, have a `scope`"],
        id="scope-on-a-yes-no-question",
    ),
    pytest.param(
        _duplicate_criterion,
        ["criterion `E10`: the id is used twice"],
        id="duplicate-criterion-id",
    ),
    pytest.param(
        lambda d: d.__setitem__("inclusion", {"all": [{"criterion": "A"}, {"criterion": "E1"}]}),
        ["inclusion: `E1` is not an assessable inclusion criterion"],
        id="inclusion-names-an-exclusion",
    ),
    pytest.param(
        lambda d: d.__setitem__("inclusion", {"all": [{"criterion": "A"}, {"criterion": "Z9"}]}),
        ["inclusion: `Z9` is not an assessable inclusion criterion"],
        id="inclusion-names-an-unknown-criterion",
    ),
    pytest.param(
        lambda d: d.__setitem__("inclusion", {"all": [{"criterion": "A"}, {"question": "age", "min": 18}]}),
        ["inclusion: name criteria (`criterion: A`), not questions"],
        id="inclusion-names-a-question",
    ),
    pytest.param(
        _set_question("age", "text", {"self": "How old are you?", "carer": "How old is the person?"}),
        ["question `age`: text variants must be one per option of `respondent`"],
        id="text-variants-not-matching-respondent",
    ),
    pytest.param(
        _set_question("age", "text", {"self": "How old are you?"}),
        ["question `age`: text variants must be one per option of `respondent`"],
        id="text-variants-missing-one",
    ),
    pytest.param(
        _set_question("respondent", "text", {"self": "You?", "proxy": "Them?"}),
        ["question `respondent`: text variants need `variant_by` naming an earlier question"],
        id="text-variants-before-the-variant-question",
    ),
    pytest.param(
        _set_when("A", {"question": "age", "min": "x"}),
        ["criterion `A`: `when`: test on `age`: `min` must be a number"],
        id="condition-min-not-a-number",
    ),
    pytest.param(
        _set_when("A", {"all": []}),
        ["criterion `A`: `when`: `all` needs a non-empty list of conditions"],
        id="condition-empty-all",
    ),
    pytest.param(
        _set_when("A", {"foo": 1}),
        [
            "criterion `A`: `when`: unknown condition {'foo': 1}: "
            "use question/equals/in/min/max, all, any, not or criterion"
        ],
        id="condition-unknown-shape",
    ),
    pytest.param(
        _set_when("A", {"question": "age", "min": 60, "max": 18}),
        ["criterion `A`: `when`: test on `age`: `min` must not be above `max`"],
        id="condition-min-above-max",
    ),
]


@pytest.mark.parametrize(("mutate", "problems"), MALFORMED)
def test_malformed_trial_is_rejected_with_a_precise_message(
    tmp_path: Path, shipped_data: dict[str, Any], mutate: Mutation, problems: list[str]
) -> None:
    data = copy.deepcopy(shipped_data)
    mutate(data)
    path = write_trial(tmp_path, data)
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: ")
    assert error.source == str(path)
    for problem in problems:
        assert problem in message
    assert error.problems == problems


def test_several_problems_are_all_reported(tmp_path: Path, shipped_data: dict[str, Any]) -> None:
    data = copy.deepcopy(shipped_data)
    question(data, "age").update(min=70, max=60)
    question(data, "travel")["id"] = "summary"
    error = load_error(write_trial(tmp_path, data))
    assert error.problems == [
        "question `age`: `min` must be below `max`",
        "question `summary`: `summary` is reserved for the dialog itself",
    ]
    assert "; " in str(error)


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("title: [unclosed\nquestions: {\n", encoding="utf-8")
    error = load_error(path)
    assert str(error).startswith(f"{path}: cannot be read: ")
    assert len(error.problems) == 1


def test_yaml_list_instead_of_mapping(tmp_path: Path) -> None:
    path = write_trial(tmp_path, ["a", "b"])
    error = load_error(path)
    assert str(error) == f"{path}: must be a mapping of trial fields"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert str(load_error(path)) == f"{path}: must be a mapping of trial fields"


def test_missing_file_via_load_trial(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    error = load_error(path)
    assert str(error).startswith(f"{path}: cannot be read: ")


def test_missing_trial_via_find_trial() -> None:
    with pytest.raises(TrialDefinitionError) as caught:
        find_trial("nope")
    message = str(caught.value)
    assert str(TRIALS_DIR / "nope.yaml") in message
    assert "no such trial (known: nct06079125, nct07295067)" in message


def test_missing_trial_in_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(TrialDefinitionError) as caught:
        find_trial("nope", tmp_path)
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: no such trial (known: none)"


def test_missing_required_trial_field(tmp_path: Path, shipped_data: dict[str, Any]) -> None:
    data = copy.deepcopy(shipped_data)
    del data["registry_id"]
    error = load_error(write_trial(tmp_path, data))
    assert error.problems == ["`registry_id`: Field required"]


# --- conditions: three-valued logic ------------------------------------------------------------------

VALUES: list[Truth] = [True, False, None]


def _refs(*values: Truth) -> tuple[tuple[CriterionRef, ...], Callable[[str], Truth]]:
    """Criterion references standing for the given truth values, and the lookup that gives them."""
    names = [f"c{i}" for i in range(len(values))]
    truth = dict(zip(names, values, strict=True))
    return tuple(CriterionRef(n) for n in names), truth.get


def _no_answers(_: str) -> Any:
    return None


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (True, True, True),
        (True, False, False),
        (True, None, None),
        (False, True, False),
        (False, False, False),
        (False, None, False),
        (None, True, None),
        (None, False, False),
        (None, None, None),
    ],
)
def test_all_is_kleene_and(left: Truth, right: Truth, expected: Truth) -> None:
    children, lookup = _refs(left, right)
    assert All(children).evaluate(_no_answers, lookup) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (True, True, True),
        (True, False, True),
        (True, None, True),
        (False, True, True),
        (False, False, False),
        (False, None, None),
        (None, True, True),
        (None, False, None),
        (None, None, None),
    ],
)
def test_any_is_kleene_or(left: Truth, right: Truth, expected: Truth) -> None:
    children, lookup = _refs(left, right)
    assert Any_(children).evaluate(_no_answers, lookup) is expected


@pytest.mark.parametrize(("value", "expected"), [(True, False), (False, True), (None, None)])
def test_not_is_kleene_not(value: Truth, expected: Truth) -> None:
    (child,), lookup = _refs(value)
    assert Not(child).evaluate(_no_answers, lookup) is expected


def test_all_and_any_with_three_children() -> None:
    children, lookup = _refs(True, None, False)
    assert All(children).evaluate(_no_answers, lookup) is False
    assert Any_(children).evaluate(_no_answers, lookup) is True
    children, lookup = _refs(True, True, None)
    assert All(children).evaluate(_no_answers, lookup) is None


def _answers(**values: Any) -> Callable[[str], Any]:
    return values.get


def _no_criteria(_: str) -> Truth:
    return None


@pytest.mark.parametrize(
    ("test", "answers", "expected"),
    [
        pytest.param(QuestionTest("diabetes", equals="yes"), {}, None, id="missing-answer"),
        pytest.param(QuestionTest("diabetes", equals="yes"), {"diabetes": "yes"}, True, id="equals-true"),
        pytest.param(QuestionTest("diabetes", equals="yes"), {"diabetes": "no"}, False, id="equals-false"),
        pytest.param(
            QuestionTest("diabetes", equals="yes"), {"diabetes": "dont_know"}, None, id="dont-know-unknown"
        ),
        pytest.param(
            QuestionTest("diabetes", equals="no"),
            {"diabetes": "dont_know"},
            None,
            id="dont-know-unknown-for-no",
        ),
        pytest.param(
            QuestionTest("diagnosis", one_of=("yes", "dont_know")),
            {"diagnosis": "dont_know"},
            True,
            id="in-naming-dont-know",
        ),
        pytest.param(
            QuestionTest("diagnosis", one_of=("yes", "dont_know")),
            {"diagnosis": "no"},
            False,
            id="in-naming-dont-know-no",
        ),
        pytest.param(
            QuestionTest("diagnosis", equals="dont_know"),
            {"diagnosis": "dont_know"},
            True,
            id="equals-dont-know",
        ),
        pytest.param(
            QuestionTest("had_surgery", one_of=("yes", "no")),
            {"had_surgery": "dont_know"},
            None,
            id="in-without-dont-know",
        ),
        pytest.param(
            QuestionTest("respondent", one_of=("self",)), {"respondent": "proxy"}, False, id="in-false"
        ),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": 18}, True, id="min-inclusive"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": 60}, True, id="max-inclusive"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": 17}, False, id="below-min"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": 61}, False, id="above-max"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": 17.5}, False, id="float-below-min"),
        pytest.param(QuestionTest("age", min=18), {"age": 1000}, True, id="min-only"),
        pytest.param(QuestionTest("age", max=60), {"age": 0}, True, id="max-only"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": "forty"}, None, id="not-a-number"),
        pytest.param(QuestionTest("age", min=18, max=60), {"age": "dont_know"}, None, id="number-dont-know"),
        pytest.param(QuestionTest("age", min=18, max=60), {}, None, id="number-missing"),
    ],
)
def test_question_test(test: QuestionTest, answers: dict[str, Any], expected: Truth) -> None:
    assert test.evaluate(_answers(**answers), _no_criteria) is expected


def test_unknown_propagates_through_nesting() -> None:
    condition = All(
        (
            QuestionTest("age", min=18, max=60),
            Not(QuestionTest("diabetes", equals="yes")),
        )
    )
    assert condition.evaluate(_answers(age=30, diabetes="no"), _no_criteria) is True
    assert condition.evaluate(_answers(age=30, diabetes="dont_know"), _no_criteria) is None
    assert condition.evaluate(_answers(age=30), _no_criteria) is None
    assert condition.evaluate(_answers(age=17, diabetes="dont_know"), _no_criteria) is False


# --- conditions: parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"question": "age", "min": 18, "max": 60}, QuestionTest("age", min=18, max=60), id="range"
        ),
        pytest.param({"question": "x", "equals": "yes"}, QuestionTest("x", equals="yes"), id="equals"),
        pytest.param({"question": "x", "in": ["a", "b"]}, QuestionTest("x", one_of=("a", "b")), id="in"),
        pytest.param({"criterion": "A"}, CriterionRef("A"), id="criterion"),
        pytest.param(
            {"not": {"question": "x", "equals": "yes"}}, Not(QuestionTest("x", equals="yes")), id="not"
        ),
        pytest.param(
            {"all": [{"criterion": "A"}, {"any": [{"criterion": "B1"}, {"criterion": "B2"}]}]},
            All((CriterionRef("A"), Any_((CriterionRef("B1"), CriterionRef("B2"))))),
            id="nested",
        ),
    ],
)
def test_parse_condition(data: Any, expected: Any) -> None:
    assert parse_condition(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"question": "age", "min": "x"}, "test on `age`: `min` must be a number", id="min-text"),
        pytest.param({"question": "age", "max": "y"}, "test on `age`: `max` must be a number", id="max-text"),
        pytest.param({"all": []}, "`all` needs a non-empty list of conditions", id="empty-all"),
        pytest.param(
            {"any": {"criterion": "A"}}, "`any` needs a non-empty list of conditions", id="any-not-list"
        ),
        pytest.param(
            {"foo": 1},
            "unknown condition {'foo': 1}: use question/equals/in/min/max, all, any, not or criterion",
            id="unknown-key",
        ),
        pytest.param({}, "a condition must be a mapping, got {}", id="empty-mapping"),
        pytest.param(["x"], "a condition must be a mapping, got ['x']", id="list"),
        pytest.param({"question": "age"}, "test on `age` needs equals, in, min or max", id="no-test"),
        pytest.param(
            {"question": "x", "equals": "a", "in": ["a"]},
            "test on `x`: use one of equals, in, or min/max",
            id="equals-and-in",
        ),
        pytest.param({"question": "x", "in": []}, "test on `x`: `in` needs a non-empty list", id="empty-in"),
        pytest.param(
            {"question": "x", "in": "a"}, "test on `x`: `in` needs a non-empty list", id="in-not-list"
        ),
        pytest.param(
            {"question": "age", "min": 61, "max": 60},
            "test on `age`: `min` must not be above `max`",
            id="min-above-max",
        ),
    ],
)
def test_parse_condition_rejects(data: Any, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(data)
    assert str(caught.value) == message


def test_walk_visits_every_node_root_first() -> None:
    inner = QuestionTest("x", equals="yes")
    condition = All((CriterionRef("A"), Not(inner)))
    assert list(walk(condition)) == [condition, CriterionRef("A"), Not(inner), inner]


# --- conditions: explain -----------------------------------------------------------------------------

RULE = All((CriterionRef("A"), Any_((CriterionRef("B1"), CriterionRef("B2")))))


@pytest.mark.parametrize(
    ("truth", "wanted", "expected"),
    [
        pytest.param({"A": False, "B1": True, "B2": False}, False, ["A"], id="only-age-fails"),
        pytest.param({"A": True, "B1": False, "B2": False}, False, ["B1", "B2"], id="both-b-fail"),
        pytest.param({"A": False, "B1": False, "B2": False}, False, ["A", "B1", "B2"], id="all-fail"),
        pytest.param({"A": False, "B1": None, "B2": None}, False, ["A"], id="age-fails-b-open"),
        pytest.param({"A": True, "B1": None, "B2": False}, None, ["B1"], id="b1-open"),
        pytest.param({"A": None, "B1": None, "B2": None}, None, ["A", "B1", "B2"], id="all-open"),
        pytest.param({"A": True, "B1": True, "B2": None}, None, [], id="passing-rule-is-not-open"),
        pytest.param({"A": True, "B1": False, "B2": True}, False, [], id="passing-rule-does-not-fail"),
        pytest.param({"A": True, "B1": True, "B2": False}, True, ["A", "B1"], id="what-makes-it-pass"),
    ],
)
def test_explain_names_only_the_deciding_branch(
    truth: dict[str, Truth], wanted: Truth, expected: list[str]
) -> None:
    assert explain(RULE, truth.get, wanted) == expected


def test_explain_through_not() -> None:
    condition = Not(CriterionRef("X"))
    assert explain(condition, {"X": True}.get, False) == ["X"]
    assert explain(condition, {"X": False}.get, True) == ["X"]
    assert explain(condition, {"X": None}.get, None) == ["X"]
    assert explain(condition, {"X": True}.get, True) == []
