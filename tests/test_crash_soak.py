"""Patients typing their answers while the bot is killed with SIGKILL again and again.

Each simulated patient answers the question they last received, in words, and types the
same answer again when no reply comes (as people do when a bot goes quiet) — the answer to the
question they last saw, even when a note came after it. Like a person,
a patient who sees a new message arrive while typing reads it before pressing send: an
answer sent at the very moment the next question appears is the one case no bot can
tell apart (the closing note says so). Afterwards
every stored answer must be the one that patient meant for that question: an answer
typed for one question and stored against another would show as a wrong value, because
neighbouring answers differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from pathlib import Path
from typing import Any

from bot.testing.fake_telegram import FakeTelegram
from dialogs import messages as m
from dialogs.i18n import translator
from dialogs.trial import find_trial
from storage.models import Answer
from tests.test_telegram_process import _rows, bot_process

# Neighbouring answers differ, so one that lands on the wrong question is seen.
PERSONA = {
    "consent_storage": ("yes", "yes"),
    "consent_contact": ("no", "no"),
    "respondent": ("1", "self"),
    "age": ("42", 42),
    "diagnosis": ("yes", "yes"),
    "had_surgery": ("no", "no"),
    "mri_resolved": ("yes", "yes"),
    "symptoms_course": ("about the same", "same"),
    "diabetes": ("no", "no"),
    "heart_disease": ("I don't know", "dont_know"),
    "liver_kidney": ("no", "no"),
    "heart_abnormality": ("I don't know", "dont_know"),
    "other_cns_disease": ("no", "no"),
    "back_infection": ("I don't know", "dont_know"),
    "autoimmune": ("no", "no"),
    "biologic_allergy": ("I don't know", "dont_know"),
    "recent_study": ("no", "no"),
    "follow_plan": ("yes", "yes"),
    "pregnancy": ("no", "no"),
    "serology": ("3", "dont_know"),  # a choice: "I don't know" would be read back
    "travel": ("yes", "yes"),
}
PATIENTS = 8
KILLS = 6
FIRST_PATIENT = 5001


def _questions() -> dict[str, str]:
    """The English text each question starts with, for telling which one a message asks."""
    trial = find_trial("nct07295067")
    t = translator("en", (trial.domain,))
    texts = {}
    for question in trial.questions:
        for variant in question.texts:
            texts[t(variant)] = question.id
    return texts


def _the_end(text: str) -> bool:
    return "contact" in text and "study team" in text and "Study coordinator" in text


def _last_asked(messages: list[dict[str, Any]], questions: dict[str, str]) -> str | None:
    """The answer to the latest question among `messages` (a person answers what they last saw)."""
    for message in reversed(messages):
        if message["text"].startswith(m.SUMMARY_INTRO):
            return "yes"
        asked = next((q for start, q in questions.items() if message["text"].startswith(start)), None)
        if asked is not None:
            return PERSONA[asked][0]
    return None


async def _patient(tg: FakeTelegram, user_id: int, questions: dict[str, str], done: set[int]) -> None:
    tg.send_text(user_id, "/start")
    seen = 0
    last_sent = time.monotonic()
    answer: str | None = None
    while True:
        messages = tg.messages_to(user_id)
        if len(messages) > seen:
            new, seen = messages[seen:], len(messages)
            text = messages[-1]["text"]
            if any(_the_end(message["text"]) for message in new):
                # The study's address, for someone who would rather not be called. It may come
                # before the answers to an answer typed again meanwhile ("you have finished…").
                done.add(user_id)
                return
            if text.startswith(m.SUMMARY_INTRO):
                answer = "yes"
            else:
                asked = next((q for start, q in questions.items() if text.startswith(start)), None)
                if asked is None:
                    # Not a question (a note before one, or after it: "your message was sent
                    # before this question reached you"): the question last seen is the one to
                    # answer, typed again only after a pause (below).
                    answer = _last_asked(messages, questions) or answer
                    await asyncio.sleep(0.05)
                    continue
                answer = PERSONA[asked][0]
            await asyncio.sleep(random.uniform(0.05, 0.3))  # reading and typing
            if len(tg.messages_to(user_id)) > seen:
                continue  # something new came meanwhile: a person reads it before pressing send
            tg.send_text(user_id, answer)
            last_sent = time.monotonic()
        elif answer is not None and time.monotonic() - last_sent > 1.5:
            tg.send_text(user_id, answer)  # nothing came back: type it again
            last_sent = time.monotonic()
        await asyncio.sleep(0.05)


async def test_typed_answers_never_land_on_another_question_under_repeated_sigkill(tmp_path: Path) -> None:
    random.seed(8)
    questions = _questions()
    done: set[int] = set()
    async with FakeTelegram() as tg:
        patients = [
            asyncio.create_task(_patient(tg, FIRST_PATIENT + n, questions, done)) for n in range(PATIENTS)
        ]
        try:
            for kill in range(KILLS + 1):
                with bot_process(tg, tmp_path) as process:
                    polls = len(tg.calls_to("getUpdates"))
                    await tg.wait_for(
                        lambda p=polls: len(tg.calls_to("getUpdates")) > p, timeout=30, what="polling"
                    )
                    if kill == KILLS:  # the last run is left alone until everyone has finished
                        with contextlib.suppress(AssertionError):  # judged below, with what was stored
                            await tg.wait_for(
                                lambda: len(done) == PATIENTS, timeout=120, what="everyone finished"
                            )
                    else:
                        await asyncio.sleep(random.uniform(0.5, 2.0))
                        process.send_signal(signal.SIGKILL)
        finally:
            for task in patients:
                task.cancel()
            await asyncio.gather(*patients, return_exceptions=True)

    transcript = {}  # each conversation in message order, both sides, to read when something is wrong
    for n in range(PATIENTS):
        chat = FIRST_PATIENT + n
        said = [(msg["message_id"], "  P: " + msg.get("text", "")) for msg in tg.messages_from(chat)]
        told = [
            (msg["message_id"], "B: " + msg["text"][:60].replace("\n", " ")) for msg in tg.messages_to(chat)
        ]
        transcript[chat] = "\n".join(f"{i:4} {t}" for i, t in sorted(said + told))
    wrong: list[Any] = []
    stored = [a for a in _rows(tmp_path, Answer) if a.superseded_at is None]
    for answer in stored:
        if answer.value != PERSONA.get(answer.question_id, ("", "never asked"))[1]:
            wrong.append((answer.screening_id, answer.question_id, answer.value))
    for chat, text in transcript.items():
        if wrong or chat not in done:
            print(chat, text, sep="\n")  # shown by pytest when an assertion below fails
    assert wrong == [], f"{len(wrong)} of {len(stored)} answers stored against the wrong question"
    assert len(done) == PATIENTS and len(stored) == PATIENTS * len(PERSONA), "everyone answered everything"
