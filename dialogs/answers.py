"""Reading a person's answer: what it means, and how sure that is, for one question or menu.

A tap, an option's number or label, a keyword of the option on its own, or the
language's plain word for yes, no or "I don't know" is sure. Anything else the
words suggest is to be read back; hedges and questions are unsure; the rest is
unclear (`dialogs.understanding` holds the rules, `locales/*/answers.yaml` the
words). A voice transcript goes through the same reading, and is never sure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from dialogs import messages as m
from dialogs.conditions import DONT_KNOW
from dialogs.i18n import Translator, names_of, negotiate
from dialogs.inputs import Choice, Text
from dialogs.trial import Question
from dialogs.understanding import (
    ANSWER_VALUES,
    MAX_OPTION_ANSWER,
    Certainty,
    Lexicon,
    Reading,
    clean,
    match_phrase,
    normalize,
    parse_phone,
    read_number,
    read_options,
)


@lru_cache(maxsize=1024)
def _keyword_phrases(keywords: str, translators: tuple[Translator, ...]) -> tuple[str, ...]:
    """An option's other words ("a|b|c"), in English and every language, normalized for matching."""
    translated = dict.fromkeys((keywords, *(t(keywords) for t in translators)))
    return tuple(dict.fromkeys(normalize(k) for text in translated for k in text.split("|") if k.strip()))


Problem = tuple[str, dict[str, Any]]


