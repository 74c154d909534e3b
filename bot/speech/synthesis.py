"""Text-to-speech with espeak-ng, for all six languages, from the `espeakng-loader` wheel.

The wheel bundles espeak-ng 1.52 and its data, which speaks Mandarin tones right (Debian's
1.51 reads hanzi as pinyin with tone digits). The library keeps global state: one call at a
time, under a lock.
"""

from __future__ import annotations

import array
import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader

# The espeak-ng voice for each shipped locale.
VOICES = {"en": "en", "zh_Hans": "cmn", "zh_Hant": "cmn", "ru": "ru", "es": "es", "ar": "ar"}
_SYNCHRONOUS, _POS_CHARACTER, _UTF8 = 2, 1, 1
_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Speech:
    samples: array.array[int]  # signed 16-bit, mono
    rate: int


class Espeak:
    """espeak-ng, loaded once per process."""

    _lock = threading.Lock()
    _library: ctypes.CDLL | None = None
    _rate = 0
    version = ""
    _buffer: array.array[int] = array.array("h")

    def __init__(self) -> None:
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

    @staticmethod
    def _collect(wave: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0:
            Espeak._buffer.extend(wave[:count])
        return 0

    def speak(self, text: str, locale: str, speed: int = 150) -> Speech:
        """`text` read aloud in `locale`'s voice (words a minute: `speed`)."""
        voice = VOICES.get(locale) or VOICES.get(locale.split("_")[0]) or "en"
        data = text.encode()
        with self._lock:
            library = Espeak._library
            assert library is not None
            Espeak._buffer = array.array("h")
            if library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"espeak-ng has no voice {voice!r}")
            library.espeak_SetParameter(1, speed, 0)  # espeakRATE
            library.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _UTF8, None, None)
            library.espeak_Synchronize()
            return Speech(Espeak._buffer, Espeak._rate)
