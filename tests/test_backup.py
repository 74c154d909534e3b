"""Backups taken while people are answering, and restoring them."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from dialogs.engine import Address, Engine, Start, Text
from dialogs.trial import Trial
from storage.backup import BackupError, backup
from storage.database import make_engine, migrate
from storage.repository import Store
from tests.conftest import LIKELY_B1, TEST_KEY, Person
from tests.test_processes import intake, screenings


def test_a_backup_under_concurrent_writes_is_a_consistent_snapshot(trial: Trial, tmp_path: Path) -> None:
    database = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    migrate(database)
    engine = Engine(trial, Store.open(database, [TEST_KEY]))
    stop = threading.Event()

    def keep_answering(n: int) -> None:
        answers = list(LIKELY_B1.values())
        while not stop.is_set():
            address = Address("load", f"p{n}-{threading.get_ident()}-{len(answers)}")
            for message in (Start(), *(Text(answer) for answer in answers[:6])):
                engine.handle(address, message, locale="en")
                engine.sent(address, engine.outbox(address))
            answers.append("x")

    writers = [threading.Thread(target=keep_answering, args=(n,)) for n in range(3)]
    for writer in writers:
        writer.start()
    try:
        copies = [tmp_path / f"backup-{i}.db" for i in range(3)]
        for copy in copies:
            backup(database, copy)
    finally:
        stop.set()
        for writer in writers:
            writer.join()

    for copy in copies:
        restored = Engine(trial, Store.open(make_engine(f"sqlite:///{copy}"), [TEST_KEY]))
        with restored.store.transaction() as records:
            for screening in records.screenings():
                # Consistent: each screening stands exactly where its answers put it.
                answered = len(records.answers(screening.id or 0))
                expected = list(LIKELY_B1)[answered] if answered < len(LIKELY_B1) else None
                assert screening.state == expected, (screening.state, answered)
        assert restored.store.engine.dialect.name == "sqlite"


def test_backup_and_restore_through_the_cli(tmp_path: Path) -> None:
    live, other = tmp_path / "live", tmp_path / "other"
    answers = "".join(v + "\n" for v in LIKELY_B1.values()) + "1\n"
    assert intake(live, "chat", "--lang", "en", stdin=answers).returncode == 0
    result = intake(live, "backup", str(tmp_path / "intake-backup.db"))
    assert result.returncode == 0, result.stderr
    again = intake(live, "backup", str(tmp_path / "intake-backup.db"))
    assert again.returncode == 2 and "exists" in again.stderr, "a backup never overwrites"

    # The key travels separately from the backup; restoring elsewhere needs both.
    other.mkdir()
    shutil.copy(live / "encryption.key", other / "encryption.key")
    refused = intake(other, "restore", str(tmp_path / "intake-backup.db"))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert intake(other, "restore", str(tmp_path / "intake-backup.db"), "--yes").returncode == 0
    assert screenings(other) == screenings(live)
    assert "restored_backup" in intake(other, "audit").stdout


def test_operator_commands_are_audited_with_the_login_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "ops_anna")  # getpass.getuser() reads it first
    answers = "".join(v + "\n" for v in LIKELY_B1.values()) + "1\n"
    assert intake(tmp_path, "chat", "--lang", "en", stdin=answers).returncode == 0
    for command in (["screenings", "--json"], ["referrals"], ["backup", str(tmp_path / "b.db")], ["audit"]):
        assert intake(tmp_path, *command).returncode == 0
    trail = [line.split()[1:3] for line in intake(tmp_path, "audit").stdout.splitlines()]
    operator = [action for actor, action in trail if actor == "operator:ops_anna"]
    assert operator == ["viewed_screenings", "viewed_referrals", "backed_up", "viewed_audit", "viewed_audit"]


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    result = intake(tmp_path / "data", "restore", str(broken), "--yes")
    assert result.returncode == 2 and "error:" in result.stderr


def test_postgresql_is_pointed_to_pg_dump(engine: Engine, database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        person = Person(engine)
        person.start()
        backup(engine.store.engine, tmp_path / "ok.db")
        assert (tmp_path / "ok.db").stat().st_size > 0
        return
    with pytest.raises(BackupError, match="pg_dump"):
        backup(engine.store.engine, tmp_path / "x.db")


def test_restore_is_refused_while_the_bot_runs(tmp_path: Path) -> None:
    """A restore under a running bot would roll its conversations back beneath it."""
    import subprocess
    import sys

    from tests.test_processes import ROOT, _env

    answers = "".join(v + "\n" for v in LIKELY_B1.values())
    assert intake(tmp_path, "chat", "--lang", "en", stdin=answers).returncode == 0
    assert intake(tmp_path, "backup", str(tmp_path / "b.db")).returncode == 0
    running = subprocess.Popen(  # a person in the middle of a conversation
        [sys.executable, "-m", "bot", "chat", "--user", "kim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
        cwd=ROOT,
        text=True,
    )
    try:
        assert running.stdout is not None
        running.stdout.readline()  # it has started: the database is open
        refused = intake(tmp_path, "restore", str(tmp_path / "b.db"), "--yes")
        assert refused.returncode == 2 and "in use by another intake process" in refused.stderr
    finally:
        running.communicate(input="", timeout=30)
    assert intake(tmp_path, "restore", str(tmp_path / "b.db"), "--yes").returncode == 0, "once it has stopped"


def test_a_restore_erases_again_whoever_was_erased_after_the_backup(tmp_path: Path) -> None:
    answers = "".join(v + "\n" for v in LIKELY_B1.values()) + "1\n"
    for user in ("ann", "bob"):
        assert intake(tmp_path, "chat", "--lang", "en", "--user", user, stdin=answers).returncode == 0
    assert intake(tmp_path, "backup", str(tmp_path / "b.db")).returncode == 0
    # After the backup, bob asks for his data to be deleted.
    assert intake(tmp_path, "chat", "--user", "bob", stdin="/delete\n1\n").returncode == 0
    assert len(screenings(tmp_path)) == 1

    restored = intake(tmp_path, "restore", str(tmp_path / "b.db"), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "erased again 1 person(s)" in restored.stdout
    [kept] = screenings(tmp_path)
    assert kept["answers"]["contact_name"] == LIKELY_B1["contact_name"], "ann's answers are back"
    database = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    with database.connect() as connection:
        statuses = [
            row[0] for row in connection.exec_driver_sql("SELECT status FROM referral ORDER BY created_at")
        ]
    assert sorted(statuses) == ["cancelled", "pending"], "bob's referral stays withdrawn"
    database.dispose()
    assert "again_after_restore" in intake(tmp_path, "audit").stdout
