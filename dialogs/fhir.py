"""FHIR R4 exports: the trial as a Questionnaire, each screening as a QuestionnaireResponse.

The Questionnaire is generated from the trial file, in English with every other shipped
language as translation extensions. A QuestionnaireResponse carries the answers by the
question's id (its linkId), the outcome and the criteria to check as extensions. Both are
validated with fhir.resources before they leave (its R4B models: the Questionnaire and
QuestionnaireResponse of R4 and R4B are the same; fhir.resources has no R4 for pydantic 2).

`deidentified` leaves out what identifies a person or was typed freely, and gives each
response an id that does not lead back to the screening.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from dialogs.i18n import translator
from dialogs.trial import Question, Trial
from storage.repository import Records
from storage.views import screening_view

BASE = "urn:trial-intake"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
OUTCOME = f"{BASE}:outcome"
TO_CHECK = f"{BASE}:criterion-to-check"
SOURCE = f"{BASE}:campaign-source"
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


def _translated(trial: Trial, locales: list[str], words: str) -> dict[str, Any]:
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


def questionnaire(trial: Trial, locales: list[str]) -> dict[str, Any]:
    en = translator("en", (trial.domain,))
    items = []
    for question in trial.questions:
        words = question.texts[0]
        item: dict[str, Any] = {
            "linkId": question.id,
            "text": en(words),
            "_text": _translated(trial, locales, words),
            "type": _TYPES[question.kind],
            "required": True,
        }
        if question.choices:
            item["answerOption"] = [
                {
                    "valueCoding": {
                        "system": f"{BASE}:{trial.registry_id}:{question.id}",
                        "code": option.value,
                        "display": en(option.text),
                        "_display": _translated(trial, locales, option.text),
                    }
                }
                for option in question.choices
            ]
        items.append({k: v for k, v in item.items() if v != {}})
    return {
        "resourceType": "Questionnaire",
        "id": trial.registry_id.lower(),
        "url": _url(trial),
        "name": trial.registry_id,
        "title": en(trial.title),
        "status": "active",
        "language": "en",
        "item": items,
    }


def _url(trial: Trial) -> str:
    return f"{BASE}:questionnaire:{trial.registry_id}"


def _exported(question: Question, deidentified: bool) -> bool:
    if question.scope == "storage":
        return False  # consent to store: every exported screening has it
    return not (deidentified and question.private)


def _answer(trial: Trial, question: Question, value: Any) -> dict[str, Any]:
    if question.choices:
        option = question.option(str(value))
        en = translator("en", (trial.domain,))
        return {
            "valueCoding": {
                "system": f"{BASE}:{trial.registry_id}:{question.id}",
                "code": str(value),
                **({"display": en(option.text)} if option else {}),
            }
        }
    if question.kind == "number":
        return {"valueInteger": int(value)}
    return {"valueString": str(value)}


def questionnaire_response(
    trial: Trial, view: dict[str, Any], deidentified: bool, salt: str
) -> dict[str, Any]:
    """One screening (as `storage.views.screening_view` gives it)."""
    answers = view["answers"]
    items = [
        {"linkId": q.id, "answer": [_answer(trial, q, answers[q.id])]}
        for q in trial.questions
        if q.id in answers and answers[q.id] is not None and _exported(q, deidentified)
    ]
    extensions: list[dict[str, Any]] = []
    if view["outcome"]:
        extensions.append({"url": OUTCOME, "valueCode": view["outcome"]})
    extensions += [{"url": TO_CHECK, "valueCode": c} for c in view["uncertain"] or []]
    if view["source"]:
        extensions.append({"url": SOURCE, "valueString": view["source"]})
    identifier = (
        hashlib.sha256(f"{salt}:{view['id']}".encode()).hexdigest()[:16]
        if deidentified
        else f"screening-{view['id']}"
    )
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": identifier,
        "questionnaire": _url(trial),
        "status": "completed" if view["status"] == "finished" else "in-progress",
        "language": _tag(view["language"]) if view["language"] else None,
        "authored": view["finished_at"] or view["started_at"],
        "extension": extensions,
        "item": items,
    }
    if deidentified:
        response["authored"] = response["authored"][:7]  # the month, as the de-identified CSV
    return {k: v for k, v in response.items() if v not in (None, [], "")}


def fhir_bundle(records: Records, trial: Trial, locales: list[str], deidentified: bool = False) -> bytes:
    """The Questionnaire and every stored screening of `trial` that consented to storage, as a
    validated FHIR collection Bundle in JSON. De-identified ids are salted afresh each time, so
    two exports cannot be joined on them."""
    salt = secrets.token_hex(16)
    entries = [{"resource": questionnaire(trial, locales)}]
    for screening in records.screenings(trial.registry_id):
        view = screening_view(records, screening)
        if view["answers"]:
            entries.append({"resource": questionnaire_response(trial, view, deidentified, salt)})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    Bundle.model_validate(bundle)  # raises if anything above is not valid FHIR
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode()
