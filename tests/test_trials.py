"""One deployment serves both Xuanwu studies: links name their study, and someone who comes without
one answers one or two plain questions (dialogs/entry.yaml) that lead to the study that may suit them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from dialogs import messages as m
from dialogs.engine import Engine, Start
from dialogs.trial import Trials, load_trials
from storage.repository import Store
from tests.conftest import LIKELY_B1, NEVER_OPERATED, Person
from tests.test_processes import intake

FIRST, SECOND = "NCT07295067", "NCT06079125"


@pytest.fixture
def both(store: Store) -> Engine:
    return Engine(load_trials(["nct07295067", "nct06079125"]), store)


def _trial_of(person: Person) -> str:
    return person.stored()["trial"]


def test_every_trial_file_is_served_unless_some_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_TRIALS", raising=False)
    served = Settings(_env_file=None).load_trials()  # type: ignore[call-arg]
    assert [t.registry_id for t in served] == [SECOND, FIRST]  # in file name order
    named = Settings(_env_file=None, trials="nct07295067, nct06079125").load_trials()  # type: ignore[call-arg]
    assert [t.registry_id for t in named] == [FIRST, SECOND]


def test_a_link_names_its_study_and_its_source() -> None:
    trials = load_trials(["nct07295067", "nct06079125"])
    assert trials.from_link("nct06079125-poster_beijing")[0] is trials.by_slug("nct06079125")
    assert trials.from_link("nct06079125-poster_beijing")[1] == "poster_beijing"
    assert trials.from_link("NCT06079125") == (trials.by_slug("nct06079125"), None)
    assert trials.from_link("poster_beijing") == (None, "poster_beijing")
    assert trials.from_link(None) == (None, None)


@pytest.mark.parametrize(("link", "registry_id"), [("nct06079125-clinic", SECOND), ("nct07295067", FIRST)])
def test_a_deep_link_screens_for_its_study_at_once(both: Engine, link: str, registry_id: str) -> None:
    person = Person(both)
    person.command("start", link)
    assert person.prompt == "consent_storage", "no entry question: the link chose"
    assert _trial_of(person) == registry_id
    if link.endswith("clinic"):
        assert person.stored()["source"] == "clinic"


def test_the_web_and_the_terminal_name_the_study_apart_from_the_source(both: Engine) -> None:
    person = Person(both)
    person.send(Start(source="poster", trial="nct06079125"))
    assert _trial_of(person) == SECOND and person.stored()["source"] == "poster"


@pytest.mark.parametrize(
    ("answers", "registry_id"),
    [
        (["yes"], FIRST),  # operated: the syrinx after surgery
        (["no", "yes"], FIRST),  # not operated, shrank on its own: criterion B2
        (["no", "no"], SECOND),  # not operated, not shrunk: surgery to come
        (["I don't know"], SECOND),
    ],
)
def test_without_a_link_one_or_two_questions_lead_to_a_study(
    both: Engine, answers: list[str], registry_id: str
) -> None:
    person = Person(both)
    person.start()
    assert person.prompt == "_study" and person.texts[0].startswith("Hello! Xuanwu Hospital")
    assert "operation at the back" in person.texts[-1]
    for answer in answers:
        person.say(answer)
    assert person.prompt == "consent_storage"
    assert _trial_of(person) == registry_id
    intro = both.trials.by_id(registry_id).intro
    assert intro.split(".")[0] in " ".join(person.texts)
    assert person.stored()["answers"] == {}, "what led to the study is not kept"


def test_the_entry_reads_words_and_taps_in_the_persons_language(both: Engine) -> None:
    person = Person(both, locale="zh-CN")
    person.start()
    assert "后颅窝减压" in person.texts[-1]
    person.say("没有做过")  # interpreted, so read back in the entry's words before it leads on
    assert person.prompt == "_confirm" and "“否”" in person.texts[-1], person.texts
    person.tap("yes")
    assert person.prompt == "_study" and "变小" in person.texts[-1]
    person.tap("yes")
    assert _trial_of(person) == FIRST and person.prompt == "consent_storage"


def test_the_entry_leads_nowhere_on_a_guess(both: Engine) -> None:
    """Agreeing is no answer to "had an operation?", and words the bot interpreted are read back:
    a "no" there asks the same question again, and nothing has led to a study."""
    person = Person(both)
    person.start()
    person.say("ok, I agree")
    assert person.prompt == "_study" and "operation at the back" in person.texts[-1]
    assert "didn't understand" in person.texts[0]
    person.say("I had a Chiari decompression")
    assert person.prompt == "_confirm" and "“Yes”" in person.texts[-1]
    person.tap("no")
    assert person.prompt == "_study" and "operation at the back" in person.texts[-1]
    assert person.stored()["answers"] == {}
    person.say("I had a Chiari decompression")
    person.tap("yes")
    assert person.prompt == "consent_storage" and _trial_of(person) == FIRST


def test_a_tap_on_the_entry_s_first_question_never_answers_its_second(both: Engine) -> None:
    """Each of the entry's questions is a prompt of its own: the first one's "yes", tapped twice or
    arriving late, does not answer "did it shrink without an operation?"."""
    person = Person(both)
    person.start()
    first = person.asking.prompt if person.asking else None
    person.tap("no")
    assert person.prompt == "_study" and "smaller" in person.texts[-1]
    assert person.asking is not None and person.asking.prompt != first
    person.tap("yes", prompt=first)
    assert person.prompt == "_study" and "smaller" in person.texts[-1], "still the second question"
    person.tap("no")
    assert _trial_of(person) == SECOND and person.prompt == "consent_storage"


def test_the_entry_asks_again_what_it_cannot_read_and_keeps_through_commands(both: Engine) -> None:
    person = Person(both)
    person.start()
    person.say("banana")
    assert person.prompt == "_study"
    person.command("help")
    assert person.prompt == "_study", "help leaves the entry where it was"
    person.command("start", "nct06079125-flyer")
    assert _trial_of(person) == SECOND and person.prompt == "consent_storage"


def test_one_process_serves_both_studies(tmp_path: Path) -> None:
    """`intake chat` with both trials: the entry, then the chosen study, to its end."""
    answers = "\n".join(["no", "no", "yes", "yes", "1", "42"]) + "\n"
    result = intake(tmp_path, "chat", "--lang", "en", stdin=answers, env={"INTAKE_TRIALS": ""})
    assert result.returncode == 0, result.stderr
    assert "operation at the back of the head" in result.stdout
    assert "Chiari malformation" in result.stdout, "the second study's questions"
    listing = intake(tmp_path, "screenings", "--json", env={"INTAKE_TRIALS": ""})
    assert f'"trial": "{SECOND}"' in listing.stdout


def test_trials_keep_their_order_and_the_first_is_the_default() -> None:
    trials = Trials(list(load_trials(["nct06079125", "nct07295067"])))
    assert trials.first.registry_id == SECOND
    assert trials.by_id("NCT00000000") is trials.first, "a screening of a trial no longer served is answered"


def _screenings(engine: Engine) -> list[dict[str, object]]:
    from storage.views import screening_view

    with engine.store.transaction() as records:
        return [screening_view(records, s) for s in records.screenings()]


def test_excluded_for_never_having_had_surgery_the_other_study_is_offered(both: Engine) -> None:
    person = Person(both)
    person.command("start", "nct07295067")
    person.answer_some(NEVER_OPERATED)
    assert person.prompt == "not_eligible"
    person.tap("yes")  # news of other studies
    assert person.prompt == "_offer"
    offer = person.texts[-1]
    assert "different study, with its own study team" in offer and "Chiari" in offer
    person.tap("yes")
    assert person.prompt == "consent_storage", "the second study's own consent first"
    assert _trial_of(person) == SECOND
    person.say("yes")
    person.say("yes")  # may its team phone
    # Who answers, the age and the diagnosis of a syrinx are not asked again.
    assert person.prompt == "chiari"
    stored = person.stored()["answers"]
    assert stored["respondent"] == "self" and stored["age"] == 42 and stored["syrinx"] == "yes"
    first, second = _screenings(both)
    assert first["trial"] == FIRST and first["outcome"] == "not_eligible"
    assert second["trial"] == SECOND


def test_excluded_for_earlier_surgery_the_first_study_is_offered(both: Engine) -> None:
    person = Person(both)
    person.command("start", "nct06079125")
    answers = {
        "consent_storage": "yes",
        "consent_contact": "yes",
        "respondent": "1",
        "age": "42",
        "chiari": "yes",
        "syrinx": "yes",
        "prior_surgery": "yes",
    }
    person.answer_some(answers)
    assert person.prompt == "not_eligible"
    person.tap("yes")
    assert person.prompt == "_offer" and "Extracellular" in person.texts[-1]
    person.tap("yes")
    person.say("yes")
    person.say("yes")
    assert _trial_of(person) == FIRST
    assert person.prompt == "had_surgery", "respondent, age and diagnosis carried over"
    assert person.stored()["answers"]["diagnosis"] == "yes"


def test_the_offer_can_be_declined_and_no_other_study_means_no_offer(both: Engine, engine: Engine) -> None:
    person = Person(both)
    person.command("start", "nct07295067")
    person.answer_some(NEVER_OPERATED)
    person.tap("yes")
    person.tap("no")
    assert "send /start" in person.texts[-1] and _trial_of(person) == FIRST
    alone = Person(engine, "alone")  # one trial served: nothing to offer
    alone.start()
    alone.answer_some(NEVER_OPERATED)
    alone.tap("yes")
    assert alone.prompt is None and "hear about other studies" in alone.texts[-1]


def test_a_study_the_answers_rule_out_is_not_offered(both: Engine) -> None:
    person = Person(both)
    person.command("start", "nct07295067")
    person.answer_some({**NEVER_OPERATED, "age": "12"})  # too young for either study
    assert person.prompt == "not_eligible"
    person.tap("yes")
    assert person.prompt is None, "nothing offered: 12 is under both studies' ages"


# Re-screening when a window opens --------------------------------------------------------------

# A likely candidate up to E7, who took part in another study in the past three months.
LIKELY = {**dict(list(LIKELY_B1.items())[: list(LIKELY_B1).index("recent_study")]), "recent_study": "yes"}


def _on(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    """The dialog's clock on `day` (the test moves it; nothing sleeps)."""
    from datetime import UTC, datetime

    import dialogs.conversation

    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    monkeypatch.setattr(dialogs.conversation, "utcnow", lambda: moment)


