"""Speech: what a voice note costs, what it costs everyone else, and what reading aloud costs.

    .venv/bin/python -m bench.voice [--model DIR ...] [--voice LOCALE=ENGINE ...] [--notes 5] [--workers 1]

Speech-to-text, per model (default: both that PyPI packages ship: whisper tiny.en and the
multilingual base), each in a process of its own so that its peak memory is its own:
the load time; for notes of about 2, 10 and 30 seconds (espeak-ng speech, encoded as
Telegram does), the latency per note (decode + transcribe) p50/p95 and the real-time
factor, in English and, for a multilingual model, a 2 s note in Chinese; the peak memory;
and the latency of other people's typed answers (engine turns on SQLite) p50/p99 while
voice notes are transcribed in the pool, beside the same without voice in the same run.

What each model hears in short answers (espeak-ng 1.52): 是的 / 不是 / 没有 / 我不知道 /
我四十二岁 in Mandarin, yes / no / I don't know in English, at three speaking rates: the raw
transcript, its confidence, whether the bot takes it (else it asks again), and the time.

Scoring the question's options against the audio, beside free transcription, on the same
answers and on speech that answers nothing (off-topic phrases) and noise: right, wrong, asked
again, and false accepts. An option is scored as the sum of its best phrasing's token
log-probabilities, forced through the decoder (CTranslate2 `align`); it is taken only when it
scores at least SCORE_FLOOR and beats every other option by SCORE_MARGIN.

Text-to-speech, per engine (default: espeak-ng; `--voice zh_Hans=command:/srv/tts/zh` adds
one): the time to read one of the trial's questions aloud into a voice note, p50/p95, for
each of the six languages, and for a question already in the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.engine import ANSWERS, engine_on
from bot.speech.audio import RATE, decode, ogg_opus
from bot.speech.listener import Listener
from bot.speech.recognition import Whisper
from bot.speech.script import in_script
from bot.speech.speaker import Speaker
from bot.speech.synthesis import Espeak, TextToSpeech, voice_from
from dialogs.engine import Address, Engine, Reply, Start, Text
from dialogs.i18n import shipped_locales, translator
from dialogs.trial import find_trial
from dialogs.understanding import all_lexicons, read_options

# Short answers, with the option each means at a yes/no question (None: the age, a number).
SHORT_ANSWERS = {
    "zh_Hans": {"是的": "yes", "不是": "no", "没有": "no", "我不知道": "dont_know", "我四十二岁": None},
    "en": {"yes": "yes", "no": "no", "I don't know": "dont_know"},
}
# Speech that answers nothing: it must never become an option.
OFF_TOPIC = {
    "zh_Hans": ["今天天气很好", "我想一想", "请再说一遍"],
    "en": ["the weather is nice today", "let me think"],
}
RATES = (130, 160, 190)  # espeak-ng's words a minute: slow, usual, quick
# The options of a yes/no question, as whisper writes their plainest phrasings.
PHRASINGS = {
    "zh": {
        "yes": ["是", "是的", "对", "有"],
        "no": ["不是", "没有", "不", "否"],
        "dont_know": ["不知道", "我不知道", "不清楚"],
    },
    "en": {"yes": ["Yes", "Yeah"], "no": ["No", "Nope"], "dont_know": ["I don't know", "Not sure"]},
}
SCORE_FLOOR, SCORE_MARGIN = -5.0, 1.5  # nats

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


def said(text: str, locale: str, rate: int = 150) -> np.ndarray:
    """`text` as espeak-ng says it at `rate`, through a voice note, as the model gets it."""
    speech = Espeak(speed=rate).speak(text, locale)
    return decode(ogg_opus(speech.samples, speech.rate))


def what_is_heard(whisper: Whisper, locales: list[str]) -> None:
    print("  what it hears (espeak-ng 1.52; taken: else asked again)")
    for locale in locales:
        for text in SHORT_ANSWERS[locale]:
            for rate in RATES:
                began = time.perf_counter()
                hearing = whisper.hear(said(text, locale, rate), locale[:2])
                took = time.perf_counter() - began
                taken = "taken" if hearing.transcript else "asked again"
                heard = in_script(hearing.text, locale)
                print(
                    f"    {locale:7} {text!r:16} at {rate}: {heard[:24]!r:28} "
                    f"confidence {hearing.confidence:.2f} {taken:11} {took * 1000:5.0f} ms"
                )


def option_scores(whisper: Whisper, samples: np.ndarray, language: str) -> dict[str, float]:
    """Each option's best phrasing, forced through the decoder: the sum of its tokens' log-probabilities."""
    import ctranslate2
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = whisper.model
    tokenizer = Tokenizer(model.hf_tokenizer, whisper.multilingual, task="transcribe", language=language)
    features = model.feature_extractor(samples)
    frames = min(features.shape[-1], 3000)
    encoded = np.array(model.encode(pad_or_trim(features)))
    start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    phrasings = [(option, p) for option, ps in PHRASINGS[language].items() for p in ps]
    tokens = [tokenizer.encode(p if language == "zh" else f" {p}") for _, p in phrasings]
    batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(encoded, len(tokens), axis=0)))
    aligned = model.model.align(batch, start, tokens, [frames] * len(tokens))
    scores: dict[str, float] = {}
    for (option, _), result in zip(phrasings, aligned, strict=True):
        score = sum(math.log(max(p, 1e-9)) for p in result.text_token_probs)
        scores[option] = max(scores.get(option, -math.inf), score)
    return scores


def scored_option(whisper: Whisper, samples: np.ndarray, language: str) -> str | None:
    """The option the audio says, by scoring; None: not sure (or no speech at all)."""
    if whisper.hear(samples, language).no_speech > 0.6:
        return None
    (best, score), (_, second) = sorted(
        option_scores(whisper, samples, language).items(), key=lambda o: -o[1]
    )[:2]
    return best if score >= SCORE_FLOOR and score - second >= SCORE_MARGIN else None


def free_option(whisper: Whisper, samples: np.ndarray, locale: str) -> str | None:
    """The option the transcript says, read as the dialog's rules read a typed answer."""
    transcript = whisper.transcribe(samples, locale[:2])
    if transcript is None:
        return None
    lexicon = all_lexicons()
    return read_options(in_script(transcript.text, locale), lexicon.exact, lexicon.phrases, lexicon).value


