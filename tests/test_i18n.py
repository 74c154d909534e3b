"""Catalogs: complete for every shipped locale, in step with the code and the trial files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dialogs import messages as m
from dialogs.extract import extract as extract_trial
from dialogs.i18n import LOCALES_DIR, forms, negotiate, shipped_locales, translator
from dialogs.reports import OPEN_REFERRALS
from dialogs.trial import TRIALS_DIR, available_trials
from tests.conftest import Person

ROOT = Path(__file__).resolve().parent.parent
LOCALES = shipped_locales()
DOMAINS = ["intake", *available_trials()]
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _catalog(locale: str, domain: str):
    with (LOCALES_DIR / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        return read_po(handle)


def _source_messages(domain: str) -> set[str]:
    """What `make extract` would find for a domain, straight from the code and trial files."""
    if domain == "intake":
        found: set[str] = set()
        for folder in ("bot", "dialogs"):
            for _, _, message, _, _ in extract_from_dir(
                ROOT / folder,
                method_map=[("**.py", "python")],
                keywords={"_": None, "N_": None, "NP_": (1, 2)},
            ):
                found.add(message)
        return found
    with (TRIALS_DIR / f"{domain}.yaml").open("rb") as handle:
        return {message for _, _, message, _ in extract_trial(handle, None, None, {})}


def test_the_first_locales_are_shipped() -> None:
    assert {"en", "zh_Hans"} <= set(LOCALES)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_and_keeps_its_placeholders(locale: str, domain: str) -> None:
    catalog = _catalog(locale, domain)
    messages = [m for m in catalog if m.id]
    assert [m.id for m in messages if not all(forms(m.string))] == [], "missing translations"
    assert [m.id for m in messages if m.fuzzy] == [], "fuzzy translations"
    for message in messages:
        translated = forms(message.string)
        # One of several plural forms may say its count in words ("إحالتان", two referrals), not {n}.
        count_optional = len(translated) > 1
        wanted = _placeholders(forms(message.id)[-1], count_optional)
        for form in translated:
            assert _placeholders(form, count_optional) == wanted, f"placeholders differ in {message.id!r}"
    assert _source_messages(domain) <= {m.id for m in messages}, "run `make update`: catalogs are behind"


def _placeholders(text: str, count_optional: bool) -> list[str]:
    return sorted(p for p in _PLACEHOLDER.findall(text) if not (count_optional and p == "{n}"))


@pytest.mark.parametrize(
    ("locale", "counts"),
    [
        ("en", {1: "1 open referral:", 2: "2 open referrals:"}),
        ("zh_Hans", {1: "1 条待处理的转介：", 30: "30 条待处理的转介："}),
        ("ru", {1: "1 открытое направление:", 3: "3 открытых направления:", 11: "11 открытых направлений:"}),
        ("ar", {1: "إحالة مفتوحة واحدة:", 2: "إحالتان مفتوحتان:", 5: "\u20685\u2069 إحالات مفتوحة:"}),
    ],
)
def test_counts_take_the_plural_form_of_the_language(locale: str, counts: dict[int, str]) -> None:
    t = translator(locale)
    assert {n: t.plural(OPEN_REFERRALS, n) for n in counts} == counts


def test_options_are_looked_up_in_the_trial_then_the_bot_domain() -> None:
    t = translator("zh_Hans", ("nct07295067",))
    assert t("I don't know") == "不知道"  # the bot's domain
    assert t("Never tested, or I don't remember") == "没查过，或记不清"  # the trial's domain
    assert "abc" in t(m.WILL_CONTACT, reference="abc") and "编号" in t(m.WILL_CONTACT, reference="abc")


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("zh", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh_Hans", "zh_Hans"),
        ("zh-hans-sg", "zh_Hans"),
        ("en-GB", "en"),
        ("en_US.UTF-8", "en"),
        ("EN", "en"),
        ("C.UTF-8", None),
        ("xx", None),
        ("", None),
        (None, None),
    ],
)
def test_negotiation_of_language_tags(tag: str | None, locale: str | None) -> None:
    assert negotiate(tag, LOCALES) == locale


def test_chinese_is_matched_by_script() -> None:
    available = ["en", "zh_Hans", "zh_Hant"]
    assert negotiate("zh-TW", available) == "zh_Hant"
    assert negotiate("zh-hk", available) == "zh_Hant"
    assert negotiate("zh", available) == "zh_Hans"
    assert negotiate("ar-EG", [*available, "ar"]) == "ar"


def test_what_people_type_at_the_language_menu_does_not_grow_memory(person: Person) -> None:
    """Free text at the language menu is tried as a language tag: that parse is cached, boundedly."""
    from dialogs.i18n import _parse

    person.start()
    person.command("language")
    for n in range(600):
        person.say(f"klingon-{n}")
    assert _parse.cache_info().currsize <= 256
