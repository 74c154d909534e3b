"""Retention and erasure: personal data leaves on schedule or on request, statistics stay."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col, select

from bot.destinations import parse_destinations
from bot.notifications import Planner
from dialogs.effects import ReferralCreated
from dialogs.engine import Engine
from storage.models import (
    Answer,
    AuditEvent,
    Notification,
    Participant,
    ProcessedInput,
    Referral,
    Screening,
    utcnow,
)
from storage.repository import Store
from tests.conftest import LIKELY_B1, Person
from tests.test_encryption import NAME, SECRETS, _screen, intake
from tests.test_processes import screenings


def _purge_all(engine: Engine) -> list[int]:
    later = utcnow() + timedelta(seconds=1)
    with engine.store.transaction() as records:
        return records.purge(finished_before=later, idle_before=later)


def test_purge_removes_personal_data_and_keeps_statistics(engine: Engine) -> None:
    finished = Person(engine, "done")
    finished.start()
    finished.answer_all(LIKELY_B1)
    with engine.store.transaction() as records:
        [referral] = records.referrals()
        Planner(parse_destinations("telegram:9001", "test")).plan(records, [ReferralCreated(referral.id)])
    idle = Person(engine, "idle")
    idle.start()
    idle.answer_some({q: LIKELY_B1[q] for q in ("consent_storage", "consent_contact", "respondent", "age")})

    ids = sorted([finished.stored()["id"], idle.stored()["id"]])

    assert sorted(_purge_all(engine)) == ids

    with engine.store.transaction() as records:
        answers = list(records.session.exec(select(Answer)))
        assert all(a.raw is None and a.sealed is None for a in answers), "no typed text, nothing sealed"
        kept = {a.question_id: a.value for a in answers if a.superseded_at is None and a.screening_id == 1}
        assert kept["diabetes"] == "no" and kept["age"] == 42 and "contact_name" not in kept
        assert {s.status for s in records.session.exec(select(Screening))} == {"finished", "abandoned"}
        assert {s.outcome for s in records.session.exec(select(Screening))} == {"likely_eligible", None}
        participants = list(records.session.exec(select(Participant)))
        assert all(p.ref is None and p.external_id.startswith("purged:") for p in participants)
        notifications = list(records.session.exec(select(Notification)))
        assert [n.status for n in notifications] == ["cancelled"], "a purged referral is not sent"
        assert [r.outcome for r in records.session.exec(select(Referral))] == ["likely_eligible"]
    assert _purge_all(engine) == [], "purging twice changes nothing"


def test_purge_takes_as_many_statements_for_many_screenings_as_for_one(engine: Engine) -> None:
    """A daily purge of 100,000 took hours when each screening cost statements of its own."""
    started = ("consent_storage", "consent_contact", "respondent", "age")
    counts = []
    for batch in (1, 6):
        for n in range(batch):
            person = Person(engine, f"p{batch}-{n}")
            person.start()
            person.answer_some({q: LIKELY_B1[q] for q in started})
        statements: list[str] = []

        def count(*args: Any, into: list[str] = statements) -> None:
            into.append(args[2])

        event.listen(engine.store.engine, "before_cursor_execute", count)
        try:
            purged = _purge_all(engine)
        finally:
            event.remove(engine.store.engine, "before_cursor_execute", count)
        assert len(purged) == batch
        counts.append(len(statements))
        with engine.store.transaction() as records:
            assert all(a.raw is None for a in records.session.exec(select(Answer))), "no typed text kept"
            assert all(p.ref is None for p in records.session.exec(select(Participant)))
    assert counts[0] == counts[1], f"{counts}: statements grow with the screenings purged"


def test_recent_screenings_are_kept(engine: Engine) -> None:
    person = Person(engine)
    person.start()
    person.answer_all(LIKELY_B1)
    with engine.store.transaction() as records:
        assert records.purge(utcnow() - timedelta(days=180), utcnow() - timedelta(days=30)) == []
    assert person.stored()["answers"]["contact_name"] == "Li Wei"


def test_a_person_returning_after_the_purge_starts_afresh(engine: Engine) -> None:
    person = Person(engine, "back-later")
    person.start()
    person.answer_some({q: LIKELY_B1[q] for q in ("consent_storage", "consent_contact", "respondent")})
    _purge_all(engine)
    person.say("hello again")
    assert person.prompt == "consent_storage"
    assert person.stored()["answers"] == {}


def test_update_ids_are_forgotten_after_a_day(store: Store) -> None:
    """processed_input grew by every update for ever (1.67 million rows at 100,000 screenings)."""
    with store.transaction() as records:
        assert records.claim_input("telegram:1") and records.claim_input("telegram:2")
    with store.transaction() as records:
        records.session.exec(
            update(ProcessedInput)
            .where(col(ProcessedInput.key) == "telegram:1")
            .values(at=utcnow() - timedelta(hours=25))
        )
    with store.transaction() as records:
        assert records.forget_inputs(utcnow() - timedelta(days=1)) == 1
    with store.transaction() as records:
        assert not records.claim_input("telegram:2"), "a redelivery within the day changes nothing"
        assert records.claim_input("telegram:1"), "forgotten"


def test_intake_purge_and_its_audit(tmp_path: Path) -> None:
    assert _screen(tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "intake.db") as database:
        two_days_ago = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S.%f")
        database.executemany(
            "INSERT INTO processed_input (key, at) VALUES (?, ?)",
            [("telegram:old", two_days_ago), ("telegram:new", utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"))],
        )
    kept = intake(tmp_path, "purge")
    assert kept.returncode == 0 and "of 0 screening(s)" in kept.stdout, "inside the retention period"
    assert "forgot 1 update id(s)" in kept.stdout
    with sqlite3.connect(tmp_path / "intake.db") as database:
        assert [key for (key,) in database.execute("SELECT key FROM processed_input")] == ["telegram:new"]
    result = intake(tmp_path, "purge", "--older-than", "0d")
    assert result.returncode == 0 and "of 1 screening(s)" in result.stdout
    (stored,) = screenings(tmp_path)
    assert stored["outcome"] == "likely_eligible" and "contact_name" not in stored["answers"]
    assert "purged" in intake(tmp_path, "audit").stdout
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("intake.db*"))
    assert all(secret.encode() not in raw for secret in SECRETS)


def test_intake_erase_by_referral(tmp_path: Path) -> None:
    assert _screen(tmp_path).returncode == 0
    (stored,) = screenings(tmp_path)
    result = intake(tmp_path, "erase", "--referral", stored["referral"]["id"])
    assert result.returncode == 0, result.stderr
    assert screenings(tmp_path) == []
    audit = intake(tmp_path, "audit").stdout
    assert "operator" in audit and "participant_erased" in audit
    assert NAME not in audit
    again = intake(tmp_path, "erase", "--referral", stored["referral"]["id"])
    assert again.returncode == 2 and "no such person" in again.stderr
    assert intake(tmp_path, "backup", str(tmp_path / "after.db")).returncode == 0
    backup = (tmp_path / "after.db").read_bytes()
    assert b"kim.secret" not in backup and NAME.encode() not in backup


def test_erasure_leaves_only_a_de_identified_audit_entry(engine: Engine) -> None:
    person = Person(engine, "erase-me")
    person.start()
    person.answer_all(LIKELY_B1)
    person.command("delete")
    person.tap("yes")
    with engine.store.transaction() as records:
        events = list(records.session.exec(select(AuditEvent)))
    erased = [e for e in events if e.action == "participant_erased"]
    # The erased person's row id, never given to anyone else, so a restored backup can erase them again.
    assert len(erased) == 1 and erased[0].detail.keys() == {"participant", "screenings"}
    assert isinstance(erased[0].detail["participant"], int) and erased[0].detail["screenings"] == 1
    assert all("erase-me" not in f"{e.subject}{e.detail}" for e in events)
