"""Shared fixtures: a real, migrated SQLite database per test, and people who talk to the bot."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

# The dialog's tests screen for the first trial, as a link naming it does (a deployment serves every
# trial file, and asks someone without a link which study suits them: tests/test_trials.py).
os.environ.setdefault("INTAKE_TRIALS", "nct07295067")

from dialogs.engine import Address, Choice, Engine, Input, Reply, Start, Text, Unsupported, parse_text
from dialogs.machine import SUMMARY
from dialogs.trial import Trial, find_trial
from storage.crypto import new_key
from storage.database import make_engine, migrate
from storage.repository import Store
from storage.views import screening_view


@pytest.fixture(scope="session")
def trial() -> Trial:
    return find_trial("nct07295067")


# One key for the whole run, so that a test can reopen what another store wrote.
TEST_KEY = new_key()

# PostgreSQL tests run where INTAKE_TEST_POSTGRES_URL names a server and a role
# that may create databases (CI starts one: see .ci/run); each test gets a new database.
POSTGRES = os.environ.get("INTAKE_TEST_POSTGRES_URL")


# The databases made from a migrated template: `store` need not migrate them again.
_MIGRATED: set[str] = set()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test process, copied for each test that wants a store
    (running the migrations took most of such a test's setup)."""
    path = tmp_path_factory.mktemp("template") / "intake.db"
    database = make_engine(f"sqlite:///{path}")
    migrate(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once per test process, the template of each test's own."""
    if not POSTGRES:
        yield None
        return
    name = f"intake_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database = make_engine(make_url(POSTGRES).set(database=name).render_as_string(hide_password=False))
    migrate(database)
    database.dispose()  # a template is copied only while nobody is connected to it
    yield name
    _drop_database(admin, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database per test: empty, or, for a test that uses a `store`, a copy of one already
    migrated (the migrations themselves are tested on empty ones: tests/test_storage.py)."""
    migrated = "store" in request.fixturenames
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'intake.db'}"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), tmp_path / "intake.db")
            _MIGRATED.add(url)
        yield url
        return
    if not POSTGRES:
        pytest.skip("PostgreSQL: set INTAKE_TEST_POSTGRES_URL to run these (CI does)")
    template = request.getfixturevalue("_postgres_template") if migrated else None
    name = f"intake_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        )
    url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    if template:
        _MIGRATED.add(url)
    yield url
    _drop_database(admin, name)
    admin.dispose()


def _drop_database(admin: Any, name: str) -> None:
    """Drop a test database. An autovacuum worker can be in it for a moment, and a role that is no
    superuser cannot end that session (FORCE is refused): try again once it has gone."""
    for attempt in range(20):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            return
        except ProgrammingError:
            if attempt == 19:
                raise
            time.sleep(0.25)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    if database_url not in _MIGRATED:
        migrate(engine)
    yield Store.open(engine, [TEST_KEY])
    engine.dispose()


@pytest.fixture
def engine(trial: Trial, store: Store) -> Engine:
    return Engine(trial, store)


class Person:
    """Someone talking to the bot through the engine, the way a channel would."""

    def __init__(self, engine: Engine, external_id: str = "p1", locale: str | None = "en") -> None:
        self.engine = engine
        self.address = Address("test", external_id)
        self.locale = locale
        self.replies: list[Reply] = []
        self.transcript: list[Reply] = []
        self.read_backs = 0

    def send(self, message: Input, dedupe_key: str | None = None, *, delivered: bool = True) -> list[Reply]:
        """Send `message`; the replies reach the person (as a channel reports) unless `delivered` is False."""
        self.replies = self.engine.handle(
            self.address, message, locale=self.locale, dedupe_key=dedupe_key
        ).replies
        self.transcript += self.replies
        if delivered:
            self.engine.sent(self.address, self.engine.outbox(self.address))
        return self.replies

    def start(self, source: str | None = None) -> list[Reply]:
        return self.send(Start(source))

    def say(self, text: str) -> list[Reply]:
        return self.send(Text(text))

    def tap(self, value: str, prompt: str | None = None) -> list[Reply]:
        asked = self.asking.prompt if self.asking else None
        return self.send(Choice(value, prompt if prompt is not None else asked or ""))

    def command(self, name: str, argument: str | None = None) -> list[Reply]:
        """Type a command, as a channel parses it (/start becomes a Start)."""
        return self.send(parse_text(f"/{name}" + (f" {argument}" if argument else "")))

    def send_unsupported(self, kind: str) -> list[Reply]:
        return self.send(Unsupported(kind))

    @property
    def asking(self) -> Reply | None:
        """The last reply that asks something, if the bot is waiting for an answer."""
        return next((r for r in reversed(self.replies) if r.prompt), None)

    @property
    def prompt(self) -> str | None:
        """What the bot waits for: a question id, "summary", or a menu such as "_confirm"."""
        return self.asking.asks if self.asking else None

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies]

    def stored(self) -> dict[str, Any]:
        """The person's latest screening as the operator sees it."""
        with self.engine.store.transaction() as records:
            participant = records.participant(self.address.channel, self.address.external_id)
            assert participant is not None, "nothing is stored for this person"
            screening = records.latest_screening(participant.id or 0)
            assert screening is not None
            return screening_view(records, screening)

    def answer_some(self, answers: Mapping[str, str]) -> list[str]:
        """Answer questions from `answers` until one is asked that it has no answer for."""
        asked: list[str] = []
        while self.prompt in answers:
            question = self.prompt
            asked.append(question)
            self.say(answers[question])
            self.confirm_read_back()
            assert self.prompt != question, f"{question!r} was asked again: {self.texts}"
        return asked

    def confirm_read_back(self) -> bool:
        """If the bot read an answer back ("I understood your answer … as: “No”"), say it is right."""
        if self.prompt != "_confirm":
            return False
        self.read_backs += 1
        self.tap("yes")
        return True

    def answer_all(self, answers: Mapping[str, str], *, by: str = "text", confirm: bool = True) -> list[str]:
        """Answer every question the bot asks from `answers`; return the question ids asked.

        Fails if the bot asks a question the persona has no answer for, which is
        how the tests notice a question asked that should have been skipped.
        """
        asked: list[str] = []
        while self.prompt and self.prompt != SUMMARY and self.prompt in self.engine.trial.question_index:
            question = self.prompt
            assert question in answers, f"asked {question!r}, which this persona should not be asked"
            asked.append(question)
            if by == "tap" and self.asking and self.asking.options:
                self.tap(answers[question])
            else:
                self.say(answers[question])
            self.confirm_read_back()
            assert self.prompt != question, f"{question!r} was asked again: {self.texts}"
        if confirm and self.prompt == SUMMARY:
            self.tap("confirm")
        return asked


@pytest.fixture
def person(engine: Engine) -> Person:
    return Person(engine)


# Personas. B1_VALUES is what is stored for a likely eligible person answering for
# themselves, operated on (criterion B1); the others are how that person answers.

B1_VALUES: dict[str, Any] = {
    "consent_storage": "yes",
    "consent_contact": "yes",
    "respondent": "self",
    "age": 42,
    "diagnosis": "yes",
    "had_surgery": "yes",
    "surgery_year_ago": "yes",
    "mri_shrunk": "yes",
    "symptoms_course": "same",
    "diabetes": "no",
    "heart_disease": "no",
    "liver_kidney": "no",
    "heart_abnormality": "no",
    "other_cns_disease": "no",
    "back_infection": "no",
    "autoimmune": "no",
    "biologic_allergy": "no",
    "recent_study": "no",
    "follow_plan": "yes",
    "pregnancy": "no",
    "serology": "no",
    "travel": "yes",
}

# Typed in English: the option number for "who is answering", then a name and a phone.
LIKELY_B1: dict[str, str] = {
    **{question: str(value) for question, value in B1_VALUES.items()},
    "respondent": "1",
    "symptoms_course": "about the same",
    "serology": "Tested, all negative",
    "contact_name": "Li Wei",
    "contact_phone": "+86 138 1234 5678",
}

TAPS_B1: dict[str, str] = {**LIKELY_B1, "respondent": "self", "symptoms_course": "same", "serology": "no"}

# The same person, typing in Chinese: words, native numerals, and no buttons.
LIKELY_B1_ZH: dict[str, str] = {
    "consent_storage": "同意",
    "consent_contact": "可以",
    "respondent": "我自己",
    "age": "四十二",
    "diagnosis": "是的",
    "had_surgery": "做过",
    "surgery_year_ago": "对",
    "mri_shrunk": "是的",
    "symptoms_course": "没什么变化",
    "diabetes": "没有",
    "heart_disease": "没有",
    "liver_kidney": "不是",
    "heart_abnormality": "没有",
    "other_cns_disease": "没有",
    "back_infection": "没有",
    "autoimmune": "没有",
    "biologic_allergy": "没有",
    "recent_study": "没有",
    "follow_plan": "能",
    "pregnancy": "否",
    "serology": "都是阴性",
    "travel": "可以",
    "contact_name": "李伟",
    "contact_phone": "138 1234 5678",
}


# Not a candidate for NCT07295067: never operated, and the syrinx did not shrink on its own.
NEVER_OPERATED = {
    "consent_storage": "yes",
    "consent_contact": "yes",
    "respondent": "1",
    "age": "42",
    "diagnosis": "yes",
    "had_surgery": "no",
    "mri_resolved": "no",
}
