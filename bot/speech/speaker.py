"""Questions read aloud: a reply's words as a voice note, synthesised once and cached per
message, language and engine (the same question is asked of many people)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from bot.speech.audio import ogg_opus
from bot.speech.synthesis import Espeak
from dialogs.outputs import Reply

ENGINE = "espeak-ng-1.52"


def words(reply: Reply) -> str:
    """What is read: the text, then each option with its number, as the console shows them."""
    options = " ".join(f"{n}. {option.label}." for n, option in enumerate(reply.options, 1))
    return f"{reply.text} {options}".strip()


class Speaker:
    def __init__(self, entries: int = 512) -> None:
        self.entries = entries
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(reply: Reply) -> str:
        return hashlib.sha256(f"{ENGINE}|{reply.locale}|{words(reply)}".encode()).hexdigest()[:32]

    def audio(self, reply: Reply) -> tuple[str, bytes]:
        """The reply read aloud as OGG/Opus, and its cache key."""
        key = self.key(reply)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return key, self._cache[key]
        speech = Espeak().speak(words(reply), reply.locale)
        data = ogg_opus(np.array(speech.samples, dtype=np.int16), speech.rate)
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return key, data

    def cached(self, key: str) -> bytes | None:
        with self._lock:
            return self._cache.get(key)
