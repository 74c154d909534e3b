"""What the web chat's and the console's pages share."""

from __future__ import annotations

from dialogs.i18n import Translator


def page_language(t: Translator) -> dict[str, str]:
    """What every page says of its language: `lang` (BCP 47) and `dir` for the <html> element."""
    return {"lang": t.locale.replace("_", "-"), "dir": "rtl" if t.rtl else "ltr"}
