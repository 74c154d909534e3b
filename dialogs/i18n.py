"""Translations: gettext catalogs under `locales/`, and choosing a locale.

Each locale has the bot's own domain (`intake`) and one domain per trial.
Messages are looked up in the trial's domain first, then the bot's, then
left as the English message id. Compiled `.mo` files are built by
`make catalogs`; a missing or stale one is compiled from its `.po` in memory.
"""

from __future__ import annotations

import gettext
import io
import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
BOT_DOMAIN = "intake"
SOURCE_LOCALE = "en"

log = logging.getLogger(__name__)


# Bidi isolates: a Latin reference or a phone number inside Arabic text keeps its own order.
_ISOLATE, _POP = "\u2068", "\u2069"


@dataclass(frozen=True)
class Translator:
    """Translates messages into one locale: `t("Hello {name}", name=...)`."""

    locale: str
    catalog: gettext.NullTranslations
    rtl: bool = False

    def __call__(self, message: str, **params: Any) -> str:
        return self._fill(self.catalog.gettext(message), params)

    def plural(self, message: tuple[str, str], n: int, **params: Any) -> str:
        """The form of `message` (an `NP_` pair) that the locale's plural rule picks for `n`."""
        singular, plural = message
        return self._fill(self.catalog.ngettext(singular, plural, n), {"n": n, **params})

    def _fill(self, text: str, params: dict[str, Any]) -> str:
        if not params:
            return text
        if self.rtl:
            params = {key: f"{_ISOLATE}{value}{_POP}" for key, value in params.items()}
        return text.format(**params)


def shipped_locales(locales_dir: Path = LOCALES_DIR) -> list[str]:
    """The locales offered to people, in menu order: those listed in `locales/LINGUAS`."""
    linguas = locales_dir / "LINGUAS"
    if not linguas.exists():
        return []
    lines = (line.split("#")[0].strip() for line in linguas.read_text(encoding="utf-8").splitlines())
    return [
        line for line in lines if line and (locales_dir / line / "LC_MESSAGES" / f"{BOT_DOMAIN}.po").exists()
    ]


def translator(locale: str, domains: tuple[str, ...] = (), locales_dir: Path = LOCALES_DIR) -> Translator:
    """A translator for `locale`, looking in `domains` first, then the bot's domain."""
    rtl = Locale.parse(locale).text_direction == "rtl"
    return Translator(locale, _chain(locale, (*domains, BOT_DOMAIN), locales_dir), rtl)


@cache
def _chain(locale: str, domains: tuple[str, ...], locales_dir: Path) -> gettext.NullTranslations:
    chain: gettext.NullTranslations | None = None
    for domain in domains:
        catalog = _load(locales_dir / locale / "LC_MESSAGES", domain)
        if chain is None:
            chain = catalog
        else:
            chain.add_fallback(catalog)
    return chain or gettext.NullTranslations()


def _load(directory: Path, domain: str) -> gettext.NullTranslations:
    po, mo = directory / f"{domain}.po", directory / f"{domain}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if not po.exists():
        return gettext.NullTranslations()
    # No compiled catalog (e.g. straight after a checkout): compile this one in memory.
    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


_SUBTAG = re.compile(r"[-_]")


def pick_locale(tag: str | None, available: list[str] | None = None) -> str:
    """The shipped locale for `tag`, or the source language when none serves it: the one fallback."""
    return negotiate(tag, available) or SOURCE_LOCALE


def negotiate(tag: str | None, available: list[str] | None = None) -> str | None:
    """The shipped locale that serves a language tag best, or None.

    Accepts the spellings people and platforms use: `zh`, `zh-CN`, `zh_Hans`,
    `zh-TW`, `zh-hk`, `ar-EG`, `en_US.UTF-8`. Chinese is matched by script:
    Hong Kong and Taiwan read Traditional, the mainland Simplified.
    """
    if not tag:
        return None
    available = available if available is not None else shipped_locales()
    wanted = _parse(tag)
    if wanted is None:
        return None
    language, script = wanted
    same_language = [a for a in available if (_parse(a) or ("", ""))[0] == language]
    for candidate in same_language:
        if (_parse(candidate) or ("", ""))[1] == script:
            return candidate
    return same_language[0] if same_language else None


# Bounded: tags come from what people send (a language menu answered in free text), not only config.
@lru_cache(maxsize=256)
def _parse(tag: str) -> tuple[str, str] | None:
    """(language, script) of a tag, the script filled in from CLDR's likely subtags."""
    parts = [p for p in _SUBTAG.split(tag.split(".")[0].strip()) if p]
    if not parts or parts[0].lower() in ("c", "posix"):
        return None
    normal = [parts[0].lower()] + [
        p.title() if len(p) == 4 else p.upper() if len(p) == 2 else p for p in parts[1:]
    ]
    try:
        locale = Locale.parse("_".join(normal))
    except (UnknownLocaleError, ValueError):
        try:
            locale = Locale.parse(normal[0])
        except (UnknownLocaleError, ValueError):
            return None
    script = locale.script
    if script is None:
        likely = str(get_global("likely_subtags").get(locale.language, "")).split("_")
        script = next((part for part in likely[1:] if len(part) == 4), None)
    return locale.language, script or ""


def display_name(locale: str) -> str:
    """A locale's name in its own language, as a language menu shows it."""
    return Locale.parse(locale).get_display_name(locale) or locale


def names_of(locale: str, readers: list[str]) -> list[str]:
    """What a person might type to pick a locale: its code, and its names as each reader writes them."""
    parsed = Locale.parse(locale)
    names = {locale, display_name(locale)}
    for reader in {*readers, SOURCE_LOCALE}:
        names |= {parsed.get_display_name(reader), parsed.get_language_name(reader)}
        if parsed.script:
            names.add(parsed.get_script_name(reader))
    return sorted(n for n in names if n)


@dataclass(frozen=True)
class CatalogStatus:
    locale: str
    domain: str
    translated: int
    fuzzy: int
    missing: int
    review: str
    shipped: bool

    @property
    def complete(self) -> bool:
        return self.fuzzy == 0 and self.missing == 0


def forms(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A catalog entry's id or translation as a tuple: one item, or one per plural form."""
    return (text,) if isinstance(text, str) else tuple(text)


_REVIEW = re.compile(r"^#\s*Medical review:\s*(.+)$", re.MULTILINE)


def catalog_status(locales_dir: Path = LOCALES_DIR) -> list[CatalogStatus]:
    """Counts for every catalog, and its medical review state.

    The review state is the catalog's own `# Medical review: …` header line
    ("pending", or who reviewed it and when), which `pybabel update` keeps.
    """
    shipped = set(shipped_locales(locales_dir))
    found = []
    for path in sorted(locales_dir.glob("*/LC_MESSAGES/*.po")):
        locale = path.parent.parent.name
        with path.open("rb") as handle:
            catalog = read_po(handle)
        messages = [m for m in catalog if m.id]
        fuzzy = sum(1 for m in messages if m.fuzzy)
        missing = sum(1 for m in messages if not all(forms(m.string)))
        review = _REVIEW.search(catalog.header_comment or "")
        found.append(
            CatalogStatus(
                locale=locale,
                domain=path.stem,
                translated=len(messages) - fuzzy - missing,
                fuzzy=fuzzy,
                missing=missing,
                review=review.group(1).strip() if review else "not recorded",
                shipped=locale in shipped,
            )
        )
    return found
