"""Consent: before anything about health is stored, per scope and per version of its text."""

from __future__ import annotations

from sqlmodel import select

from dialogs import messages as m
from dialogs.engine import Choice, Engine, Text
from storage.models import Answer, Consent, Participant
from tests.conftest import LIKELY_B1, Person


def _rows(engine: Engine, table: type) -> list:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


def test_no_health_answer_is_taken_before_consent(engine: Engine) -> None:
    person = Person(engine)
    person.start()
    assert person.prompt == "consent_storage"
    person.send(Choice("yes", "diabetes"))  # a forged tap on a health question
    assert person.texts[0] == m.MOVED_ON and person.prompt == "consent_storage"
    person.send(Text("42"))
    assert person.texts[0] == m.CONSENT_UNCLEAR and person.prompt == "consent_storage"
    assert _rows(engine, Answer) == [] and _rows(engine, Consent) == []


def test_each_consent_is_kept_with_its_scope_version_language_and_text(engine: Engine) -> None:
    person = Person(engine, locale="zh_Hans")
    person.start()
    person.answer_all({**LIKELY_B1, "consent_storage": "同意", "consent_contact": "可以"})
    consents = {c.scope: c for c in _rows(engine, Consent)}
    assert set(consents) == {"storage", "contact"}
    for consent in consents.values():
        assert consent.granted and consent.version == engine.trial.consent_version
        assert consent.locale == "zh_Hans" and len(consent.text_hash) == 64


def test_a_new_consent_version_asks_again_before_continuing(engine: Engine) -> None:
    person = Person(engine, "returning")
    person.start()
    person.answer_some({q: LIKELY_B1[q] for q in ("consent_storage", "consent_contact", "respondent", "age")})
    person.command("stop")

    updated = Engine(engine.trial.model_copy(update={"consent_version": "2027-01-01"}), engine.store)
    person.engine = updated
    person.say("I'm back")
    assert person.texts[0] == m.CONSENT_CHANGED
    assert person.prompt == "_consent"
    person.send(Choice("yes", "diagnosis"))  # the old question's button: not yet
    assert person.prompt == "_consent"
    person.tap("yes")
    assert person.texts[0] == m.WELCOME_BACK and person.prompt == "diagnosis"
    versions = [(c.version, c.granted) for c in _rows(updated, Consent) if c.scope == "storage"]
    assert versions == [(engine.trial.consent_version, True), ("2027-01-01", True)]
    person.say("yes")
    assert person.prompt == "had_surgery", "and then it goes on as before"


def test_refusing_the_new_consent_version_erases(engine: Engine) -> None:
    person = Person(engine, "refuses")
    person.start()
    person.answer_some({q: LIKELY_B1[q] for q in ("consent_storage", "consent_contact", "respondent")})
    person.engine = Engine(engine.trial.model_copy(update={"consent_version": "2027-01-01"}), engine.store)
    person.say("hello")
    person.say("no")
    assert person.texts == [m.DECLINED]
    assert _rows(engine, Participant) == [] and _rows(engine, Answer) == []


def test_withdrawing_consent_is_one_command(engine: Engine) -> None:
    person = Person(engine, "withdraws")
    person.start()
    person.answer_all(LIKELY_B1)
    person.command("delete")
    person.tap("yes")
    assert person.texts == [m.DELETED]
    assert _rows(engine, Consent) == [] and _rows(engine, Participant) == []
