"""FHIR R4 exports: each trial as a Questionnaire, each screening as a QuestionnaireResponse.

The Questionnaire is generated from the trial file, in English with every other shipped
language as translation extensions. Only the consents asked of everyone are `required`: the
dialog stops as soon as an answer rules a person out, so a completed screening may leave any
other question unanswered. A question asked only on some answers (`ask_if`) is enabled by
`enableWhen` (or, where a condition nests beyond what enableWhen can say, by SDC's
enableWhenExpression in FHIRPath).

Its `version` is a hash of its content, every language included: the trial's consent_version
changes only with the consent's text (and makes everyone agree again), while the hash changes
with any wording a person may have read. Each version is recorded when a process first serves
it (`record_questionnaire`), so a response names the version that was served when its
screening began, and the Bundle carries that version's Questionnaire, however old.

A QuestionnaireResponse carries the answers by the question's id (its linkId), the options
worded in the person's language (its `language`), the outcome, the criteria to check and the
campaign source as extensions, and, in full, its referral's id as its identifier and the
referral's status. Everything is validated with fhir.resources before it leaves (its R4B
models: R4's and R4B's Questionnaire and QuestionnaireResponse are the same; fhir.resources
has no R4 for pydantic 2).

`deidentified` leaves out what identifies a person or was typed freely and the referral's id,
dates only the month, and gives each response an id that does not lead back to the screening.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from dialogs.conditions import All, Any_, Condition, Not, QuestionTest
from dialogs.i18n import translator
from dialogs.trial import Question, Trial
from storage.models import Screening, utcnow
from storage.repository import Records
from storage.views import screening_views

BASE = "urn:trial-intake"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
ENABLE_WHEN_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)
OUTCOME = f"{BASE}:outcome"
TO_CHECK = f"{BASE}:criterion-to-check"
SOURCE = f"{BASE}:campaign-source"
REFERRAL_STATUS = f"{BASE}:referral-status"
REFERRAL = f"{BASE}:referral"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)
_TYPES = {
    "yes_no": "choice",
    "consent": "choice",
    "choice": "choice",
    "number": "integer",
    "text": "string",
    "phone": "string",
}


def _tag(locale: str) -> str:
    return locale.replace("_", "-")


def _translated(trial: Trial, locales: Sequence[str], words: str) -> dict[str, Any]:
    """The translation extensions of `words` (an English msgid) for every other language."""
    extensions = []
    for locale in locales:
        if locale == "en":
            continue
        said = translator(locale, (trial.domain,))(words)
        extensions.append(
            {
                "url": TRANSLATION,
                "extension": [
                    {"url": "lang", "valueCode": _tag(locale)},
                    {"url": "content", "valueString": said},
                ],
            }
        )
    return {"extension": extensions} if extensions else {}


def questionnaire(trial: Trial, locales: Sequence[str]) -> dict[str, Any]:
    """The trial's questions as a Questionnaire, its version the hash of what it says."""
    en = translator("en", (trial.domain,))
    items = []
    for question in trial.questions:
        words = question.texts[0]
        item: dict[str, Any] = {
            "linkId": question.id,
            "text": en(words),
            "_text": _translated(trial, locales, words),
            "type": _TYPES[question.kind],
            "required": question.kind == "consent" and question.ask_if is None,
            **(_enabled(trial, question.ask_if) if question.ask_if is not None else {}),
        }
        if question.choices:
            item["answerOption"] = [
                {
                    "valueCoding": {
                        "system": _system(trial, question),
                        "code": option.value,
                        "display": en(option.text),
                        "_display": _translated(trial, locales, option.text),
                    }
                }
                for option in question.choices
            ]
        items.append({k: v for k, v in item.items() if v != {}})
    resource = {
        "resourceType": "Questionnaire",
        "url": _url(trial),
        "name": trial.registry_id,
        "title": en(trial.title),
        "status": "active",
        "language": "en",
        "item": items,
    }
    content = json.dumps(resource, ensure_ascii=False, sort_keys=True).encode()
    version = hashlib.sha256(content).hexdigest()[:16]
    return {**resource, "id": f"{trial.registry_id.lower()}-{version}", "version": version}


def _url(trial: Trial) -> str:
    return f"{BASE}:questionnaire:{trial.registry_id}"


def _system(trial: Trial, question: Question) -> str:
    return f"{BASE}:{trial.registry_id}:{question.id}"


# enableWhen ------------------------------------------------------------------------------------


