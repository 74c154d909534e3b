"""Conversations through the dialog engine on a real SQLite database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.coordination.cards import referral_card
from dialogs import messages as m
from dialogs.engine import Engine, Text
from dialogs.machine import CORRECTING, NOT_ELIGIBLE, SUMMARY
from storage.models import Answer, AuditEvent, Consent, Participant, Referral, Screening, utcnow
from storage.views import screening_view
from tests.conftest import LIKELY_B1, LIKELY_B1_ZH, TAPS_B1, Person


def _count(person: Person, table: type) -> int:
    with person.engine.store.transaction() as records:
        return len(list(records.session.exec(select(table))))


def test_likely_eligible_by_typing_creates_a_referral(person: Person) -> None:
    person.start(source="poster_beijing")
    assert person.texts[0].startswith("Hello! This is a short pre-screening")
    assert person.prompt == "consent_storage"

    asked = person.answer_all(LIKELY_B1)

    assert "mri_resolved" not in asked and "can_communicate" not in asked
    assert person.texts[0] == m.MAY_BE_CANDIDATE
    stored = person.stored()
    assert stored["outcome"] == "likely_eligible"
    assert stored["status"] == "finished"
    assert stored["source"] == "poster_beijing"
    assert stored["reasons"] == [] and stored["uncertain"] == []
    assert stored["answers"]["age"] == 42
    assert stored["answers"]["contact_phone"] == "+8613812345678"
    assert stored["referral"]["status"] == "pending"
    assert stored["referral"]["id"] in person.texts[1]


def test_likely_eligible_by_taps(person: Person) -> None:
    person.start()
    person.answer_all(TAPS_B1, by="tap")
    with person.engine.store.transaction() as records:
        vias = {a.question_id: a.via for a in records.session.exec(select(Answer))}
    assert vias["diabetes"] == "button" and vias["age"] == "text"
    assert person.stored()["outcome"] == "likely_eligible"


def test_needs_review_lists_uncertain_criteria(person: Person) -> None:
    person.start()
    person.answer_all({**LIKELY_B1, "serology": "not sure", "biologic_allergy": "I don't know"})
    stored = person.stored()
    assert stored["outcome"] == "needs_review"
    assert stored["uncertain"] == ["E6", "E10"]
    assert stored["referral"] is not None
    assert person.texts[0] == m.NEEDS_REVIEW


def test_no_contact_consent_means_no_referral_but_the_study_contact(person: Person) -> None:
    person.start()
    asked = person.answer_all({**LIKELY_B1, "consent_contact": "no"})
    assert "contact_name" not in asked and "contact_phone" not in asked
    stored = person.stored()
    assert stored["outcome"] == "likely_eligible" and stored["referral"] is None
    assert "Study coordinator, Xuanwu Hospital" in person.texts[-1]
    assert "45 Changchun Street" in person.texts[-1], "told where to reach the study"


def test_not_eligible_stops_at_the_deciding_answer(person: Person) -> None:
    person.start()
    asked = person.answer_all({**LIKELY_B1, "diabetes": "yes"})
    assert asked[-1] == "diabetes", "no question may follow a deciding answer"
    assert person.prompt == NOT_ELIGIBLE
    explanation = person.replies[0].text
    assert "diabetes, heart disease, or impaired liver or kidney function" in explanation
    assert "eligible" not in explanation.lower().replace("not a match", "")
    assert person.stored()["outcome"] == "not_eligible"
    assert person.stored()["reasons"] == ["E1"]

    person.say("yes please")
    assert person.texts == [m.OTHER_STUDIES_THANKS]
    stored = person.stored()
    assert stored["status"] == "finished" and stored["referral"] is None
    with person.engine.store.transaction() as records:
        consents = {c.scope: c.granted for c in records.session.exec(select(Consent))}
    assert consents == {"storage": True, "contact": True, "future_studies": True}


# A relative or carer answering for the person: what the bot says of the person is not said of them.
RELATIVE = {**LIKELY_B1, "respondent": "2", "can_communicate": "yes"}


def test_a_relative_hears_that_the_person_they_answer_for_may_be_a_candidate(person: Person) -> None:
    person.start()
    person.answer_all(RELATIVE)
    assert person.texts[0] == m.MAY_BE_CANDIDATE_FOR_A_RELATIVE
    assert "person you are answering for" in person.texts[0] and "you may be" not in person.texts[0]


def test_a_relative_is_told_unsure_answers_will_be_checked_about_the_person(person: Person) -> None:
    person.start()
    person.answer_all({**RELATIVE, "serology": "not sure"})
    assert person.stored()["outcome"] == "needs_review"
    assert person.texts[0] == m.NEEDS_REVIEW_FOR_A_RELATIVE


def test_a_relative_is_asked_about_other_studies_for_the_person_and_that_is_what_is_recorded(
    person: Person,
) -> None:
    person.start()
    person.answer_all({**RELATIVE, "diabetes": "yes"})
    assert person.prompt == NOT_ELIGIBLE and person.asking is not None
    assert person.asking.text == m.OTHER_STUDIES_FOR_A_RELATIVE
    person.tap("yes")
    assert person.texts == [m.OTHER_STUDIES_THANKS_FOR_A_RELATIVE]
    with person.engine.store.transaction() as records:
        [consent] = [c for c in records.session.exec(select(Consent)) if c.scope == "future_studies"]
    agreed_to = hashlib.sha256(m.OTHER_STUDIES_FOR_A_RELATIVE.encode()).hexdigest()
    assert consent.text_hash == agreed_to, "the words the relative agreed to"


def test_at_news_of_other_studies_i_dont_know_is_not_offered(person: Person) -> None:
    """Its answers are yes and no: the bot once said "answer yes, no or I don't know", then refused it."""
    person.start()
    person.answer_all({**LIKELY_B1, "diabetes": "yes"})
    person.say("I don't know")
    assert person.prompt == NOT_ELIGIBLE, "asked again"
    assert person.texts[0] == m.NOT_UNDERSTOOD_CHOICE
    assert person.asking is not None and [o.value for o in person.asking.options] == ["yes", "no"]


@pytest.mark.parametrize(
    ("age", "outcome"),
    [("17", "not_eligible"), ("18", "likely_eligible"), ("60", "likely_eligible"), ("61", "not_eligible")],
)
def test_age_boundaries_through_the_dialog(person: Person, age: str, outcome: str) -> None:
    person.start()
    person.answer_all({**LIKELY_B1, "age": age})
    assert person.stored()["outcome"] == outcome


def test_b2_branch_asks_about_spontaneous_resolution(person: Person) -> None:
    person.start()
    persona = {**LIKELY_B1, "had_surgery": "no", "mri_resolved": "yes"}
    del persona["surgery_year_ago"], persona["mri_shrunk"]
    asked = person.answer_all(persona)
    assert asked.index("mri_resolved") == asked.index("had_surgery") + 1
    assert person.stored()["outcome"] == "likely_eligible"


def test_relative_answering_is_asked_about_the_person_and_e8(person: Person) -> None:
    person.start()
    person.answer_some({"consent_storage": "yes", "consent_contact": "yes"})
    person.say("for my mother")
    assert person.prompt == "_confirm", "interpreted, so read back first"
    assert person.texts[0] == m.READ_BACK.format(
        said="for my mother", question="Who is answering", answer="For someone else (as a relative or carer)"
    )
    assert "respondent" not in person.stored()["answers"]
    person.tap("yes")
    assert person.prompt == "age"
    assert person.asking is not None and person.asking.text.startswith("How old is the person")
    asked = person.answer_all({**LIKELY_B1, "respondent": "2", "can_communicate": "no"})
    assert asked[-1] == "can_communicate"
    assert person.stored()["reasons"] == ["E8"]


def test_an_answer_typed_at_a_read_back_neither_confirms_it_nor_is_lost(person: Person) -> None:
    """ "she is 57" at "Who is answering: someone else, is that right?" answers the next question, not
    this one: the read-back waits for its own answer, then 57 is read back at the age question."""
    person.start()
    person.answer_some({"consent_storage": "yes", "consent_contact": "yes"})
    person.say("for my mother")
    person.say("she is 57")
    assert person.prompt == "_confirm" and person.texts[0] == m.READ_BACK_FIRST
    assert "respondent" not in person.stored()["answers"], "no confirmation"
    person.tap("yes")
    assert person.stored()["answers"]["respondent"] == "proxy"
    assert person.texts[0].startswith("How old is the person"), "the question, seen first"
    assert person.prompt == "_confirm"
    assert person.texts[-1] == m.READ_BACK.format(said="she is 57", question="Age", answer="57")
    assert "age" not in person.stored()["answers"]
    person.tap("yes")
    assert person.stored()["answers"]["age"] == 57 and person.prompt == "diagnosis"


def test_diagnosis_no_is_decided_at_once(person: Person) -> None:
    person.start()
    asked = person.answer_all({**LIKELY_B1, "diagnosis": "no"})
    assert asked[-1] == "diagnosis"
    assert person.stored()["reasons"] == ["B1", "B2"]


def test_back_goes_to_the_previous_question_and_keeps_history(person: Person) -> None:
    person.start()
    person.answer_some(
        {k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent", "age", "diagnosis")}
    )
    assert person.prompt == "had_surgery"
    person.command("back")
    assert person.prompt == "diagnosis"
    person.command("back")
    assert person.prompt == "age"
    person.say("43")
    assert person.prompt == "diagnosis", "going forward again asks the next question in order"
    assert person.stored()["answers"]["age"] == 43
    with person.engine.store.transaction() as records:
        history = [
            (a.value, a.superseded_at is not None)
            for a in records.session.exec(select(Answer).where(Answer.question_id == "age"))
        ]
    assert history == [(42, True), (43, False)]


def test_back_at_the_first_question_says_so(person: Person) -> None:
    person.start()
    person.say("yes")
    person.command("back")
    assert person.texts[0] == m.FIRST_QUESTION, "the consent to store answers is not gone back to"
    assert person.prompt == "consent_contact"


def test_change_from_summary_recomputes_the_outcome(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1, confirm=False)
    assert person.prompt == SUMMARY
    person.tap("change")
    assert person.prompt == CORRECTING
    person.say("Age")
    assert person.prompt == "age"
    person.say("61")
    assert person.prompt == NOT_ELIGIBLE
    assert person.stored()["reasons"] == ["A"]
    person.command("back")
    assert person.prompt == "age", "back from 'not eligible' returns to the answer that decided it"
    person.say("59")
    assert person.prompt == SUMMARY, "a corrected answer returns to the summary"
    person.tap("confirm")
    stored = person.stored()
    assert stored["outcome"] == "likely_eligible" and stored["answers"]["age"] == 59


def test_changing_a_branch_asks_the_new_branch_and_retracts_the_old(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1, confirm=False)
    person.tap("change")
    person.tap("had_surgery")
    person.say("no")
    assert person.prompt == "mri_resolved", "the newly relevant question is asked"
    person.say("yes")
    assert person.prompt == SUMMARY
    answers = person.stored()["answers"]
    assert "surgery_year_ago" not in answers and "mri_shrunk" not in answers
    assert answers["mri_resolved"] == "yes"
    summary = person.asking.text if person.asking else ""
    assert "Surgery at least one year ago" not in summary
    person.tap("confirm")
    assert person.stored()["outcome"] == "likely_eligible"


# Invalid input: a clear answer, the same question again, nothing stored changes.

INVALID = [
    ("age", "two hundred", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("age", "200", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("age", "-5", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("age", "42.5", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("age", "banana", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("age", "", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("diagnosis", "banana", m.NOT_UNDERSTOOD_YES_NO),
    ("diagnosis", "", m.NOT_UNDERSTOOD_YES_NO),
    ("diagnosis", "yes " * 1000, m.TOO_LONG_FOR_CHOICE),
    ("diagnosis", "7", m.NOT_UNDERSTOOD_YES_NO),
    ("respondent", "banana", m.NOT_UNDERSTOOD_CHOICE),
    ("respondent", "3", m.NOT_UNDERSTOOD_CHOICE),
    ("contact_name", "   ", m.TEXT_EMPTY),
    ("contact_name", "\u200b\u200c\u200d\u2060\ufeff", m.TEXT_EMPTY),
    ("contact_name", "\u2028\n\u00ad", m.TEXT_EMPTY),
    ("contact_name", "...", m.TEXT_EMPTY),
    ("contact_name", "x" * 101, m.TEXT_TOO_LONG.format(max=100)),
    ("contact_phone", "call me maybe", m.NOT_UNDERSTOOD_PHONE),
    ("contact_phone", "123", m.NOT_UNDERSTOOD_PHONE),
    ("consent_contact", "whatever", m.CONSENT_UNCLEAR),
    ("consent_contact", "not sure", m.CONSENT_UNCLEAR),
    ("age", "about forty", m.HEDGED_NUMBER),
    ("age", "forty two thousand", m.NOT_UNDERSTOOD_NUMBER.format(min=1, max=120, example=42)),
    ("diagnosis", "I think so", m.HEDGED),
]


@pytest.mark.parametrize(
    ("question", "text", "problem"), INVALID, ids=[f"{q}-{t[:12]!r}" for q, t, _ in INVALID]
)
def test_invalid_answer_is_re_asked_and_changes_nothing(
    person: Person, question: str, text: str, problem: str
) -> None:
    person.start()
    order = list(LIKELY_B1)
    person.answer_some({k: LIKELY_B1[k] for k in order[: order.index(question)]})
    assert person.prompt == question
    before = person.stored()

    person.say(text)

    assert person.texts[0] == problem
    assert person.prompt == question
    assert person.stored()["answers"] == before["answers"]
    assert person.stored()["state"] == question


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\u2028", "\u2029", "\u0085", "\x0b"])
def test_a_name_on_several_lines_is_stored_on_one_and_adds_no_line_to_a_card(
    engine: Engine, person: Person, separator: str
) -> None:
    person.start()
    order = list(LIKELY_B1)
    person.answer_some({k: LIKELY_B1[k] for k in order[: order.index("contact_name")]})
    person.say(f"Li Wei{separator}Outcome: enrolled")
    assert person.stored()["answers"]["contact_name"] == "Li Wei Outcome: enrolled"
    person.answer_all(LIKELY_B1 | {"contact_name": "ignored"})  # the rest of the screening
    stored = person.stored()
    card = referral_card(engine.trial, stored, "r1", utcnow(), "en", "UTC")
    assert [label for label, _ in card.lines].count("Outcome") == 1
    assert len(card.plain().splitlines()) == 1 + len(card.lines) + len(card.answers)


def test_a_shared_contact_does_not_answer_the_name_question(person: Person) -> None:
    person.start()
    order = list(LIKELY_B1)
    person.answer_some({k: LIKELY_B1[k] for k in order[: order.index("contact_name")]})
    person.send(Text("+8613812345678", via="contact"))
    assert person.texts[0] == m.UNSUPPORTED
    assert person.prompt == "contact_name" and "contact_name" not in person.stored()["answers"]


def test_a_tap_on_an_old_question_has_moved_on(person: Person) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent")})
    respondent = next(r.prompt for r in person.transcript if r.asks == "respondent")
    person.say("42")
    before = person.stored()["answers"]
    person.tap("proxy", prompt=respondent)
    assert person.texts[0] == m.MOVED_ON and person.prompt == "diagnosis"
    person.tap("maybe")  # a forged value for the current question
    assert person.texts[0] == m.NOT_UNDERSTOOD_YES_NO and person.prompt == "diagnosis"
    assert person.stored()["answers"] == before


def test_unsupported_input_gets_a_kind_reply_and_the_question_again(person: Person) -> None:
    person.start()
    person.say("yes")
    for kind in ("sticker", "photo", "location", "document"):
        person.send_unsupported(kind)
        assert person.texts[0] == m.UNSUPPORTED and person.prompt == "consent_contact"
    assert person.stored()["answers"] == {"consent_storage": "yes"}


def test_stop_pauses_and_any_message_resumes(person: Person) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent", "age")})
    person.command("stop")
    assert person.texts == [m.PAUSED] and person.prompt is None
    assert person.stored()["status"] == "paused"
    person.say("hello again")
    assert person.texts[0] == m.WELCOME_BACK and person.prompt == "diagnosis"
    assert person.stored()["status"] == "active"
    assert person.stored()["answers"]["age"] == 42


def test_help_and_unknown_commands_re_ask(person: Person) -> None:
    person.start()
    person.command("help")
    assert person.texts[0] == m.HELP and person.prompt == "consent_storage"
    person.command("frobnicate")
    assert person.texts[:2] == [m.UNKNOWN_COMMAND, m.HELP] and person.prompt == "consent_storage"


def test_restart_asks_first_and_clears_answers_but_not_consent(person: Person) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent", "age")})
    person.command("restart")
    assert person.prompt == "_restart"
    person.say("no")
    assert person.prompt == "diagnosis" and person.stored()["answers"]["age"] == 42
    person.command("restart")
    person.say("yes")
    assert person.prompt == "respondent", "the consents stand; the questions start again"
    assert person.stored()["answers"] == {"consent_storage": "yes", "consent_contact": "yes"}


def test_an_erased_persons_screening_id_is_never_given_to_anyone_else(engine: Engine) -> None:
    first = Person(engine, "first")
    first.start()
    first.say("yes")
    erased = first.stored()["id"]
    first.command("delete")
    first.tap("yes")
    second = Person(engine, "second")
    second.start()
    second.say("yes")
    assert second.stored()["id"] > erased, "the audit trail names one person per screening id"


def test_a_command_at_the_first_language_menu_keeps_the_menu(engine: Engine) -> None:
    person = Person(engine, "menu", locale=None)
    person.start()
    person.command("help")
    assert person.texts[0] == m.HELP and person.prompt == "_language"
    person.say("español")
    assert person.stored()["language"] == "es"


def test_declining_consent_keeps_nothing(person: Person) -> None:
    person.start()
    person.tap("no")
    assert person.texts == [m.DECLINED]
    for table in (Participant, Screening, Answer, Consent):
        assert _count(person, table) == 0, table.__name__
    person.say("hi")
    assert person.prompt == "consent_storage", "a new conversation starts from consent"


def test_delete_after_confirmation_erases_and_cancels_the_referral(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1)
    assert _count(person, Referral) == 1
    person.command("delete")
    assert person.prompt == "_delete"
    person.say("no")
    assert person.texts[0] == m.NOT_DELETED and _count(person, Answer) > 0
    person.command("delete")
    person.tap("yes")
    assert person.texts == [m.DELETED]
    for table in (Participant, Screening, Answer, Consent):
        assert _count(person, table) == 0, table.__name__
    with person.engine.store.transaction() as records:
        referral = records.session.exec(select(Referral)).one()
        actions = [e.action for e in records.session.exec(select(AuditEvent))]
    assert referral.status == "cancelled" and referral.screening_id is None
    assert "participant_erased" in actions


def test_the_same_input_delivered_twice_has_one_effect(person: Person) -> None:
    person.start()
    person.send(Text("yes"), dedupe_key="u:1")
    assert person.prompt == "consent_contact"
    replies = person.send(Text("yes"), dedupe_key="u:1")
    assert replies == [], "no effect, and nothing new to say: what it caused was delivered"
    assert person.stored()["answers"] == {"consent_storage": "yes"}
    assert person.stored()["state"] == "consent_contact"
    screening_id = person.stored()["id"]
    with person.engine.store.transaction() as records:
        assert len(records.answer_history(screening_id)) == 1


def test_finished_screening_says_where_they_stand_and_restart_asks_first(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1)
    first = person.stored()
    reference = first["referral"]["id"]
    for again in (lambda: person.say("hello?"), person.start, lambda: person.command("back")):
        again()
        assert person.texts == [m.FINISHED_REFERRED.format(reference=reference), m.FINISHED_OPTIONS]
        assert person.stored()["id"] == first["id"], "no second screening started silently"
    person.command("restart")
    assert person.prompt == "_restart"
    person.tap("no")
    assert person.stored()["id"] == first["id"]
    person.command("restart")
    person.tap("yes")
    again = person.stored()
    assert again["id"] != first["id"]
    assert again["answers"] == {"consent_storage": "yes", "consent_contact": "yes"}, "consent is kept"
    assert person.prompt == "respondent"
    person.answer_all({**LIKELY_B1, "age": "59"})
    second = person.stored()
    assert second["referral"]["id"] != reference
    with person.engine.store.transaction() as records:
        old, new = records.referral(reference), records.referral(second["referral"]["id"])
        assert old is not None and new is not None
        assert (old.status, new.replaces) == ("replaced", reference), "one open referral per person"
        view = screening_view(records, records.screening(second["id"]) or Screening())
    card = referral_card(person.engine.trial, view, second["referral"]["id"], datetime.now(UTC), "en", "UTC")
    assert ("Replaces referral", reference) in card.lines, "the coordinator sees it replaces the first"


def test_unknown_language_shows_a_menu_in_each_language(engine: Engine) -> None:
    person = Person(engine, locale=None)
    person.start()
    menu = person.asking
    assert menu is not None and menu.asks == "_language"
    assert [o.label for o in menu.options] == [
        "中文 (简体)",
        "English",
        "中文 (繁體)",
        "русский",
        "español",
        "العربية",
    ], "the LINGUAS order, each in its own language"
    assert "Please choose your language." in menu.text
    person.say("中文")
    assert person.stored()["language"] == "zh_Hans"
    assert person.prompt == "consent_storage"


def test_campaign_source_must_be_a_link_code(engine: Engine) -> None:
    person = Person(engine, "p-bad-source")
    person.start(source="<script>")
    assert person.stored()["source"] is None
    person.command("start", "qr_poster_7")
    assert person.stored()["source"] == "qr_poster_7"


def test_two_people_do_not_share_answers(engine: Engine) -> None:
    alice, bob = Person(engine, "alice"), Person(engine, "bob")
    alice.start()
    bob.start()
    alice.say("yes")
    bob.say("no")
    assert alice.prompt == "consent_contact"
    assert alice.stored()["answers"] == {"consent_storage": "yes"}
    assert _count(alice, Participant) == 1, "bob declined and was erased"


_CJK = __import__("re").compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(
    ("changes", "outcome", "reasons", "uncertain"),
    [
        ({}, "likely_eligible", [], []),
        ({"serology": "不清楚"}, "needs_review", [], ["E10"]),
        ({"pregnancy": "是的"}, "not_eligible", ["E9"], []),
    ],
    ids=["likely", "review", "not-eligible"],
)
def test_a_whole_screening_typed_in_chinese(
    engine: Engine, changes: dict[str, str], outcome: str, reasons: list[str], uncertain: list[str]
) -> None:
    person = Person(engine, "zh-person", locale="zh-CN")
    person.start()
    person.answer_all({**LIKELY_B1_ZH, **changes})
    stored = person.stored()
    assert (stored["outcome"], stored["reasons"], stored["uncertain"]) == (outcome, reasons, uncertain)
    assert stored["language"] == "zh_Hans"
    assert stored["answers"]["age"] == 42
    for reply in person.transcript:
        assert _CJK.search(reply.text), f"untranslated: {reply.text!r}"
        for option in reply.options:
            assert _CJK.search(option.label), f"untranslated option: {option.label!r}"


def test_a_spoken_yes_to_delete_everything_is_read_back_before_anything_is_erased(person: Person) -> None:
    """Erasing cannot be undone: a transcript's "yes" is heard back first, and only a confirmation
    erases; "no" to the read-back keeps everything."""
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent")})
    person.command("delete")
    person.send(Text("yes", via="voice"))
    assert person.prompt == "_confirm" and person.texts[-1].startswith('I heard: "yes"'), person.texts
    assert _count(person, Answer) > 0, "nothing erased on a transcript"
    person.tap("no")
    assert _count(person, Answer) > 0 and person.prompt != "_delete"
    person.command("delete")
    person.send(Text("yes", via="voice"))
    person.tap("yes")
    assert person.texts == [m.DELETED] and _count(person, Participant) == 0


def test_menus_are_states_of_the_one_machine(engine: Engine, person: Person) -> None:
    """A menu is opened over where the dialog stands and closed back to it, by the machine."""
    machine = engine.machines[engine.trial.slug]
    assert {"_language", "_consent", "_confirm", "_delete", "_restart"} <= set(machine.states)
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent")})
    person.command("delete")
    stored = person.stored()
    assert (stored["state"], person.prompt) == ("age", "_delete"), "the question stays beneath the menu"
    person.say("no")
    assert person.prompt == "age" and person.stored()["state"] == "age"
    person.say("I'm forty two")  # read back: the confirmation menu over the question
    assert person.prompt == "_confirm"
    person.command("language")  # a command leaves one menu for another, never the question
    assert person.prompt == "_language" and person.stored()["state"] == "age"
    person.tap("en", person.asking.prompt if person.asking else None)
    assert person.prompt == "age" and "age" not in person.stored()["answers"], "the held answer was dropped"


def test_a_paused_screening_resumes_by_a_tap_on_its_question(person: Person) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent", "age")})
    asked = person.asking
    person.command("stop")
    assert person.stored()["status"] == "paused" and person.stored()["state"] == "diagnosis"
    assert asked is not None
    person.tap("yes", asked.prompt)  # the question's button, still on the screen
    assert person.stored()["answers"]["diagnosis"] == "yes" and person.stored()["status"] == "active"
