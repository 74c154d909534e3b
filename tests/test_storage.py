"""Storage on a real database: migrations, answer history, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import SQLModel

from bot.coordination.reports import funnel
from dialogs.engine import Address, Choice, Engine, Input, Start, Text
from dialogs.trial import Trial
from storage.database import downgrade, make_engine, migrate
from storage.repository import Store
from tests.conftest import LIKELY_B1, TEST_KEY, Person


def test_the_models_and_the_migrations_agree(database_url: str) -> None:
    """A model change without a migration fails here, not in production."""
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    assert {"participant", "screening", "answer", "consent", "referral", "audit_event"} <= set(
        inspect(engine).get_table_names()
    )


def test_migrating_again_keeps_the_data(engine: Engine) -> None:
    person = Person(engine)
    person.start()
    person.answer_all(LIKELY_B1)
    migrate(engine.store.engine)
    assert person.stored()["outcome"] == "likely_eligible"
    assert person.stored()["answers"]["age"] == 42


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000


def test_fifty_people_answering_at_once_lose_nothing(trial: Trial, database_url: str) -> None:
    """Concurrent handlers: no "database is locked", no deadlock, every answer stored."""
    database = make_engine(database_url)
    migrate(database)
    engine = Engine(trial, Store.open(database, [TEST_KEY]))
    errors: list[BaseException] = []
    answers = ["yes", "yes", "1", "42", "yes", "yes"]

    def talk(n: int) -> None:
        try:
            address = Address("load", f"person-{n}")

            def send(message: Input, key: str | None = None) -> None:
                engine.handle(address, message, locale="en", dedupe_key=key)
                engine.sent(address, engine.outbox(address))  # as a channel reports delivery

            send(Start())
            for index, answer in enumerate(answers):
                send(Text(answer), f"load:{n}:{index}")
            send(Text("no"), f"load:{n}:0")  # a redelivery
        except BaseException as error:  # any failure at all is what this test looks for
            errors.append(error)

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with engine.store.transaction() as records:
        screenings = records.screenings()
        states = {s.state for s in screenings}
        counts = {len(records.answers(s.id or 0)) for s in screenings}
    assert len(screenings) == 50
    assert states == {"surgery_year_ago"} and counts == {6}, (
        "six answers each; the redelivery changed nothing"
    )


@pytest.mark.parametrize("change", ["UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event"])
def test_the_audit_trail_cannot_be_changed_or_removed(engine: Engine, change: str) -> None:
    person = Person(engine)
    person.start()
    with engine.store.transaction() as records:
        before = [(e.id, e.action) for e in records.audit_trail()]
    assert before, "starting a screening is audited"
    with (
        pytest.raises(DatabaseError, match="audit_event is append-only"),
        engine.store.transaction() as records,
    ):
        records.session.exec(text(change))  # type: ignore[call-overload]
    with engine.store.transaction() as records:
        assert [(e.id, e.action) for e in records.audit_trail()] == before


def test_a_screening_paused_before_pausing_was_a_dialog_state_stays_paused(
    database_url: str, trial: Trial
) -> None:
    engine = make_engine(database_url)
    migrate(engine, "0007")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO participant (channel, external_id, created_at) VALUES ('c', 'x', :t)"),
            {"t": "2026-12-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO screening (participant_id, trial_id, state, status, editing, prompt_seq, "
                "delivered_seq, reasons, uncertain, started_at, updated_at) VALUES "
                "(1, 'NCT07295067', 'age', 'paused', false, 0, 0, '[]', '[]', :t, :t)"
            ),
            {"t": "2026-12-01 00:00:00"},
        )
    migrate(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, pending, state FROM screening")).one()
    assert tuple(row) == ("active", "paused", "age")
    engine.dispose()


def test_the_follow_up_so_far_is_carried_from_the_audit_trail_into_the_history(
    database_url: str, trial: Trial
) -> None:
    engine = make_engine(database_url)
    migrate(engine, "0008")
    when = {"t": "2026-12-01 00:00:00"}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO referral (id, trial_id, outcome, status, created_at, updated_at) VALUES "
                "('r1', 'NCT07295067', 'likely_eligible', 'booked', :t, :t)"
            ),
            when,
        )
        for status, subject in (
            ("contacted", "referral:r1"),
            ("booked", "referral:r1"),
            ("x", "referral:gone"),
        ):
            connection.execute(
                text(
                    "INSERT INTO audit_event (at, actor, action, subject, detail) VALUES "
                    "(:t, 'telegram:5', 'referral_status', :subject, :detail)"
                ),
                {**when, "subject": subject, "detail": f'{{"previous": "pending", "status": "{status}"}}'},
            )
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT referral_id, actor, status FROM referral_event ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [("r1", "telegram:5", "contacted"), ("r1", "telegram:5", "booked")]
    engine.dispose()


def test_resume_links_open_once_and_go_with_the_person(engine: Engine) -> None:
    """A resume link is used once (its row is marked used only if it was not: two devices at once
    cannot both have it); erasing the person takes their links with them."""
    from bot.web.resume import ResumeLinks

    person = Person(engine, "web-session-1")
    person.address = Address("web", "web-session-1")
    person.start()
    person.tap("yes")
    links = ResumeLinks(engine.store, "web")
    token = links.make("web-session-1", began=20_000)
    assert links.find(token).state == "good" and links.find(token).session_id == "web-session-1"
    assert [links.use(token).state, links.use(token).state] == ["good", "used"]
    again = links.make("web-session-1", began=20_000)
    with engine.store.transaction() as records:
        participant = records.participant("web", "web-session-1")
        assert participant is not None
        records.erase_participant(participant)
    assert links.find(again).state == "unknown", "erased with the person"


def test_stored_phone_numbers_become_e164_and_the_migration_goes_down_and_up(
    database_url: str, trial: Trial
) -> None:
    """0013 rewrites the phone answers stored before (encrypted, so with the key): a mainland number
    without a country code gets +86; what is no number, and answers to other questions, stay as
    they were; the referrals and the audit trail are kept. Down and up again with the data in it.
    0015 counts the funnel from what is stored (the same as counted before it went down).

    Today's code stores the screenings and reads them at the head revision (the screening table
    has columns 0012 has not); the database goes down to 0012 with them in it."""

    from storage.database import EncryptedData

    database = make_engine(database_url)
    migrate(database)
    engine = Engine(trial, Store.open(database, [TEST_KEY]))
    stored = {
        "mobile": "13812345678",
        "landline": "01083198899",
        "abroad": "+442079460958",
        "typo": "1381234567",
    }
    for who, phone in stored.items():
        person = Person(engine, who)
        person.start()
        person.answer_all(LIKELY_B1)
        screening_id = person.stored()["id"]
        with engine.store.transaction() as records:  # as the older code stored it
            records.record_answer(screening_id, "contact_phone", phone, phone, "text", personal=True)
            records.record_answer(screening_id, "contact_name", "13900001111", None, "text", personal=True)

    def kept() -> tuple[list[tuple[str, str, str]], int]:
        with engine.store.transaction() as records:
            referrals = [(r.id, r.trial_id, r.status) for r in records.referrals()]
            return referrals, len(records.audit_trail())

    before = kept()
    with engine.store.transaction() as records:
        counted = funnel(records, trial.registry_id)
    assert len(before[0]) == len(stored), "a one-trial database with a referral per person"
    downgrade(database, "0012")
    with pytest.raises(RuntimeError, match="with the key"):
        migrate(database)  # encrypted phone numbers, and no key handed in
    phones = EncryptedData(lambda: [TEST_KEY], frozenset({("NCT07295067", "contact_phone")}))
    migrate(database, data=phones)
    expected = {
        "mobile": "+8613812345678",
        "landline": "+861083198899",
        "abroad": "+442079460958",
        "typo": "1381234567",
    }

    def current() -> dict[str, tuple[str, str]]:
        found = {}
        for who in stored:
            answers = Person(engine, who).stored()["answers"]
            found[who] = (answers["contact_phone"], answers["contact_name"])
        return found

    assert current() == {who: (phone, "13900001111") for who, phone in expected.items()}
    assert kept() == before, "every referral and audit row kept"
    with engine.store.transaction() as records:
        assert funnel(records, trial.registry_id) == counted and counted["language"], "counted again"
    with engine.store.transaction() as records:
        [first] = [a for a in records.answer_history(1) if a.question_id == "contact_phone"][-1:]
        assert records.cipher.open(first.raw or "") == "13812345678", "what was typed stays as typed"
    downgrade(database, "0012")
    assert "questionnaire_version" not in inspect(database).get_table_names()
    with database.connect() as connection:  # as the older code reads it
        phones_left = {
            engine.store.cipher.open(sealed)
            for (sealed,) in connection.execute(
                text(
                    "SELECT sealed FROM answer WHERE question_id = 'contact_phone' AND superseded_at IS NULL"
                )
            )
        }
    assert phones_left == set(expected.values()), "the older code reads E.164"
    migrate(database, data=phones)
    assert current() == {who: (phone, "13900001111") for who, phone in expected.items()}
    assert "questionnaire_version" in inspect(database).get_table_names()
    database.dispose()


def test_two_answers_for_one_chat_at_once_are_handled_one_after_the_other(engine: Engine) -> None:
    """Two taps for one question reach two instances at the same moment (two devices, a double
    tap through a load balancer): the first answers it, the second finds it passed and changes
    nothing. Neither is lost to the other's write, and neither is stored for another question."""
    people = [Person(engine, f"race-{n}") for n in range(8)]
    for person in people:
        person.start()
        person.answer_some({k: v for k, v in LIKELY_B1.items() if k != "diagnosis"})
        assert person.prompt == "diagnosis"
    errors: list[BaseException] = []

    def tap(person: Person, value: str, prompt: str, ready: threading.Barrier) -> None:
        try:
            ready.wait()
            engine.handle(person.address, Choice(value, prompt), locale="en")
        except BaseException as error:  # any failure at all is what this test looks for
            errors.append(error)

    threads = []
    for person in people:
        ready = threading.Barrier(2)
        prompt = person.asking.prompt if person.asking else ""
        threads += [threading.Thread(target=tap, args=(person, v, prompt, ready)) for v in ("yes", "no")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for person in people:
        stored = person.stored()
        with engine.store.transaction() as records:
            history = [a.question_id for a in records.answer_history(stored["id"])]
        assert history.count("diagnosis") == 1, history
        assert stored["answers"]["diagnosis"] in ("yes", "no")
        # One answer moved it on by one question: what follows "yes" or what follows "no".
        following = "had_surgery" if stored["answers"]["diagnosis"] == "yes" else "not_eligible"
        assert stored["state"] == following
