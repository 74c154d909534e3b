"""Speech-to-text: faster-whisper (CTranslate2, no torch) from a local model directory.

The bot never downloads weights: a model is a directory an operator installed once
(`local_files_only`). Short answers: the person's language forced, greedy decoding, voice
activity detection, no timestamps, no conditioning on earlier text. The answer options
are never put in the prompt: whisper would then "hear" them. A transcript the model is
unsure of, or that holds no speech, is no transcript: the person is asked again.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

# Below this (the mean token probability), or above this chance of no speech: ask again. Every
# transcript is read back anyway; this only spares the person a read-back of noise.
MIN_CONFIDENCE = 0.35
MAX_NO_SPEECH = 0.6
# Whisper's own sign of a decoder stuck in a loop ("右边边边边…"), often with high confidence.
MAX_COMPRESSION_RATIO = 2.4


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # 0..1, the mean probability of the words


@dataclass(frozen=True)
class Hearing:
    """All that the model made of a recording, before the bot decides whether to trust it."""

    text: str
    confidence: float
    no_speech: float  # the model's chance that nothing was said
    compression_ratio: float  # text repeating itself compresses well: a loop

    @property
    def transcript(self) -> Transcript | None:
        if not self.text or self.no_speech > MAX_NO_SPEECH or self.compression_ratio > MAX_COMPRESSION_RATIO:
            return None
        return Transcript(self.text, self.confidence) if self.confidence >= MIN_CONFIDENCE else None


class SpeechToText(Protocol):
    name: str

    def transcribe(self, samples: np.ndarray, language: str) -> Transcript | None:
        """What was said in `language` (ISO 639-1), or None: nothing understood for sure."""
        ...


class Whisper:
    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: never the network
        from faster_whisper import WhisperModel  # loads CTranslate2: only where voice is used

        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"no whisper model in {model_dir} (model.bin missing)")
        self.name = f"faster-whisper:{model_dir.parent.name}/{model_dir.name}"
        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
        )
        self.multilingual = self.model.model.is_multilingual

    def transcribe(self, samples: np.ndarray, language: str) -> Transcript | None:
        return self.hear(samples, language).transcript

    def hear(self, samples: np.ndarray, language: str) -> Hearing:
        segments, _ = self.model.transcribe(
            samples,
            language=language if self.multilingual else None,
            beam_size=1,
            temperature=0,
            vad_filter=True,
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        heard = list(segments)
        text = "".join(segment.text for segment in heard).strip()
        if text.endswith((".", "。")) and not text.endswith(".."):
            text = text[:-1]  # whisper ends what it hears as a sentence: "John Smith." is a name
        if not heard:
            return Hearing("", 0.0, 1.0, 0.0)
        return Hearing(
            text,
            round(math.exp(sum(s.avg_logprob for s in heard) / len(heard)), 3),
            max(s.no_speech_prob for s in heard),
            max(s.compression_ratio for s in heard),
        )