def _reminders(engine: Engine) -> list[tuple[str, str]]:
    from sqlmodel import select

    from storage.models import Reminder

    with engine.store.transaction() as records:
        return [(r.due_on.isoformat(), r.status) for r in records.session.exec(select(Reminder))]


def test_excluded_only_for_now_the_date_is_said_and_a_reminder_comes_due_on_telegram(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialogs.engine import Address

    _on(monkeypatch, "2026-12-07")
    person = Person(engine)
    person.address = Address("telegram", "4242")
    person.start()
    person.answer_some(LIKELY)
    assert person.prompt == "_remind"
    assert "from March 7, 2027 the study may be able to include you" in person.texts[-1]
    person.tap("yes")
    assert "we will remind you on March 7, 2027" in " ".join(person.texts)
    assert person.prompt == "not_eligible", "then news of other studies, as before"
    person.tap("no")
    assert _reminders(engine) == [("2027-03-07", "waiting")]
    from datetime import date

    assert engine.remind(date(2027, 3, 6)) == 0, "not before its day"
    assert engine.remind(date(2027, 3, 7)) == 1
    [due] = engine.outbox(person.address)
    assert due.text.startswith("Hello again! From today, the study “Extracellular Vesicles")
    assert _reminders(engine) == [("2027-03-07", "sent")]
    assert engine.remind(date(2027, 3, 8)) == 0, "sent once"

    # Back: only what may have changed is asked again; then the summary.
    _on(monkeypatch, "2027-03-08")
    person.say("hello")
    assert "Only the questions whose answers may have changed" in " ".join(person.texts)
    assert person.prompt == "recent_study"
    rest = {"follow_plan": "yes", "pregnancy": "no", "serology": "2", "travel": "yes"}
    asked = person.answer_some(
        {"recent_study": "no", **rest, "contact_name": "Li Wei", "contact_phone": "13812345678"}
    )
    assert asked[:2] == ["recent_study", "follow_plan"], "then what was never asked, and nothing else"
    assert person.prompt == "summary"
    person.tap("confirm")
    assert person.stored()["outcome"] == "likely_eligible"
    assert person.stored()["answers"]["age"] == 42, "carried"


def test_on_the_web_the_reminder_waits_for_the_person_and_the_console(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    _on(monkeypatch, "2026-12-07")
    person = Person(engine)  # a channel that cannot send unasked
    person.start()
    person.answer_some({**LIKELY, "recent_study": "no", "surgery_year_ago": "no"})
    assert person.prompt == "_remind" and "from December 7, 2027" in person.texts[-1]
    person.tap("yes")
    assert "the study team may contact you" in " ".join(person.texts)
    assert engine.remind(date(2027, 12, 7)) == 0, "nothing to send on this channel"
    with engine.store.transaction() as records:
        assert [r.due_on for r in records.due_reminders(date(2027, 12, 7))] == [date(2027, 12, 7)]


def test_stop_and_erasure_end_a_reminder(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _on(monkeypatch, "2026-12-07")
    person = Person(engine)
    person.start()
    person.answer_some(LIKELY)
    person.tap("yes")
    person.command("stop")
    assert _reminders(engine) == [("2027-03-07", "cancelled")]
    other = Person(engine, "p2")
    other.start()
    other.answer_some(LIKELY)
    other.tap("yes")
    other.command("delete")
    other.tap("yes")
    assert _reminders(engine) == [("2027-03-07", "cancelled")], "the erased person's reminder is gone"


def test_an_exclusion_time_does_not_turn_is_not_for_now(engine: Engine) -> None:
    person = Person(engine)
    person.start()
    person.answer_some({**LIKELY, "recent_study": "yes", "diabetes": "yes"})
    assert person.prompt == "not_eligible", "diabetes excludes whatever the date: no reminder offered"


def test_the_offer_of_another_study_does_not_suggest_i_dont_know(both: Engine) -> None:
    """Its answers are two buttons: "answer yes, no or I don't know" would offer one it refuses."""
    person = Person(both)
    person.command("start", "nct07295067")
    person.answer_some(NEVER_OPERATED)
    person.tap("yes")
    assert person.prompt == "_offer"
    person.say("I don't know")
    assert person.prompt == "_offer" and person.texts[0] == m.NOT_UNDERSTOOD_CHOICE
