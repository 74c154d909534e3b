"""The `intake` command as a person and an operator use it: real processes, a real file database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.conftest import LIKELY_B1, LIKELY_B1_ZH

ROOT = Path(__file__).resolve().parent.parent


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "TELEGRAM_"))}
    # The first trial, as a link naming it (serving both, and the entry: tests/test_trials.py).
    trials = os.environ.get("INTAKE_TRIALS", "nct07295067")
    return {
        **env,
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_TRIALS": trials,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def intake(
    data_dir: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**_env(data_dir), **(env or {})},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def get_when_up(url: str, timeout: float = 30) -> httpx.Response:
    """GET `url` once its server accepts connections (a process just started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, follow_redirects=True)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def serving_web(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[WebProcess]:
    """`intake web` as an operator starts it, on a free loopback port, until the block ends."""
    from bot.testing.ports import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"],
        cwd=ROOT,
        env={**_env(data_dir), "INTAKE_WEB_PORT": str(port), **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )
    served = WebProcess(process, f"http://127.0.0.1:{port}", data_dir)
    try:
        get_when_up(f"{served.base}/static/chat.css")
        yield served
    finally:
        process.terminate()
        _, served.stderr = process.communicate(timeout=10)


@dataclass
class WebProcess:
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:<port>
    data_dir: Path
    stderr: str = ""  # what it said, once it has stopped


def _shell(command: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A command line as a person types it into a shell, pipes and all."""
    return subprocess.run(
        command, shell=True, capture_output=True, text=True, env=_env(data_dir), cwd=ROOT, timeout=60
    )


def screenings(data_dir: Path) -> list[dict[str, Any]]:
    result = intake(data_dir, "screenings", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _chat_process(data_dir: Path, stderr: int) -> subprocess.Popen[str]:
    """`intake chat` in English as kim, talked to through pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--lang", "en", "--user", "kim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_env(data_dir),
        cwd=ROOT,
    )


def _read_until(stream: IO[str], marker: str, timeout: float = 30) -> str:
    """Read the child's output until `marker` appears (the child flushes after every reply)."""
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"timed out waiting for {marker!r}; got {seen[-500:]!r}"
        line = stream.readline()
        assert line, f"the process ended before {marker!r}; got {seen[-500:]!r}"
        seen += line
    return seen


def test_a_killed_process_resumes_at_the_next_question_with_nothing_lost(tmp_path: Path) -> None:
    child = _chat_process(tmp_path, stderr=subprocess.DEVNULL)
    assert child.stdin and child.stdout
    _read_until(child.stdout, "Do you agree?")
    for answer, next_question in [
        ("yes", "may the study team phone you"),
        ("yes", "answering for yourself"),
        ("1", "How old are you?"),
        ("42", "syringomyelia (a fluid"),
        ("yes", "had surgery"),
    ]:
        child.stdin.write(answer + "\n")
        child.stdin.flush()
        _read_until(child.stdout, next_question)
    # The reply asking about surgery has been shown: the answer before it must be on disk.
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    resumed = intake(tmp_path, "chat", "--user", "kim", stdin="")
    assert "Welcome back! Let's continue where you left off." in resumed.stdout
    assert resumed.stdout.rstrip().splitlines()[-4].startswith("Have you had surgery for syringomyelia?")
    (stored,) = screenings(tmp_path)
    assert stored["state"] == "had_surgery"
    assert stored["answers"] == {
        "consent_storage": "yes",
        "consent_contact": "yes",
        "respondent": "self",
        "age": 42,
        "diagnosis": "yes",
    }


def _piped(persona: dict[str, str], order: list[str]) -> str:
    return "".join(persona[q] + "\n" for q in order) + "1\n"


# The questions a B1 persona is asked, in order (mri_resolved and can_communicate are skipped).
B1_ORDER = [q for q in LIKELY_B1]
# Typed in Chinese, three answers are the bot's interpretation ("我自己" is "for myself", "没什么变化"
# is "about the same", 都是阴性 is "tested, all negative"): it reads them back, and the person
# confirms with 对.
PIPED_ZH = {
    **LIKELY_B1_ZH,
    "respondent": "我自己\n对",
    "symptoms_course": "没什么变化\n对",
    "serology": "都是阴性\n对",
}


# Each language reaches each outcome: (language, answers, the questions answered in order,
# outcome, reasons, uncertain criteria, what the person reads at the end). After an age of 61
# decides it, the next answer ("yes", 可以) says yes to news of other studies.
PIPED = {
    "en-likely": ("en", LIKELY_B1, B1_ORDER, "likely_eligible", [], [], "you may be a candidate"),
    "en-review": (
        "en",
        {**LIKELY_B1, "serology": "not sure\nyes"},  # "not sure" at a choice: read back
        B1_ORDER,
        "needs_review",
        [],
        ["E10"],
        "You may be a candidate",
    ),
    "en-not-eligible": (
        "en",
        {**LIKELY_B1, "age": "sixty one"},
        [*B1_ORDER[:4], "diagnosis"],
        "not_eligible",
        ["A"],
        [],
        "The study is for people aged 18 to 60.",
    ),
    "zh-likely": ("zh", PIPED_ZH, B1_ORDER, "likely_eligible", [], [], "您有可能符合这项研究的条件"),
    "zh-review": (
        "zh",
        {**PIPED_ZH, "serology": "不清楚\n对"},
        B1_ORDER,
        "needs_review",
        [],
        ["E10"],
        "需要和您进一步核实",
    ),
    "zh-not-eligible": (
        "zh",
        {**PIPED_ZH, "age": "六十一"},
        [*B1_ORDER[:4], "travel"],
        "not_eligible",
        ["A"],
        [],
        "这项研究只招募18至60岁的人",
    ),
}


@pytest.mark.parametrize(
    ("lang", "persona", "order", "outcome", "reasons", "uncertain", "said"), PIPED.values(), ids=PIPED
)
def test_piped_conversation_reaches_each_outcome(
    tmp_path: Path,
    lang: str,
    persona: dict[str, str],
    order: list[str],
    outcome: str,
    reasons: list[str],
    uncertain: list[str],
    said: str,
) -> None:
    result = intake(
        tmp_path, "chat", "--lang", lang, "--source", "clinic_flyer", stdin=_piped(persona, order)
    )
    assert result.returncode == 0, result.stderr
    assert said in result.stdout
    assert "You are eligible" not in result.stdout and "您符合条件" not in result.stdout
    (stored,) = screenings(tmp_path)
    assert (stored["outcome"], stored["reasons"], stored["uncertain"]) == (outcome, reasons, uncertain)
    assert stored["language"] == {"en": "en", "zh": "zh_Hans"}[lang] and stored["source"] == "clinic_flyer"
    assert stored["answers"]["age"] == (61 if outcome == "not_eligible" else 42)
    if outcome == "not_eligible":
        assert "contact_name" not in stored["answers"] and "diagnosis" not in stored["answers"]
    else:
        assert stored["answers"]["contact_name"] == persona["contact_name"]


def test_the_run_command_starts_the_console_on_embedded_sqlite(tmp_path: Path) -> None:
    result = intake(tmp_path, stdin="/help\n")
    assert result.returncode == 0, result.stderr
    assert "console channel" in result.stderr
    assert (tmp_path / "intake.db").exists()
    assert "Please choose your language." in result.stdout, "with no language known, it asks"


def test_check_trial_names_the_problem(tmp_path: Path) -> None:
    good = (ROOT / "dialogs/trials/nct07295067.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "broken.yaml"
    bad.write_text(good.replace("    min: 1\n    max: 120", "    min: 120\n    max: 1"), encoding="utf-8")
    result = intake(tmp_path, "check-trial", str(bad))
    assert result.returncode == 2
    assert f"{bad}: question `age`: `min` must be below `max`" in result.stderr
    ok = intake(tmp_path, "check-trial", str(ROOT / "dialogs/trials/nct07295067.yaml"))
    assert ok.returncode == 0 and "NCT07295067" in ok.stdout


# --- what people hit at the command line ---------------------------------------------------------------


def test_the_readmes_piped_example_works_as_printed(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("printf ") and "intake chat" in line)
    command = line.split("#")[0].strip().replace(".venv/bin/intake", f"{sys.executable} -m bot")
    result = _shell(command, tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (stored,) = screenings(tmp_path)
    assert stored["answers"] == {
        "consent_storage": "yes",
        "consent_contact": "yes",
        "respondent": "self",
        "age": 42,
    }


def test_input_that_is_not_utf8_is_a_clear_error_and_keeps_what_was_answered(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--lang", "en"],
        input=b"yes\n\xff\xfe broken\n",
        capture_output=True,
        env=_env(tmp_path),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"not UTF-8" in result.stderr and b"Traceback" not in result.stderr
    assert screenings(tmp_path)[0]["answers"] == {"consent_storage": "yes"}


def test_ctrl_c_leaves_quietly_and_keeps_the_answers(tmp_path: Path) -> None:
    child = _chat_process(tmp_path, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    _read_until(child.stdout, "Do you agree?")
    child.stdin.write("yes\n")
    child.stdin.flush()
    _read_until(child.stdout, "may the study team phone you")
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130 and "Traceback" not in stderr and "stopped" in stderr
    assert screenings(tmp_path)[0]["answers"] == {"consent_storage": "yes"}


def test_screenings_has_headings_and_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    assert intake(tmp_path, "chat", "--lang", "en", stdin="yes\n").returncode == 0
    listing = intake(tmp_path, "screenings")
    assert listing.stdout.splitlines()[0].split()[:3] == ["id", "trial", "language"]
    piped = _shell(f"{sys.executable} -m bot screenings --json | head -1", tmp_path)
    assert piped.stdout == "[\n" and "Traceback" not in piped.stderr, piped.stderr


def test_the_chosen_language_stays_after_declining(tmp_path: Path) -> None:
    # No --lang and a terminal that says nothing useful: the menu; 中文 is chosen, consent declined,
    # and the conversation begun again is still in Chinese.
    result = intake(tmp_path, "chat", stdin="中文\n不同意\n/start\n")
    assert result.returncode == 0, result.stderr
    after = result.stdout.split("> /start")[1]
    assert "您好" in after and "Please choose your language." not in after


def test_the_database_password_is_never_printed(tmp_path: Path) -> None:
    url = "postgresql+psycopg://intake:s3cr3t-pw@127.0.0.1:1/intake"
    for args in ((), ("telegram",), ("screenings",), ("migrate",)):
        env = {"INTAKE_DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": "123:abc"} if args == ("telegram",) else {}
        result = intake(tmp_path, *args, env={"INTAKE_DATABASE_URL": url, **env})
        assert result.returncode == 2, (args, result.stderr)
        assert "s3cr3t-pw" not in result.stderr + result.stdout, args
        assert "postgresql+psycopg://intake:***@127.0.0.1:1/intake" in result.stderr, args
        assert "Traceback" not in result.stderr and "cannot use the database" in result.stderr, args


def test_operator_commands_never_migrate_and_need_no_trial_file(tmp_path: Path) -> None:
    from storage.database import downgrade, make_engine

    assert intake(tmp_path, "chat", "--lang", "en", stdin="yes\n").returncode == 0
    database = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    no_trial = {"INTAKE_TRIALS": "no_such_trial"}
    for command in ("audit", "screenings", "deliveries", "purge"):
        result = intake(tmp_path, command, env=no_trial)
        assert result.returncode == 0, (command, result.stderr)
    downgrade(database, "0006")  # as an older version left it
    refused = intake(tmp_path, "audit")
    assert refused.returncode == 2 and "run `intake migrate`" in refused.stderr
    assert "revision 0006" in refused.stderr
    with database.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0006"
    assert intake(tmp_path, "migrate").returncode == 0
    assert intake(tmp_path, "audit").returncode == 0
    database.dispose()
