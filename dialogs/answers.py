"""Reading a person's answer: what it means, and how sure that is, for one question or menu.

A tap, an option's number or label, a keyword of the option on its own, or the
language's plain word for yes, no or "I don't know" is sure. Anything else the
words suggest is to be read back; hedges and questions are unsure; the rest is
unclear (`dialogs.understanding` holds the rules, `locales/*/answers.yaml` the
words). A voice transcript goes through the same reading, and is never sure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from functools import lru_cache
from typing import Any

from dialogs import messages as m
from dialogs.ages import read_age
from dialogs.i18n import Translator, names_of, negotiate
from dialogs.inputs import Choice, Text
from dialogs.reading import Shown, ShownOption, read_reply
from dialogs.trial import Question
from dialogs.understanding import (
    MAX_OPTION_ANSWER,
    Certainty,
    Lexicon,
    Reading,
    clean,
    match_phrase,
    normalize,
    parse_phone,
    read_number,
)


@lru_cache(maxsize=1024)
def _keyword_phrases(keywords: str, translators: tuple[Translator, ...]) -> tuple[str, ...]:
    """An option's other words ("a|b|c"), in English and every language."""
    translated = dict.fromkeys((keywords, *(t(keywords) for t in translators)))
    return tuple(dict.fromkeys(k.strip() for text in translated for k in text.split("|") if k.strip()))


Problem = tuple[str, dict[str, Any]]

# The lexicon's whole answers (`menus:` in answers.yaml) for each option of each of the bot's menus.
MENU_WORDS: dict[str | None, dict[str, str]] = {
    "read_back": {"yes": "confirm", "no": "wrong"},
    "summary": {"confirm": "confirm", "change": "change"},
    "delete": {"yes": "delete", "no": "keep"},
    "restart": {"yes": "restart", "no": "keep"},
    "other_studies": {"yes": "interested", "no": "not_interested"},
}


class AnswerReader:
    """Reads answers in one person's language (`t`), with every shipped language's words.

    `lexicon` holds every language's ways of answering, `everyone` a translator per
    shipped language, so a trial's option keywords are recognised in any of them.
    """

    def __init__(
        self,
        lexicon: Lexicon,
        t: Translator,
        locales: list[str],
        everyone: tuple[Translator, ...] = (),
        today: date | None = None,
    ) -> None:
        self.lexicon = lexicon
        self.t = t
        self.locales = locales
        self.everyone = everyone or (t,)
        self.today = today or date.today()  # for an age given as a birth year

    def read(
        self, question: Question, message: Choice | Text, wording: str | None = None
    ) -> tuple[Reading, Problem]:
        """What `message` means as an answer to `question` (worded as `wording`, its English source
        text as the person saw it), and what to say if it cannot be used."""
        if question.kind in ("yes_no", "consent", "choice"):
            problem = m.NOT_UNDERSTOOD_CHOICE if question.kind == "choice" else m.NOT_UNDERSTOOD_YES_NO
            if isinstance(message, Text) and len(message.text) > MAX_OPTION_ANSWER:
                problem = m.TOO_LONG_FOR_CHOICE
            shown = self.shown(question, wording or question.texts[0])
            return self._voice(message, self._read_shown(shown, message)), (problem, {})
        if isinstance(message, Choice):
            return Reading(), (m.NOT_UNDERSTOOD_CHOICE, {})
        if message.via == "contact" and question.kind != "phone":
            # A shared contact card carries a phone number (and a name that may not be theirs).
            return Reading(), (m.UNSUPPORTED, {})
        text = message.text
        if question.kind == "number":
            bounds = {"min": question.min, "max": question.max, "example": 42}
            if question.number == "age":
                reading = read_age(text, self.lexicon, self.today)
            else:
                reading = read_number(text, self.lexicon)
            if reading.value is not None and not (question.min or 0) <= reading.value <= (question.max or 0):
                reading = Reading()
            return self._voice(message, reading), (m.NOT_UNDERSTOOD_NUMBER, bounds)
        if question.kind == "phone":
            # A shared contact card's number carries its country code, with or without a +.
            phone = parse_phone(text, international=message.via == "contact") if len(text) <= 40 else None
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

    def shown(self, question: Question, wording: str) -> Shown:
        """`question` as the person saw it: in their language, worded as `wording`."""
        options = tuple(
            ShownOption(
                o.value,
                (self.t(o.text), o.text),
                _keyword_phrases(o.keywords, self.everyone) if o.keywords else (),
            )
            for o in question.choices
        )
        return Shown(question.kind, (self.t(wording), wording), options)

    def _read_shown(self, shown: Shown, message: Choice | Text) -> Reading:
        if isinstance(message, Choice):
            values = {o.value for o in shown.options}
            return Reading(message.value, Certainty.SURE) if message.value in values else Reading()
        return read_reply(shown, message.text, self.lexicon, self.today)

    def read_menu(
        self,
        message: Choice | Text,
        options: Mapping[str, str],
        menu: str | None = None,
        asked: str | None = None,
    ) -> Reading:
        """Which option of one of the bot's menus (summary, delete, restart…) a reply means.

        Sure is a tap, the option's number or label, the plain yes or no word where the option
        is yes or no, or one of the language's whole answers for it (`MENU_WORDS`: "that's
        right", 删了吧). Other words for it ("是的，没有问题", "delete it all") are read as any
        answer is. `asked` is the menu's question (its English source), where it has one."""
        words = {value: self.lexicon.menus.get(name, ()) for value, name in MENU_WORDS.get(menu, {}).items()}
        exact = self.lexicon.exact
        if menu == "read_back":
            words["yes"] = (*words.get("yes", ()), *self.lexicon.confirm)
        elif menu == "summary":  # yes and no confirm a summary or not, as they do a read-back
            agree = self.lexicon.agreement
            words["confirm"] = (
                *words.get("confirm", ()),
                *self.lexicon.confirm,
                *exact["yes"],
                *agree["yes"],
            )
            words["change"] = (*words.get("change", ()), *exact["no"], *agree["no"])
        shown = Shown(
            "menu",
            (self.t(asked), asked) if asked else (),
            tuple(
                ShownOption(value, (self.t(label), label), words.get(value, ()), words.get(value, ()))
                for value, label in options.items()
            ),
        )
        # Not demoted for a transcript, as an answer is: the dialog decides what a spoken menu answer may do.
        reading = self._read_shown(shown, message)
        typed = isinstance(message, Text) and not reading.sure
        if menu == "read_back" and typed and read_number(message.text, self.lexicon).value is not None:
            return Reading()  # "she is 67" is no "yes, that's right" but an answer to come
        return reading

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
