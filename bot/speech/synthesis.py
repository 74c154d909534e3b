"""Text-to-speech behind one small interface, an engine per language.

- `Espeak`: espeak-ng for all six languages, from the `espeakng-loader` wheel. The wheel
  bundles espeak-ng 1.52 and its data, which speaks Mandarin tones right (Debian's 1.51
  reads hanzi as pinyin with tone digits). The library keeps global state: one call at a
  time, under a lock.
- `CommandVoice`: any better engine an operator installs (a neural voice for Chinese, say),
  as a program that reads the text on its standard input, gets the locale as its argument,
  and writes the audio (WAV, or anything FFmpeg reads) to its standard output.

`voice_from("espeak" | "espeak:<voice>" | "command:/path/to/program")` builds one from the
configuration (INTAKE_SPEECH_VOICES).
"""

from __future__ import annotations

import array
import ctypes
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import espeakng_loader
import numpy as np

# The espeak-ng voice for each shipped locale.
VOICES = {"en": "en", "zh_Hans": "cmn", "zh_Hant": "cmn", "ru": "ru", "es": "es", "ar": "ar"}
_SYNCHRONOUS, _POS_CHARACTER, _UTF8 = 2, 1, 1
_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
# The longest a question read aloud may be (the consent text is the longest, about 40 s).
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # signed 16-bit, mono
    rate: int


class TextToSpeech(Protocol):
    name: str  # the engine and its voice: part of the read-aloud cache's key

    def speak(self, text: str, locale: str) -> Speech:
        """`text` read aloud in `locale`; raises SpeechFailed when the engine cannot."""
        ...


class SpeechFailed(Exception):
    pass


class Espeak:
    """espeak-ng, loaded once per process; `voice` overrides the one for the locale."""

    _lock = threading.Lock()
    _library: ctypes.CDLL | None = None
    _rate = 0
    _buffer: array.array[int] = array.array("h")
    version = ""

    def __init__(self, voice: str | None = None, speed: int = 150) -> None:
        with self._lock:
            if Espeak._library is None:
                library = ctypes.CDLL(espeakng_loader.get_library_path())
                path = espeakng_loader.get_data_path().encode()
                Espeak._rate = library.espeak_Initialize(_SYNCHRONOUS, 0, path, 0)
                if Espeak._rate <= 0:
                    raise RuntimeError("espeak-ng did not start")
                Espeak._keep = _Callback(self._collect)  # referenced for as long as the library
                library.espeak_SetSynthCallback(Espeak._keep)
                library.espeak_Info.restype = ctypes.c_char_p
                Espeak.version = library.espeak_Info(None).decode()
                Espeak._library = library
            if voice is not None and Espeak._library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r} (see espeak-ng --voices)")
        self.voice, self.speed = voice, speed
        self.name = f"espeak-ng-{self.version}" + (f":{voice}" if voice else "")

    @staticmethod
    def _collect(wave: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0:
            Espeak._buffer.extend(wave[:count])
        return 0

    def speak(self, text: str, locale: str) -> Speech:
        voice = self.voice or VOICES.get(locale) or VOICES.get(locale.split("_")[0]) or "en"
        data = text.encode()
        with self._lock:
            library = Espeak._library
            assert library is not None
            Espeak._buffer = array.array("h")
            if library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechFailed(f"espeak-ng has no voice {voice!r}")
            library.espeak_SetParameter(1, self.speed, 0)  # espeakRATE, words a minute
            library.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _UTF8, None, None)
            library.espeak_Synchronize()
            return Speech(np.frombuffer(Espeak._buffer, dtype=np.int16).copy(), Espeak._rate)


class CommandVoice:
    """A text-to-speech program: text on standard input, the locale as its argument, audio out."""

    def __init__(self, program: Path, timeout: float = 30.0) -> None:
        if not (program.is_file() and os.access(program, os.X_OK)):
            raise ValueError(f"{program} is not an executable program")
        self.program, self.timeout = program, timeout
        self.name = f"command:{program}"

    def speak(self, text: str, locale: str) -> Speech:
        from bot.speech.audio import RATE, AudioProblem, decode  # PyAV: only for what it says

        try:
            done = subprocess.run(
                [str(self.program), locale],
                input=text.encode(),
                capture_output=True,
                timeout=self.timeout,
                check=True,
            )
            samples = decode(done.stdout, max_seconds=MAX_SECONDS, max_bytes=64 * 1024 * 1024)
        except subprocess.TimeoutExpired:
            raise SpeechFailed(f"{self.program} took over {self.timeout:.0f} s") from None
        except subprocess.CalledProcessError as error:
            raise SpeechFailed(f"{self.program} exited with {error.returncode}") from None
        except AudioProblem as problem:
            raise SpeechFailed(f"{self.program} wrote no usable audio ({problem.kind})") from None
        return Speech((np.clip(samples, -1, 1) * 32767).astype(np.int16), RATE)


def voice_from(spec: str) -> TextToSpeech:
    """An engine from its configuration: "espeak", "espeak:<voice>" or "command:<program>"."""
    kind, _, argument = spec.partition(":")
    if kind == "espeak":
        return Espeak(argument or None)
    if kind == "command" and argument:
        return CommandVoice(Path(argument))
    raise ValueError(f"{spec!r} is not espeak, espeak:<voice> or command:/path/to/program")
