"""Speech: what a voice note costs, what it costs everyone else, and what reading aloud costs.

    .venv/bin/python -m bench.voice [--model DIR ...] [--voice LOCALE=ENGINE ...] [--notes 5] [--workers 1]

Speech-to-text, per model (default: both that PyPI packages ship: whisper tiny.en and the
multilingual base), each in a process of its own so that its peak memory is its own:
the load time; for notes of about 2, 10 and 30 seconds (espeak-ng speech, encoded as
Telegram does), the latency per note (decode + transcribe) p50/p95 and the real-time
factor, in English and, for a multilingual model, a 2 s note in Chinese; the peak memory;
and the latency of other people's typed answers (engine turns on SQLite) p50/p99 while
voice notes are transcribed in the pool, beside the same without voice in the same run.

Text-to-speech, per engine (default: espeak-ng; `--voice zh_Hans=command:/srv/tts/zh` adds
one): the time to read one of the trial's questions aloud into a voice note, p50/p95, for
each of the six languages, and for a question already in the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.engine import ANSWERS, engine_on
from bot.speech.audio import decode, ogg_opus
from bot.speech.listener import Listener
from bot.speech.recognition import Whisper
from bot.speech.speaker import Speaker
from bot.speech.synthesis import Espeak, TextToSpeech, voice_from
from dialogs.engine import Address, Engine, Reply, Start, Text
from dialogs.i18n import shipped_locales, translator
from dialogs.trial import find_trial

SENTENCES = {"en": "I am forty two years old. ", "zh_Hans": "我今年四十二岁。"}


def note(seconds: float, locale: str = "en") -> tuple[bytes, float]:
    """Speech of about `seconds`, as a voice note, and its real length."""
    speech = Espeak().speak(SENTENCES[locale], locale)
    repeated = np.tile(speech.samples, max(1, round(seconds * speech.rate / speech.samples.size)))
    return ogg_opus(repeated, speech.rate), repeated.size / speech.rate


def _pct(values: list[float]) -> tuple[float, float, float]:
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return q[49], q[94], q[98]


async def typed_turns(engine: Engine, people: int, answers: int) -> list[float]:
    """Other people answering by typing, each after the previous reply."""
    latencies: list[float] = []

    async def person(n: int) -> None:
        address = Address("bench", f"typist-{n}")
        for message in [Start(locale="en"), *(Text(a) for a in ANSWERS[:answers])]:
            began = time.perf_counter()
            await asyncio.to_thread(engine.handle, address, message)
            replies = await asyncio.to_thread(engine.outbox, address)
            await asyncio.to_thread(engine.sent, address, replies)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(person(n) for n in range(people)))
    return latencies


def _transcribed(whisper: Whisper, data: bytes, language: str, times: int) -> list[float]:
    latencies = []
    for _ in range(times):
        began = time.perf_counter()
        whisper.transcribe(decode(data), language)
        latencies.append(time.perf_counter() - began)
    return latencies


async def one_model(model: Path, notes: int, workers: int) -> None:
    """Speech-to-text with one model (run in a process of its own)."""
    began = time.perf_counter()
    whisper = Whisper(model)
    print(f"  loaded in {time.perf_counter() - began:.2f} s")
    cases = [(seconds, "en") for seconds in (2, 10, 30)]
    if whisper.multilingual:
        cases.append((2, "zh_Hans"))
    for seconds, locale in cases:
        data, length = note(seconds, locale)
        latencies = _transcribed(whisper, data, locale.split("_")[0], notes)
        p50, p95, _ = _pct(latencies)
        print(
            f"  {locale:7} note {length:4.1f} s: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
            f"real-time factor {statistics.median(latencies) / length:.3f}"
        )

    listener = Listener({"en": model}, workers=workers, queue_limit=1000, load=lambda _: whisper)
    voice_note, _ = note(10)
    with tempfile.TemporaryDirectory() as folder:
        engine = engine_on(f"sqlite:///{folder}/bench.db")
        alone = await typed_turns(engine, 10, 8)
        voices = asyncio.gather(*(listener.listen(voice_note, "en") for _ in range(notes * 2)))
        beside = await typed_turns(engine, 10, 8)
        await voices
    a50, _, a99 = _pct(alone)
    b50, _, b99 = _pct(beside)
    print(f"  typed answers of 10 others, alone: p50 {a50:.0f} ms, p99 {a99:.0f} ms")
    print(
        f"  the same while {notes * 2} notes of 10 s are transcribed ({workers} worker): "
        f"p50 {b50:.0f} ms, p99 {b99:.0f} ms"
    )
    print(f"  peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def read_aloud(name: str, voice: TextToSpeech, locales: list[str], times: int) -> None:
    """Reading the trial's questions aloud into voice notes, with one engine."""
    trial = find_trial("nct07295067")
    print(f"text-to-speech {name} ({voice.name})")
    for locale in locales:
        t = translator(locale, (trial.domain,))
        texts = [q.texts[0] for q in trial.questions][:times]
        speaker = Speaker({"*": voice})
        latencies = []
        for text in texts:
            began = time.perf_counter()
            speaker.audio(Reply(t(text), locale=locale))
            latencies.append(time.perf_counter() - began)
        began = time.perf_counter()
        speaker.audio(Reply(t(texts[0]), locale=locale))
        cached = time.perf_counter() - began
        p50, p95, _ = _pct(latencies)
        print(f"  {locale:7} a question: p50 {p50:.0f} ms, p95 {p95:.0f} ms; cached {cached * 1e6:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, action="append", help="a faster-whisper model directory")
    parser.add_argument("--voice", action="append", default=[], help="LOCALE=ENGINE, as INTAKE_SPEECH_VOICES")
    parser.add_argument("--notes", type=int, default=5, help="notes of each length")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--one-model", type=Path, help=argparse.SUPPRESS)  # the per-model process
    args = parser.parse_args()
    if args.one_model:
        asyncio.run(one_model(args.one_model, args.notes, args.workers))
        return

    with tempfile.TemporaryDirectory() as folder:
        if not args.model:
            from bot.testing import speech_models

            args.model = [speech_models.english(), speech_models.multilingual(Path(folder))]
        for model in args.model:
            print(f"speech-to-text faster-whisper, int8, one thread: {model}", flush=True)
            command = [sys.executable, "-m", "bench.voice", "--one-model", str(model)]
            command += ["--notes", str(args.notes), "--workers", str(args.workers)]
            subprocess.run(command, check=True)

    locales = shipped_locales()
    read_aloud("espeak-ng", Espeak(), locales, args.notes * 2)
    for entry in args.voice:
        where, _, spec = entry.partition("=")
        read_aloud(spec, voice_from(spec), [where], args.notes * 2)


if __name__ == "__main__":
    main()