def _enabled(trial: Trial, condition: Condition) -> dict[str, Any]:
    """`ask_if` as enableWhen where it can say it (one test, or tests all or any of which hold),
    else as a FHIRPath expression."""
    for behaviour in ("all", "any"):
        tests = _flat(trial, condition, behaviour)
        if tests is not None:
            return {"enableWhen": tests, **({"enableBehavior": behaviour} if len(tests) > 1 else {})}
    expression = {"language": "text/fhirpath", "expression": _fhirpath(trial, condition)}
    return {"extension": [{"url": ENABLE_WHEN_EXPRESSION, "valueExpression": expression}]}


def _flat(trial: Trial, condition: Condition, behaviour: str) -> list[dict[str, Any]] | None:
    """The enableWhen items that say `condition` when `behaviour` combines them; None if they cannot."""
    if isinstance(condition, All | Any_):
        if (behaviour == "all") != isinstance(condition, All):
            return None
        parts = [_flat(trial, child, behaviour) for child in condition.children]
        if any(part is None or (behaviour == "any" and len(part) > 1) for part in parts):
            return None
        return [test for part in parts for test in part or []]
    if isinstance(condition, Not):
        child = condition.child
        if behaviour != "all" or not isinstance(child, QuestionTest) or child.one_of or child.equals is None:
            return None
        # "!=" also holds for an unanswered question, which the dialog does not ask after.
        return [
            _test(trial, child.question, "exists", True),
            _test(trial, child.question, "!=", child.equals),
        ]
    if not isinstance(condition, QuestionTest):
        return None
    if condition.one_of is not None:
        if behaviour == "all" and len(condition.one_of) > 1:
            return None
        return [_test(trial, condition.question, "=", value) for value in condition.one_of]
    if condition.min is not None or condition.max is not None:
        bounds = [(">=", condition.min), ("<=", condition.max)]
        tests = [_test(trial, condition.question, op, bound) for op, bound in bounds if bound is not None]
        return tests if behaviour == "all" or len(tests) == 1 else None
    return [_test(trial, condition.question, "=", condition.equals)]


def _test(trial: Trial, question_id: str, operator: str, value: Any) -> dict[str, Any]:
    question = trial.question(question_id)
    if operator == "exists":
        answer: dict[str, Any] = {"answerBoolean": bool(value)}
    elif question.choices:
        answer = {"answerCoding": {"system": _system(trial, question), "code": str(value)}}
    elif question.kind == "number":
        number = float(value)
        answer = {"answerInteger": int(number)} if number.is_integer() else {"answerDecimal": number}
    else:
        answer = {"answerString": str(value)}
    return {"question": question_id, "operator": operator, **answer}


def _fhirpath(trial: Trial, condition: Condition) -> str:
    if isinstance(condition, All | Any_):
        joint = " and " if isinstance(condition, All) else " or "
        return "(" + joint.join(_fhirpath(trial, c) for c in condition.children) + ")"
    if isinstance(condition, Not):
        return f"({_fhirpath(trial, condition.child)}).not()"
    assert isinstance(condition, QuestionTest)
    question = trial.question(condition.question)
    value = f"%resource.repeat(item).where(linkId='{question.id}').answer.value"
    if question.choices:
        value += ".code"

    def literal(v: Any) -> str:
        return str(v) if question.kind == "number" else "'" + str(v).replace("'", "\\'") + "'"

    if condition.one_of is not None:
        return f"({value} in ({' | '.join(literal(v) for v in condition.one_of)}))"
    if condition.min is not None or condition.max is not None:
        bounds = [f"{value} >= {condition.min}"] if condition.min is not None else []
        bounds += [f"{value} <= {condition.max}"] if condition.max is not None else []
        return "(" + " and ".join(bounds) + ")"
    return f"({value} = {literal(condition.equals)})"


# Responses ------------------------------------------------------------------------------------


def _exported(question: Question, deidentified: bool) -> bool:
    return not (deidentified and question.private)


def _answer(trial: Trial, question: Question, value: Any, locale: str) -> dict[str, Any]:
    if question.choices:
        option = question.option(str(value))
        words = translator(locale, (trial.domain,))
        return {
            "valueCoding": {
                "system": _system(trial, question),
                "code": str(value),
                **({"display": words(option.text)} if option else {}),
            }
        }
    if question.kind == "number":
        return {"valueInteger": int(value)}
    return {"valueString": str(value)}


