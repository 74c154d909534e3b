"""A wrong configured value is one clear line at start, naming the setting: never a traceback,
never a secret, and nothing created before it is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("INTAKE_WEB_PORT=eighty", "INTAKE_WEB_PORT: Input should be a valid integer"),
        ("INTAKE_TIMEZONE=Mars/Base", "INTAKE_TIMEZONE: Value error, 'Mars/Base' is not a time zone"),
        ("INTAKE_COORDINATOR_LANGUAGE=xx", "INTAKE_COORDINATOR_LANGUAGE: Value error, 'xx' is none of the"),
        ("INTAKE_COORDINATOR_CHAT_IDS=@study", "INTAKE_COORDINATOR_CHAT_IDS: not a chat id"),
        ("INTAKE_DATABASE_URL=mysql+nope://u:s3cret@db/x", "INTAKE_DATABASE_URL is not a database URL"),
        ("INTAKE_DATABASE_URL=s3cret", "INTAKE_DATABASE_URL is not a database URL"),
        ("INTAKE_SPEECH_WORKERS=many", "INTAKE_SPEECH_WORKERS: Input should be a valid integer"),
        ("INTAKE_SPEECH_MODELS=en=/nowhere", "INTAKE_SPEECH_MODELS: 'en=/nowhere': no whisper model there"),
        ("INTAKE_SPEECH_MODELS=/srv/whisper", "INTAKE_SPEECH_MODELS: '/srv/whisper' is not language="),
        ("INTAKE_SPEECH_VOICES=zh=piper", "INTAKE_SPEECH_VOICES: zh=piper: 'piper' is not espeak"),
        ("INTAKE_SPEECH_VOICES=zh=command:/nowhere", "/nowhere is not an executable program"),
        ("INTAKE_SPEECH_VOICES=ru=espeak:zz", "espeak-ng has no voice 'zz'"),
    ],
)
def test_a_wrong_setting_is_one_clear_line_at_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    said: str,
) -> None:
    name, _, value = setting.partition("=")
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(name, value)
    assert main(["chat", "--lang", "en"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and said in error and error.count("\n") == 1, error
    assert "s3cret" not in error, "a password in a URL is never repeated"
    if name != "INTAKE_COORDINATOR_CHAT_IDS" and not name.startswith("INTAKE_DATABASE"):
        assert not (tmp_path / "data").exists(), "nothing created before the error"
