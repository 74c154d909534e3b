"""Recordings into engine inputs, off the event loop, never holding anyone else up.

Transcription is slow (whisper encodes a fixed 30 s window: about half a second per note
for tiny on 2 vCPU, several seconds for small), so it runs in a bounded pool of worker
threads. When too many recordings wait, or one takes too long, the person is asked to try
again in a minute or to type: a queue that only grows would hold every voice answer up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.speech.audio import AudioProblem, decode
from bot.speech.recognition import SpeechToText, Whisper
from bot.speech.script import in_script
from dialogs.inputs import Text, Unsupported

log = logging.getLogger(__name__)
Heard = Text | Unsupported


def iso_language(locale: str) -> str:
    """What speech engines call a language: zh_Hans -> zh."""
    return locale.split("_")[0].lower()


class Listener:
    """Speech-to-text per language: `models` maps an ISO language (or "*": any) to a model
    directory; each is loaded the first time it is needed."""

    def __init__(
        self,
        models: dict[str, Path],
        *,
        workers: int = 1,
        queue_limit: int = 8,
        timeout: float = 60.0,
        load: Callable[[Path], SpeechToText] = Whisper,
    ) -> None:
        self.models = models
        self.workers, self.queue_limit, self.timeout = workers, queue_limit, timeout
        self.load = load
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech")
        self._engines: dict[Path, SpeechToText] = {}
        self._lock = threading.Lock()
        self._waiting = 0

    def model_for(self, locale: str) -> Path | None:
        """The model directory that transcribes `locale`: its language's, else the one for any."""
        return self.models.get(iso_language(locale)) or self.models.get("*")

    @property
    def waiting(self) -> int:
        """Recordings queued or being transcribed now."""
        return self._waiting

    def understands(self, locale: str) -> bool:
        return self.model_for(locale) is not None

    def _engine(self, locale: str) -> SpeechToText:
        path = self.model_for(locale)
        assert path is not None
        with self._lock:
            if path not in self._engines:
                self._engines[path] = self.load(path)
            return self._engines[path]

    def hear(self, data: bytes, locale: str) -> Heard:
        """What a recording says, as the engine takes it (in a worker thread)."""
        language = iso_language(locale)
        if not self.understands(locale):
            return Unsupported("voice_unavailable")
        try:
            samples = decode(data)
        except AudioProblem as problem:
            return Unsupported(problem.kind)
        transcript = self._engine(locale).transcribe(samples, language)
        if transcript is None:
            return Unsupported("voice_unheard")
        return Text(in_script(transcript.text, locale), via="voice", confidence=transcript.confidence)

    async def listen(self, data: bytes, locale: str) -> Heard:
        """`hear`, in the pool: never on the event loop, never queued without bound."""
        if self._waiting >= self.queue_limit:
            return Unsupported("voice_busy")
        self._waiting += 1
        try:
            work = asyncio.get_running_loop().run_in_executor(self.pool, self.hear, data, locale)
            return await asyncio.wait_for(work, self.timeout)
        except TimeoutError:
            log.warning("a transcription took longer than %.0f s", self.timeout)
            return Unsupported("voice_busy")
        finally:
            self._waiting -= 1