def questionnaire_response(
    trial: Trial, view: dict[str, Any], version: str | None, deidentified: bool, salt: str
) -> dict[str, Any]:
    """One screening (as `storage.views.screening_view` gives it), answered under `version` of
    its trial's Questionnaire (None: not known, as for a screening begun before versions were
    recorded). Options are worded in the person's language, which is the response's `language`."""
    answers, locale = view["answers"], view["language"] or "en"
    items = [
        {"linkId": q.id, "answer": [_answer(trial, q, answers[q.id], locale)]}
        for q in trial.questions
        if q.id in answers and answers[q.id] is not None and _exported(q, deidentified)
    ]
    extensions: list[dict[str, Any]] = []
    if view["outcome"]:
        extensions.append({"url": OUTCOME, "valueCode": view["outcome"]})
    extensions += [{"url": TO_CHECK, "valueCode": c} for c in view["uncertain"] or []]
    if view["source"]:
        extensions.append({"url": SOURCE, "valueString": view["source"]})
    referral = view["referral"]
    if referral:
        extensions.append({"url": REFERRAL_STATUS, "valueCode": referral["status"]})
    if deidentified:
        identifier = hashlib.sha256(f"{salt}:{view['id']}".encode()).hexdigest()[:16]
    else:
        identifier = f"screening-{view['id']}"
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": identifier,
        "identifier": (
            {"system": REFERRAL, "value": referral["id"]} if referral and not deidentified else None
        ),
        "questionnaire": f"{_url(trial)}|{version}" if version else _url(trial),
        "status": "completed" if view["status"] == "finished" else "in-progress",
        "language": _tag(locale),
        "authored": view["finished_at"] or view["started_at"],
        "extension": extensions,
        "item": items,
    }
    if deidentified:
        response["authored"] = response["authored"][:7]  # the month, as the de-identified CSV
    return {k: v for k, v in response.items() if v not in (None, [], "")}


def record_questionnaire(records: Records, trial: Trial, locales: Sequence[str], now: datetime) -> str:
    """Record that `trial`'s Questionnaire is served from `now` on, unless the version served last
    is this one; return its version."""
    resource = questionnaire(trial, locales)
    served = records.questionnaire_versions(trial.registry_id)
    if not served or served[-1].version != resource["version"]:
        records.add_questionnaire_version(trial.registry_id, resource["version"], resource, now)
    return str(resource["version"])


def _screenings_of(
    records: Records, trial_id: str, batch: int = 500
) -> Iterator[tuple[Screening, dict[str, Any]]]:
    """A trial's screenings by id, each with its view, read a batch at a time (a few queries a
    batch, not two a screening)."""
    after = 0
    while screenings := records.screenings_after(after, batch, [trial_id]):
        yield from zip(screenings, screening_views(records, screenings), strict=True)
        after = screenings[-1].id or 0


def fhir_bundle(
    records: Records, trials: Sequence[Trial], locales: Sequence[str], deidentified: bool = False
) -> bytes:
    """Each trial's Questionnaire (the version served now, and each older one its responses
    answered) and every stored screening of it, as a validated FHIR collection Bundle in JSON.
    De-identified ids are salted afresh each time, so two exports cannot be joined on them."""
    salt = secrets.token_hex(16)
    entries = []
    for trial in trials:
        current = questionnaire(trial, locales)
        served = records.questionnaire_versions(trial.registry_id)
        referenced: dict[str, dict[str, Any]] = {}
        responses = []
        for screening, view in _screenings_of(records, trial.registry_id):
            if not view["answers"]:
                continue
            version = next((v for v in reversed(served) if v.served_from <= screening.started_at), None)
            if version is not None:
                referenced.setdefault(version.version, version.resource)
            response = questionnaire_response(
                trial, view, version.version if version else None, deidentified, salt
            )
            name = (
                str(uuid.uuid4())
                if deidentified
                else str(uuid.uuid5(_NAMESPACE, f"{trial.registry_id}:{view['id']}"))
            )
            responses.append({"fullUrl": f"urn:uuid:{name}", "resource": response})
        versions = {current["version"]: current, **referenced}
        for version, resource in versions.items():
            name = uuid.uuid5(_NAMESPACE, f"{_url(trial)}|{version}")
            entries.append({"fullUrl": f"urn:uuid:{name}", "resource": resource})
        entries += responses
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utcnow().isoformat(timespec="seconds"),
        "entry": entries,
    }
    Bundle.model_validate(bundle)  # raises if anything above is not valid FHIR
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode()
