"""Answers the study can trust, through the engine: each answer belongs to the prompt the person
saw, and nothing the bot had to interpret is stored before the person confirms it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from dialogs import messages as m
from dialogs.engine import Choice, Engine, Text
from storage.models import Answer, Consent, OutgoingReply, Screening
from tests.conftest import LIKELY_B1, Person

ORDER = list(LIKELY_B1)
UP_TO_DIABETES = {k: LIKELY_B1[k] for k in ORDER[: ORDER.index("diabetes")]}


def _answers(person: Person) -> dict[str, object]:
    return person.stored()["answers"]


def _rows(engine: Engine, table: type) -> list[object]:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


def _at_diabetes(person: Person) -> None:
    person.start()
    person.answer_some(UP_TO_DIABETES)
    assert person.prompt == "diabetes"


# --- an answer belongs to the question the person saw ------------------------------------------------


def test_an_answer_typed_again_after_a_lost_question_does_not_land_on_it(person: Person) -> None:
    _at_diabetes(person)
    person.send(Text("no"), delivered=False)  # stored; the next question never reaches the person
    assert _answers(person)["diabetes"] == "no"
    assert person.prompt == "heart_disease"
    outbox = person.engine.outbox(person.address)
    assert [r.asks for r in outbox] == ["heart_disease"], "the lost question waits in the outbox"

    person.say("no")  # the person, seeing nothing, types their answer again

    assert "heart_disease" not in _answers(person), "never stored against a question not delivered"
    assert person.texts == [
        m.UNDELIVERED,
        person.engine.translator("en")("Has a doctor told you that you have heart disease?"),
    ]
    assert person.engine.outbox(person.address) == [], "the lost copy is replaced, not sent twice"
    person.say("no")
    assert _answers(person)["heart_disease"] == "no", "once delivered, the answer is taken"


def test_an_answer_sent_before_its_question_arrived_does_not_land_on_it(person: Person) -> None:
    person.start()
    person.answer_some({k: v for k, v in UP_TO_DIABETES.items() if k != "symptoms_course"})
    person.send(Text("about the same", position=40), delivered=False)
    # The bot was down; the person typed it again (message 41) before the next question came back
    # as message 42. Handled only now, message 41 must not answer it.
    person.engine.sent(person.address, person.engine.outbox(person.address), position=42)
    person.send(Text("about the same", position=41))
    assert person.texts[0] == m.CROSSED and person.prompt == "diabetes"
    assert "diabetes" not in _answers(person)
    person.send(Text("no", position=44))
    assert _answers(person)["diabetes"] == "no"


def test_what_was_typed_before_a_question_came_again_is_refused_like_the_first(person: Person) -> None:
    """A run typed ahead: once one message of it is refused, the question goes out again, and
    the rest of the run, typed before that copy arrived, was not typed in answer to it either."""
    _at_diabetes(person)
    person.send(Text("no", position=40), delivered=False)  # answers diabetes; heart disease comes next
    person.engine.sent(person.address, person.engine.outbox(person.address), position=42)
    person.send(Text("no", position=41), delivered=False)  # meant for heart disease, typed before it arrived
    assert person.texts[0] == m.CROSSED and person.prompt == "heart_disease"
    person.engine.sent(person.address, person.engine.outbox(person.address), position=45)  # asked again
    person.send(Text("yes", position=43), delivered=False)  # meant for the question after: still refused
    assert person.texts[0] == m.CROSSED and "heart_disease" not in _answers(person)
    person.engine.sent(person.address, person.engine.outbox(person.address), position=47)
    person.send(Text("no", position=48))  # typed once the question, asked again, had arrived
    assert _answers(person)["heart_disease"] == "no"


def test_a_tapped_button_proves_its_question_arrived(person: Person) -> None:
    _at_diabetes(person)
    person.send(Text("no"), delivered=False)
    lost = person.engine.outbox(person.address)[-1]
    person.send(Choice("no", lost.prompt or ""))  # the question did arrive; the channel just did not know
    assert _answers(person)["heart_disease"] == "no"


def test_old_buttons_after_restart_change_nothing(person: Person) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent", "age")})
    diagnosis = person.asking
    assert diagnosis is not None and diagnosis.asks == "diagnosis"
    person.command("restart")
    person.tap("yes")
    person.answer_some({k: LIKELY_B1[k] for k in ("respondent", "age")})
    assert person.prompt == "diagnosis", "the same question is current again"
    person.send(Choice("no", diagnosis.prompt or ""))  # the button from before the restart
    assert person.texts[0] == m.MOVED_ON
    assert "diagnosis" not in _answers(person)


def test_an_old_summarys_confirm_does_not_confirm_a_changed_screening(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1, confirm=False)
    old_summary = person.asking
    assert old_summary is not None and old_summary.asks == "summary" and "42" in old_summary.text
    person.tap("change")
    person.tap("age")
    person.say("59")
    assert person.prompt == "summary" and "59" in person.texts[-1]
    person.send(Choice("confirm", old_summary.prompt or ""))
    assert person.texts[0] == m.MOVED_ON
    assert person.stored()["status"] == "active", "a summary that showed 42 cannot confirm 59"
    person.tap("confirm")
    assert person.stored()["status"] == "finished"


def test_a_summarys_confirm_from_an_earlier_screening_does_not_finish_the_next(person: Person) -> None:
    person.start()
    person.answer_all(LIKELY_B1, confirm=False)
    first_summary = person.asking
    assert first_summary is not None
    person.tap("confirm")
    person.command("restart")
    person.tap("yes")
    person.answer_all({**LIKELY_B1, "age": "59"}, confirm=False)
    assert person.prompt == "summary"
    person.send(Choice("confirm", first_summary.prompt or ""))
    assert person.texts[0] == m.MOVED_ON and person.stored()["status"] == "active"


def test_asking_the_same_question_again_keeps_its_buttons_good(person: Person) -> None:
    _at_diabetes(person)
    first = person.asking
    assert first is not None and first.prompt
    person.say("banana")
    person.command("help")
    person.command("stop")
    person.start()
    assert person.asking is not None and person.asking.prompt == first.prompt
    person.send(Choice("no", first.prompt))
    assert _answers(person)["diabetes"] == "no"


def test_a_repeated_input_says_nothing_new_but_what_was_never_sent_still_waits(person: Person) -> None:
    person.start()
    assert person.send(Text("yes"), dedupe_key="u:1", delivered=False)
    assert person.send(Text("yes"), dedupe_key="u:1", delivered=False) == []
    assert [r.asks for r in person.engine.outbox(person.address)] == ["consent_contact"]
    assert len(_rows(person.engine, Consent)) == 1


# --- nothing the bot had to interpret is stored before the person confirms ---------------------------


@pytest.mark.parametrize(
    ("said", "meant", "shown"),
    [
        ("she does not", "no", "No"),
        ("he does not have diabetes", "no", "No"),
        ("I have never had it", "no", "No"),
        ("nunca la ha tenido", "no", "No"),
        ("I'm not really sure", "dont_know", "I don't know"),
        ("yes, I have diabetes", "yes", "Yes"),
    ],
)
def test_an_interpreted_answer_is_read_back_and_stored_only_when_confirmed(
    person: Person, said: str, meant: str, shown: str
) -> None:
    _at_diabetes(person)
    person.say(said)
    assert person.prompt == "_confirm"
    assert person.texts == [m.READ_BACK.format(said=said, question="Diabetes", answer=shown)]
    assert [o.label for o in person.replies[0].options] == [m.READ_BACK_YES, m.READ_BACK_NO]
    assert "diabetes" not in _answers(person)
    person.say("yes")
    assert _answers(person)["diabetes"] == meant
    with person.engine.store.transaction() as records:
        answer = records.session.exec(select(Answer).where(Answer.question_id == "diabetes")).one()
        assert answer.read_back and answer.via == "text"


def test_choosing_again_after_a_read_back_stores_nothing(person: Person) -> None:
    _at_diabetes(person)
    person.say("she does not")
    person.tap("no")
    assert person.texts[0] == m.ANSWER_AGAIN and person.prompt == "diabetes"
    assert "diabetes" not in _answers(person)
    with person.engine.store.transaction() as records:
        assert all(s.pending_answer is None for s in records.session.exec(select(Screening)))


@pytest.mark.parametrize(
    "said", ["I think so", "not that I know of", "应该没有吧", "好像有", "maybe", "probably"]
)
def test_a_hedge_offers_the_options_and_stores_nothing(person: Person, said: str) -> None:
    _at_diabetes(person)
    person.say(said)
    assert person.texts[0] == m.HEDGED and person.prompt == "diabetes"
    assert person.asking is not None
    assert [o.value for o in person.asking.options] == ["yes", "no", "dont_know"]
    assert "diabetes" not in _answers(person)


def test_a_read_back_survives_a_restart_and_a_command_clears_it(engine: Engine, person: Person) -> None:
    _at_diabetes(person)
    person.say("she does not")
    again = Person(Engine(engine.trial, engine.store), person.address.external_id)
    again.start()
    assert again.prompt == "_confirm" and "she does not" in again.texts[-1], "the read-back is kept"
    again.command("back")
    with engine.store.transaction() as records:
        assert all(s.pending_answer is None for s in records.session.exec(select(Screening)))
    assert "diabetes" not in _answers(again)


def test_a_spoken_answer_is_always_read_back(person: Person) -> None:
    _at_diabetes(person)
    person.send(Text("no", via="voice"))
    assert person.texts == [m.HEARD_BACK.format(said="no", question="Diabetes", answer="No")]
    person.tap("yes")
    with person.engine.store.transaction() as records:
        answer = records.session.exec(select(Answer).where(Answer.question_id == "diabetes")).one()
        assert (answer.value, answer.via, answer.read_back) == ("no", "voice", True)


def test_erasure_and_purge_clear_the_read_back_and_the_outbox(person: Person) -> None:
    _at_diabetes(person)
    person.send(Text("she does not"), delivered=False)
    assert _rows(person.engine, OutgoingReply)
    with person.engine.store.transaction() as records:
        later = datetime.now(UTC) + timedelta(days=1)
        records.purge(finished_before=later, idle_before=later)
    with person.engine.store.transaction() as records:
        (screening,) = records.session.exec(select(Screening))
        assert screening.pending_answer is None and screening.purged_at is not None
    assert _rows(person.engine, OutgoingReply) == [], "an unsent read-back quotes what was typed"

    other = Person(person.engine, "p2")
    _at_diabetes(other)
    other.send(Text("she does not"), delivered=False)
    other.command("delete")
    other.send(Choice("yes", other.asking.prompt if other.asking else ""), delivered=False)
    assert [r.text for r in other.engine.outbox(other.address)] == [m.DELETED], "only the last words wait"
    assert [s.id for s in _rows(person.engine, Screening)] == [screening.id], "the other person is gone"


# --- consent only from clear agreement ----------------------------------------------------------------

UNCLEAR_CONSENT = [
    "not sure",
    "maybe",
    "what do you do with my data?",
    "不确定",
    "你们会把数据给谁？",
    "I don't know",
    "不知道",
    "no estoy seguro",
    "не уверен",
    "لست متأكدا",
    "ok I guess",
]


@pytest.mark.parametrize("said", UNCLEAR_CONSENT)
def test_consent_is_never_taken_from_a_hedge_or_a_question(engine: Engine, said: str) -> None:
    person = Person(engine, f"c-{said}")
    person.start()
    person.say(said)
    assert person.texts[0] == m.CONSENT_UNCLEAR and person.prompt == "consent_storage"
    assert _rows(engine, Consent) == [], "neither agreement nor refusal"
    assert person.stored()["answers"] == {}, "and the person is not erased either"
    person.say("I agree")
    assert [c.granted for c in _rows(engine, Consent)] == [True]


# --- numbers, the symptoms question, the summary -----------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "forty two thousand",
        "twenty-twenty",
        "forty-two and a half",
        "42.5",
        "42 or 43",
        "about forty",
        "四十多岁",
    ],
)
def test_an_unclear_number_is_never_stored(person: Person, said: str) -> None:
    person.start()
    person.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent")})
    person.say(said)
    assert person.prompt == "age" and "age" not in _answers(person)


@pytest.mark.parametrize(
    "said", ["about the same", "no, still the same", "没什么变化", "没有改善，还是老样子"]
)
def test_symptoms_that_did_not_improve_keep_the_person_eligible(engine: Engine, said: str) -> None:
    person = Person(engine, f"s-{said}")
    person.start()
    person.answer_all({**LIKELY_B1, "symptoms_course": said})
    assert person.stored()["answers"]["symptoms_course"] == "same"
    assert person.stored()["outcome"] == "likely_eligible"


def test_surgery_unknown_still_asks_about_symptoms(person: Person) -> None:
    person.start()
    persona = {**LIKELY_B1, "had_surgery": "I don't know", "symptoms_course": "worse"}
    del persona["surgery_year_ago"], persona["mri_shrunk"]
    asked = person.answer_all(persona)
    assert asked[asked.index("had_surgery") + 1] == "symptoms_course"
    assert person.stored()["answers"]["symptoms_course"] == "worse"
    assert person.stored()["outcome"] == "needs_review"


@pytest.mark.parametrize(
    ("locale", "said"),
    [
        ("en", "yes"),
        ("en", "correct"),
        ("en", "that's right"),
        ("zh-CN", "没问题"),
        ("zh-CN", "信息无误"),
        ("zh-CN", "提交"),
        ("ru", "да"),
        ("es", "sí"),
        ("ar", "نعم"),
    ],
)
def test_the_summary_takes_natural_confirmations(engine: Engine, locale: str, said: str) -> None:
    person = Person(engine, f"sum-{locale}-{said}", locale=locale)
    person.start()
    person.answer_all({**LIKELY_B1, "respondent": "1"}, confirm=False)
    assert person.prompt == "summary"
    person.say(said)
    assert person.stored()["status"] == "finished"


def test_the_chinese_summary_uses_full_width_colons(engine: Engine) -> None:
    person = Person(engine, "zh-summary", locale="zh-CN")
    person.start()
    person.answer_all({**LIKELY_B1, "respondent": "1"}, confirm=False)
    lines = person.texts[-1].split("\n")[1:]
    assert lines and all("：" in line and ": " not in line for line in lines), lines
