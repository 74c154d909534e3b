"""Personal data is encrypted at rest, under a key that must be the right one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dialogs.engine import Engine
from storage.crypto import new_key
from tests.conftest import LIKELY_B1, Person
from tests.test_processes import ROOT, _env, screenings

NAME, PHONE = "Wangwu Uniquename", "+86 135 5555 0199"
SECRETS = ("Wangwu", "Uniquename", "13555550199", "5555 0199", "kim.secret", "I am forty two")
PERSONA = {**LIKELY_B1, "age": "I am forty two", "contact_name": NAME, "contact_phone": PHONE}


def intake(
    data_dir: Path, *args: str, stdin: str = "", key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The `intake` command, with INTAKE_ENCRYPTION_KEY set to `key` when given."""
    env = _env(data_dir) | ({"INTAKE_ENCRYPTION_KEY": key} if key else {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _screen(data_dir: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    # "I am forty two" is read back ("I understood your answer to “Age” as: “42”"): 1 says it is.
    answers = "".join(v + ("\n1\n" if k == "age" else "\n") for k, v in PERSONA.items()) + "1\n"
    return intake(data_dir, "chat", "--lang", "en", "--user", "kim.secret", stdin=answers, key=key)


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A data directory with one screening, made by `intake chat` on its first run (which makes the
    key), and what that run said. A screening costs a process and seconds: a test that changes
    the directory takes a copy of its own (`_copy`)."""
    data_dir = tmp_path_factory.mktemp("screened")
    return data_dir, _screen(data_dir)


def _copy(screened: tuple[Path, subprocess.CompletedProcess[str]], to: Path) -> Path:
    """The screened data directory, copied to `to` (without the speech models: no command here
    that opens the copy loads one)."""
    shutil.copytree(screened[0], to, ignore=shutil.ignore_patterns("speech-models"))
    return to


def test_the_raw_database_files_hold_no_name_phone_or_typed_text(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    assert screened[1].returncode == 0, screened[1].stderr
    data_dir = _copy(screened, tmp_path / "data")
    (stored,) = screenings(data_dir)
    assert stored["answers"]["contact_name"] == NAME, "the operator's view decrypts"
    raw = b"".join(p.read_bytes() for p in data_dir.glob("intake.db*"))
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} is readable in the database file"
    assert b"likely_eligible" in raw, "what statistics need stays readable"


def test_a_postgresql_dump_holds_no_personal_data(engine: Engine, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("this one is about PostgreSQL; the SQLite file is checked above")
    person = Person(engine, "kim.secret")
    person.start()
    person.answer_all(PERSONA)
    assert person.stored()["answers"]["contact_phone"] == "+8613555550199"
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True, check=True).stdout
    assert "likely_eligible" in dump
    for secret in (*SECRETS, "+8613555550199"):
        assert secret not in dump, f"{secret!r} is readable in the dump"
    with engine.store.engine.connect() as connection:
        values = connection.execute(text("SELECT value FROM answer WHERE question_id = 'diabetes'")).all()
    assert [v for (v,) in values] == ["no"], "option answers stay queryable"


def test_the_first_run_creates_a_key_and_says_so(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    first_run, result = screened
    key_file = first_run / "encryption.key"
    assert f"created a new encryption key in {key_file}" in result.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = intake(_copy(screened, tmp_path / "data"), "screenings", "--json")
    assert again.returncode == 0 and "created a new encryption key" not in again.stderr


def test_a_wrong_key_is_a_clear_error(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    wrong = intake(_copy(screened, tmp_path / "data"), "screenings", "--json", key=new_key())
    assert wrong.returncode == 2
    assert "INTAKE_ENCRYPTION_KEY does not open this database" in wrong.stderr
    assert "Traceback" not in wrong.stderr and wrong.stdout == ""


def test_a_malformed_key_is_a_clear_error(tmp_path: Path) -> None:
    result = intake(tmp_path, "chat", key="not-a-key")
    assert result.returncode == 2 and "INTAKE_ENCRYPTION_KEY is not a valid key" in result.stderr


def test_a_lost_key_file_is_not_silently_replaced(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    data_dir = _copy(screened, tmp_path / "data")
    (data_dir / "encryption.key").unlink()
    result = intake(data_dir, "screenings")
    assert result.returncode == 2 and "holds encrypted data, but no key is configured" in result.stderr
    assert not (data_dir / "encryption.key").exists()


def test_keys_rotate(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    assert _screen(tmp_path, key=old).returncode == 0
    both = intake(tmp_path, "rotate-keys", key=f"{new},{old}")
    assert both.returncode == 0 and "re-encrypted" in both.stdout
    only_new = intake(tmp_path, "screenings", "--json", key=new)
    assert only_new.returncode == 0, only_new.stderr
    assert NAME in only_new.stdout
    assert intake(tmp_path, "screenings", key=old).returncode == 2, "the old key alone no longer opens it"
    assert "rotated_keys" in intake(tmp_path, "audit", key=new).stdout


def test_a_backup_is_encrypted_and_opens_with_the_same_key(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    live = _copy(screened, tmp_path / "live")
    assert intake(live, "backup", str(tmp_path / "copy.db")).returncode == 0
    raw = (tmp_path / "copy.db").read_bytes()
    assert all(secret.encode() not in raw for secret in SECRETS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(live / "encryption.key", elsewhere / "encryption.key")
    assert intake(elsewhere, "restore", str(tmp_path / "copy.db"), "--yes").returncode == 0
    assert screenings(elsewhere)[0]["answers"]["contact_name"] == NAME


def test_an_empty_key_file_is_a_clear_error_not_a_new_key(
    screened: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    data_dir = _copy(screened, tmp_path / "data")
    (data_dir / "encryption.key").write_text("")  # as a crash during an unsynced write could leave it
    result = intake(data_dir, "screenings")
    assert result.returncode == 2 and "encryption.key is empty: put back the copy" in result.stderr
    assert (data_dir / "encryption.key").read_text() == "", "never silently replaced"


def test_the_key_file_is_on_disk_before_it_has_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while writing leaves no key file rather than an empty one: synced, then linked."""
    import os

    from storage.crypto import key_file_keys

    synced: list[str] = []
    real_fsync, real_link = os.fsync, os.link
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))
    )
    monkeypatch.setattr(os, "link", lambda a, b: (synced.append(f"link {b}"), real_link(a, b)))
    [key] = key_file_keys(tmp_path / "encryption.key", may_create=True)
    assert synced[1] == f"link {tmp_path / 'encryption.key'}"
    assert synced[0].startswith(str(tmp_path / ".encryption.key.")), "the temporary file, synced first"
    assert synced[2] == str(tmp_path), "then the directory that names it"
    assert (tmp_path / "encryption.key").read_text().strip() == key
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]