class AnswerReader:
    """Reads answers in one person's language (`t`), with every shipped language's words.

    `lexicon` holds every language's ways of answering, `everyone` a translator per
    shipped language, so a trial's option keywords are recognised in any of them.
    """

    def __init__(
        self, lexicon: Lexicon, t: Translator, locales: list[str], everyone: tuple[Translator, ...] = ()
    ) -> None:
        self.lexicon = lexicon
        self.t = t
        self.locales = locales
        self.everyone = everyone or (t,)

    def read(self, question: Question, message: Choice | Text) -> tuple[Reading, Problem]:
        """What `message` means as an answer to `question`, and what to say if it cannot be used."""
        if question.kind in ("yes_no", "consent", "choice"):
            problem = m.NOT_UNDERSTOOD_CHOICE if question.kind == "choice" else m.NOT_UNDERSTOOD_YES_NO
            if isinstance(message, Text) and len(message.text) > MAX_OPTION_ANSWER:
                problem = m.TOO_LONG_FOR_CHOICE
            options = {o.value: o.text for o in question.choices}
            keywords = {o.value: self._keywords(o.keywords) for o in question.choices if o.keywords}
            return self._voice(message, self.read_options(message, options, keywords)), (problem, {})
        if isinstance(message, Choice):
            return Reading(), (m.NOT_UNDERSTOOD_CHOICE, {})
        if message.via == "contact" and question.kind != "phone":
            # A shared contact card carries a phone number (and a name that may not be theirs).
            return Reading(), (m.UNSUPPORTED, {})
        text = message.text
        if question.kind == "number":
            bounds = {"min": question.min, "max": question.max, "example": 42}
            reading = read_number(text, self.lexicon)
            if reading.value is not None and not (question.min or 0) <= reading.value <= (question.max or 0):
                reading = Reading()
            return self._voice(message, reading), (m.NOT_UNDERSTOOD_NUMBER, bounds)
        if question.kind == "phone":
            phone = parse_phone(text) if len(text) <= 40 else None
            return self._voice(message, Reading(phone, Certainty.SURE if phone else Certainty.UNCLEAR)), (
                m.NOT_UNDERSTOOD_PHONE,
                {},
            )
        # One line, as a card or a list shows it: new lines, U+2028 and the like become spaces.
        cleaned = clean(" ".join(text.split()))
        if not any(c.isalnum() for c in cleaned):  # blank, punctuation, or invisible characters only
            return Reading(), (m.TEXT_EMPTY, {})
        if len(cleaned) > question.max_length:
            return Reading(), (m.TEXT_TOO_LONG, {"max": question.max_length})
        return self._voice(message, Reading(cleaned, Certainty.SURE)), (m.TEXT_EMPTY, {})

    @staticmethod
    def _voice(message: Choice | Text, reading: Reading) -> Reading:
        """A transcript may be misheard: even an exact one is read back."""
        if isinstance(message, Text) and message.via == "voice" and reading.sure:
            return replace(reading, certainty=Certainty.READ_BACK)
        return reading

    def _keywords(self, keywords: str) -> tuple[str, ...]:
        return _keyword_phrases(keywords, self.everyone)

    def read_options(
        self,
        message: Choice | Text,
        options: Mapping[str, str],
        keywords: Mapping[str, Iterable[str]] | None = None,
        words: Mapping[str, Iterable[str]] | None = None,
    ) -> Reading:
        """Which of `options` (value: label) a tap or a typed answer means, and how sure that is.

        Sure: a tap, the option's number, its label (in English or the person's
        language), one of `words` on its own, or the language's plain word for yes,
        no or "I don't know" where that is an option. `keywords` (the trial's other
        ways of saying an option: "no improvement") only suggest it: read back.
        """
        if isinstance(message, Choice):
            return Reading(message.value, Certainty.SURE) if message.value in options else Reading()
        lexicon = self.lexicon
        exact: dict[str, list[str]] = {}
        for number, (value, label) in enumerate(options.items(), start=1):
            exact[value] = [str(number), normalize(label), normalize(self.t(label))]
            exact[value] += [*lexicon.exact.get(value, ()), *(words or {}).get(value, ())]
        phrases = {
            value: [*exact[value], *(keywords or {}).get(value, ()), *lexicon.phrases.get(value, ())]
            for value in options
        }
        # Yes, no and "I don't know" are recognised where they are no option, so that they are
        # not taken for one ("I don't know" is not "no").
        for value in ANSWER_VALUES:
            phrases.setdefault(value, list(lexicon.phrases.get(value, ())))
        reading = read_options(message.text, exact, phrases, lexicon)
        if reading.value is not None and reading.value not in options:
            return Reading(certainty=Certainty.UNSURE if reading.value == DONT_KNOW else Certainty.UNCLEAR)
        return reading

    def read_menu(
        self,
        message: Choice | Text,
        options: Mapping[str, str],
        words: Mapping[str, Iterable[str]] | None = None,
    ) -> str | None:
        """The option of a menu (summary, delete, restart…) meant for certain, or None: menus never guess."""
        reading = self.read_options(message, options, words=words)
        return reading.value if reading.sure else None

    def summary_words(self) -> dict[str, tuple[str, ...]]:
        """Whole answers that confirm a summary ("that's right", 信息无误) or ask to change it."""
        lexicon = self.lexicon
        return {
            "confirm": (*lexicon.confirm, *lexicon.exact.get("yes", ())),
            "change": lexicon.exact.get("no", ()),
        }

    def confirm_words(self) -> dict[str, tuple[str, ...]]:
        """Whole answers that confirm a read-back ("that's right", 没错), beside the plain yes words."""
        return {"yes": self.lexicon.confirm}

    def language(self, message: Choice | Text) -> str | None:
        locales = self.locales
        if isinstance(message, Choice):
            return message.value if message.value in locales else None
        stripped = normalize(message.text)
        if stripped.isdigit() and 1 <= int(stripped) <= len(locales):
            return locales[int(stripped) - 1]
        # Each locale scores the length of all its names found ("繁體" + "中文" beats "中文");
        # a tie goes to the earlier menu entry.
        scores = [
            (sum(len(n) for n in names_of(locale, locales) if self._names(message.text, n)), -index, locale)
            for index, locale in enumerate(locales)
        ]
        best = max(scores)
        return best[2] if best[0] else negotiate(message.text.strip(), locales)

    @staticmethod
    def _names(text: str, name: str) -> bool:
        return match_phrase(text, {name: [normalize(name)]}) == name
