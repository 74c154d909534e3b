"""What the web chat's and the console's pages share."""

from __future__ import annotations

import hmac

from babel import Locale

from dialogs.i18n import Translator


def page_language(t: Translator) -> dict[str, str]:
    """What every page says of its language: `lang` (BCP 47) and `dir` for the <html> element."""
    return language_of(t.locale)


def language_of(locale: str) -> dict[str, str]:
    """`lang` (BCP 47) and `dir` for an element written in `locale`: the page, or a part of it
    in another language (each line and button of the language menu)."""
    return {"lang": locale.replace("_", "-"), "dir": Locale.parse(locale).text_direction}


def matches(given: object, expected: str) -> bool:
    """Whether a posted token is the expected one, in constant time. Compared as bytes: any
    text a client sends (not only ASCII) is a wrong token, never an error."""
    return hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"), expected.encode("utf-8"))