def options_against_free(whisper: Whisper, locales: list[str]) -> None:
    """Scoring the options against the audio, beside free transcription read by the rules."""
    rng = np.random.default_rng(7)
    for locale in locales:
        cases = [(text, option) for text, option in SHORT_ANSWERS[locale].items() if option]
        cases += [(text, None) for text in OFF_TOPIC[locale]]
        tally = {
            way: {"right": 0, "wrong": 0, "asked again": 0, "false accept": 0} for way in ("free", "scored")
        }
        times: dict[str, list[float]] = {"free": [], "scored": []}
        clips = [(said(text, locale, rate), option) for text, option in cases for rate in RATES]
        clips += [(rng.normal(0, 0.1, RATE * 2).astype(np.float32), None) for _ in range(3)]  # noise
        for samples, meant in clips:
            for way, read in (("free", free_option), ("scored", scored_option)):
                began = time.perf_counter()
                got = read(whisper, samples, locale if way == "free" else locale[:2])
                times[way].append(time.perf_counter() - began)
                if meant is None:
                    outcome = "false accept" if got else "asked again"
                else:
                    outcome = "asked again" if got is None else "right" if got == meant else "wrong"
                tally[way][outcome] += 1
        answers, others = len(cases) - len(OFF_TOPIC[locale]), len(OFF_TOPIC[locale]) + 1
        print(
            f"  {locale}: {answers} answers and {others} kinds of non-answer (off-topic, noise), "
            f"each at {len(RATES)} rates or draws"
        )
        for way in ("free", "scored"):
            p50, p95, _ = _pct(times[way])
            counts = ", ".join(f"{k} {v}" for k, v in tally[way].items())
            print(f"    {way:6}: {counts}; p50 {p50:.0f} ms, p95 {p95:.0f} ms")


async def one_model(model: Path, notes: int, workers: int) -> None:
    """Speech-to-text with one model (run in a process of its own)."""
    began = time.perf_counter()
    whisper = Whisper(model)
    print(f"  loaded in {time.perf_counter() - began:.2f} s")
    locales = ["zh_Hans", "en"] if whisper.multilingual else ["en"]
    what_is_heard(whisper, locales)
    print("  options scored against the audio, beside free transcription (read by the rules)")
    options_against_free(whisper, locales)
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
            from bot.speech import models

            args.model = [models.english(), models.multilingual(Path(folder))]
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
