"""How a stored answer reads in a reader's language: the person's summary, a coordinator's card."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal

from dialogs.i18n import Translator
from dialogs.trial import Question


def answer_text(question: Question, value: Any, t: Translator) -> str:
    """A stored answer as the reader's locale words it: an option's text, a number the locale's way."""
    option = question.option(str(value)) if question.choices else None
    if option is not None:
        return t(option.text)
    if question.kind == "number" and isinstance(value, int | float):
        return format_decimal(value, locale=t.locale)
    return " ".join(str(value).split())  # on one line, whatever was stored: no fake lines on a card
