"""The FHIR R4 export: each trial as a Questionnaire that says which questions depend on which
answers and which version of its wording it is, each screening as a QuestionnaireResponse tied
to that version, its referral and the person's language. Validated with fhir.resources."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire

from bot.coordination.fhir import ENABLE_WHEN_EXPRESSION, _enabled, questionnaire, record_questionnaire
from bot.coordination.permissions import Principal, Role
from bot.coordination.service import Coordination
from dialogs.conditions import All, Any_, Not, QuestionTest
from dialogs.engine import Engine
from dialogs.i18n import shipped_locales
from dialogs.trial import Trial, Trials, find_trial
from storage.models import utcnow
from tests.conftest import LIKELY_B1, LIKELY_B1_ZH, Person

OPERATOR = Principal("operator:test", Role.OPERATOR)
LOCALES = shipped_locales()


def _items(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for item in resource["item"]}


def test_only_the_consents_asked_of_everyone_are_required(trial: Trial) -> None:
    items = _items(questionnaire(trial, LOCALES))
    assert [i for i, item in items.items() if item["required"]] == ["consent_storage", "consent_contact"]


def test_questions_asked_on_some_answers_are_enabled_by_them(trial: Trial) -> None:
    items = _items(questionnaire(trial, LOCALES))
    system = "urn:trial-intake:NCT07295067"
    assert items["surgery_year_ago"]["enableWhen"] == [
        {
            "question": "had_surgery",
            "operator": "=",
            "answerCoding": {"system": f"{system}:had_surgery", "code": "yes"},
        }
    ]
    assert "enableBehavior" not in items["surgery_year_ago"]
    either = items["had_surgery"]
    assert either["enableBehavior"] == "any"
    assert [w["answerCoding"]["code"] for w in either["enableWhen"]] == ["yes", "dont_know"]
    assert "enableWhen" not in items["age"]
    guardian = _items(questionnaire(find_trial("nct06079125"), LOCALES))["guardian"]
    assert guardian["enableBehavior"] == "all"
    assert [(w["question"], w["operator"], w.get("answerInteger")) for w in guardian["enableWhen"]] == [
        ("respondent", "=", None),
        ("age", ">=", 14),
        ("age", "<=", 17),
    ]


def test_a_condition_enableWhen_cannot_say_becomes_a_fhirpath_expression(trial: Trial) -> None:
    nested = Any_(
        (
            All((QuestionTest("had_surgery", equals="yes"), QuestionTest("age", min=18))),
            Not(QuestionTest("diabetes", equals="no")),
        )
    )
    enabled = _enabled(trial, nested)
    [extension] = enabled["extension"]
    assert extension["url"] == ENABLE_WHEN_EXPRESSION
    expression = extension["valueExpression"]["expression"]
    assert expression == (
        "(((%resource.repeat(item).where(linkId='had_surgery').answer.value.code = 'yes') and "
        "(%resource.repeat(item).where(linkId='age').answer.value >= 18)) or "
        "((%resource.repeat(item).where(linkId='diabetes').answer.value.code = 'no')).not())"
    )
    item = {"linkId": "x", "type": "boolean", **enabled}
    Questionnaire.model_validate({"resourceType": "Questionnaire", "status": "active", "item": [item]})
    negated = _enabled(trial, Not(QuestionTest("diabetes", equals="no")))
    assert [w["operator"] for w in negated["enableWhen"]] == ["exists", "!="], "unanswered is not enabled"


def test_the_version_is_a_hash_of_everything_the_questionnaire_says(trial: Trial) -> None:
    version = questionnaire(trial, LOCALES)["version"]
    assert len(version) == 16 and version == questionnaire(trial, LOCALES)["version"]
    assert questionnaire(trial, ["en"])["version"] != version, "a translation is part of the wording"
    reworded = trial.model_copy(update={"title": trial.title + " (revised)"})
    assert questionnaire(reworded, LOCALES)["version"] != version


def _bundle(engine: Engine, trials: Trials, kind: str = "full") -> dict[str, Any]:
    service = Coordination(engine.store, trials, LOCALES, locale="en", timezone="UTC")
    return json.loads(service.export_fhir(OPERATOR, list(trials), kind))


def _responses(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]


def test_a_response_is_joined_to_its_referral_in_its_persons_language(engine: Engine, trial: Trial) -> None:
    with engine.store.transaction() as records:
        version = record_questionnaire(records, trial, LOCALES, utcnow() - timedelta(minutes=1))
    person = Person(engine, "zh", locale="zh_Hans")
    person.start()
    person.answer_all(LIKELY_B1_ZH)
    referral = person.stored()["referral"]["id"]
    bundle = _bundle(engine, Trials([trial]))
    Bundle.model_validate(bundle)
    assert bundle["timestamp"] and all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])
    [response] = _responses(bundle)
    assert response["identifier"] == {"system": "urn:trial-intake:referral", "value": referral}
    assert {"url": "urn:trial-intake:referral-status", "valueCode": "pending"} in response["extension"]
    assert response["questionnaire"] == f"urn:trial-intake:questionnaire:NCT07295067|{version}"
    answers = {item["linkId"]: item["answer"][0] for item in response["item"]}
    assert answers["consent_storage"]["valueCoding"]["code"] == "yes", (
        "the consent to store them, in every response"
    )
    assert response["language"] == "zh-Hans"
    assert answers["diabetes"]["valueCoding"]["display"] == "否", "the options in the person's language"
    anonymous = _responses(_bundle(engine, Trials([trial]), "deidentified"))[0]
    assert "identifier" not in anonymous and "contact_phone" not in {i["linkId"] for i in anonymous["item"]}


def test_old_responses_keep_the_wording_they_answered(engine: Engine, trial: Trial) -> None:
    """The trial's wording changes between two screenings: each response names the version served
    when it began, and the Bundle carries both versions."""
    with engine.store.transaction() as records:
        before = record_questionnaire(records, trial, LOCALES, utcnow() - timedelta(minutes=1))
    first = Person(engine, "before")
    first.start()
    first.answer_all(LIKELY_B1)
    reworded = trial.model_copy(update={"title": trial.title + " (revised)"})
    with engine.store.transaction() as records:
        after = record_questionnaire(records, reworded, LOCALES, utcnow())
        assert record_questionnaire(records, reworded, LOCALES, utcnow()) == after
        assert len(records.questionnaire_versions(trial.registry_id)) == 2, "the same version once"
    second = Person(engine, "after")
    second.start()
    second.answer_all(LIKELY_B1)
    bundle = _bundle(engine, Trials([reworded]))
    Bundle.model_validate(bundle)
    versions = [
        e["resource"]["version"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Questionnaire"
    ]
    assert versions == [after, before], "the current version first, then the older one its responses answered"
    assert [r["questionnaire"].rpartition("|")[2] for r in _responses(bundle)] == [before, after]


def test_a_screening_begun_before_versions_were_recorded_names_no_version(
    person: Person, trial: Trial
) -> None:
    person.start()
    person.answer_all(LIKELY_B1)
    [response] = _responses(_bundle(person.engine, Trials([trial])))
    assert response["questionnaire"] == "urn:trial-intake:questionnaire:NCT07295067", "never a guess"


@pytest.mark.parametrize("kind", ["full", "deidentified"])
def test_every_export_validates(engine: Engine, trial: Trial, kind: str) -> None:
    person = Person(engine, kind)
    person.start()
    person.answer_all(LIKELY_B1)
    Bundle.model_validate(_bundle(engine, Trials([trial]), kind))
