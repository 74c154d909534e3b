"""Questions read aloud: a reply's words as a voice note, in an engine chosen per language,
synthesised once and cached per message, language and engine (the same question is asked of
many people). The text is what matters: when an engine fails, the reply goes without audio."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

from bot.speech.audio import ogg_opus
from bot.speech.listener import iso_language
from bot.speech.synthesis import Espeak, SpeechFailed, TextToSpeech
from dialogs.outputs import Reply

log = logging.getLogger(__name__)


# A command named in a text ("send /stop"): "slash stop" read aloud means nothing to a listener.
COMMAND = re.compile(r"(?<![\w/])/([a-z]+)\b")


def words(reply: Reply, commands: Mapping[str, str] | None = None) -> str:
    """What is read: the text, then each option with its number, as the console shows them. A
    command is read as what `commands` calls it (the web page's button for it), else as its name."""
    text = COMMAND.sub(lambda command: (commands or {}).get(command[1], command[1]), reply.text)
    options = " ".join(f"{n}. {option.label}." for n, option in enumerate(reply.options, 1))
    return f"{text} {options}".strip()


class Speaker:
    """`voices` maps a locale, an ISO language or "*" to an engine; espeak-ng for the rest."""

    def __init__(self, voices: Mapping[str, TextToSpeech] | None = None, entries: int = 512) -> None:
        self.voices = dict(voices or {})
        self.entries = entries
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._default: TextToSpeech | None = None
        # Keys are URLs on the web page (/speech/<key>.ogg), and a read-back or a summary holds a
        # person's answers: a secret of this process's own makes them unguessable from the words.
        self._secret = secrets.token_bytes(32)

    def voice_for(self, locale: str) -> TextToSpeech:
        voice = self.voices.get(locale) or self.voices.get(iso_language(locale)) or self.voices.get("*")
        if voice is None:
            self._default = self._default or Espeak()
            voice = self._default
        return voice

    def key(self, reply: Reply, commands: Mapping[str, str] | None = None) -> str:
        engine = self.voice_for(reply.locale).name
        said = f"{engine}|{reply.locale}|{words(reply, commands)}".encode()
        return hmac.new(self._secret, said, hashlib.sha256).hexdigest()[:32]

    def audio(self, reply: Reply, commands: Mapping[str, str] | None = None) -> tuple[str, bytes] | None:
        """The reply read aloud as OGG/Opus, and its cache key; None when the engine failed.
        `commands`: what the channel calls each command the text names."""
        key = self.key(reply, commands)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return key, self._cache[key]
        voice = self.voice_for(reply.locale)
        try:
            speech = voice.speak(words(reply, commands), reply.locale)
        except SpeechFailed as failure:  # says which engine and how, never the words
            log.warning("reading a question aloud in %s failed: %s", reply.locale, failure)
            return None
        data = ogg_opus(speech.samples, speech.rate)
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return key, data

    def cached(self, key: str) -> bytes | None:
        with self._lock:
            return self._cache.get(key)
