"""What the web chat's and the console's pages share."""

from __future__ import annotations

import hmac

from dialogs.i18n import Translator


def page_language(t: Translator) -> dict[str, str]:
    """What every page says of its language: `lang` (BCP 47) and `dir` for the <html> element."""
    return {"lang": t.locale.replace("_", "-"), "dir": "rtl" if t.rtl else "ltr"}


def matches(given: object, expected: str) -> bool:
    """Whether a posted token is the expected one, in constant time. Compared as bytes: any
    text a client sends (not only ASCII) is a wrong token, never an error."""
    return hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"), expected.encode("utf-8"))
