"""Catalogs: complete for every shipped locale, in step with the code and the trial files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.coordination.reports import OPEN_REFERRALS
from dialogs import messages as m
from dialogs.extract import extract as extract_trial
from dialogs.i18n import LOCALES_DIR, forms, negotiate, shipped_locales, translator
from dialogs.trial import TRIALS_DIR, available_trials, find_trial
from tests.conftest import Person

ROOT = Path(__file__).resolve().parent.parent
LOCALES = shipped_locales()
DOMAINS = ["intake", *available_trials()]
# Every catalog's domain, the general entry's too: what translators' tools and readers meet.
CATALOGS = sorted(path.stem for path in LOCALES_DIR.glob("*.pot"))
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


# Every catalog, offered or still in progress.
ALL_LOCALES = sorted(p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())


@pytest.mark.parametrize("domain", CATALOGS)
@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_gnu_msgfmt_accepts_every_catalog(locale: str, domain: str) -> None:
    """Translators' tools (Poedit, Lokalize, msgmerge) run GNU gettext: a catalog it rejects (an
    obsolete entry duplicating a live one, a broken format string) is one they cannot work on."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "GNU gettext's msgfmt is needed (Debian: apt-get install gettext)"
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    checked = subprocess.run(
        [msgfmt, "--check", "--output-file", "/dev/null", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("locale", LOCALES)
def test_no_label_has_a_colon_of_its_own(locale: str) -> None:
    """The summary and the card put a colon between a label and its answer: a label with a colon
    inside made "МРТ после операции: полость уменьшилась: Да"."""
    for slug in available_trials():
        t = translator(locale, (slug,))
        for question in find_trial(slug).questions:
            assert not re.search("[:：﹕︓]", t(question.label)), f"{locale}: {t(question.label)!r}"


# One word for one thing in each language: the page title once said 预筛查 where every message
# said 预筛选, and Traditional Chinese had 預篩查, 預先篩選 and 預篩選.
GLOSSARY = {
    "zh_Hans": {"预筛选": ["预筛查", "预先筛选"]},
    "zh_Hant": {"預篩選": ["預篩查", "預先篩選", "预筛"]},
    "ar": {"التقييم المبدئي": ["الفحص الأولي", "الفحوص الأولية", "فحص أولي", "فحصًا أوليًا", "فحصاً أولياً"]},
}


@pytest.mark.parametrize("locale", sorted(GLOSSARY))
def test_each_language_has_one_word_for_the_pre_screening(locale: str) -> None:
    for domain in CATALOGS:
        texts = [form for message in _catalog(locale, domain) if message.id for form in forms(message.string)]
        for term, others in GLOSSARY[locale].items():
            assert any(term in text for text in texts) or domain != "intake", f"{term} is the word"
            assert [t for t in texts if any(o in t for o in others)] == [], f"{locale}/{domain}: use {term}"


# A left-to-right run that right-to-left text would reorder: a /command ("stop/"), a phone number
# with its + and spaces ("0000 0000 138 86+").
_LTR_RUN = re.compile(r"/[a-z]+\b|\+\d[\d ]*\d")
_ISOLATED = re.compile("[\u2066\u2067\u2068][^\u2069]*\u2069")


@pytest.mark.parametrize("domain", CATALOGS)
@pytest.mark.parametrize("locale", [loc for loc in LOCALES if translator(loc).rtl])
def test_right_to_left_catalogs_isolate_commands_and_phone_numbers(locale: str, domain: str) -> None:
    for message in _catalog(locale, domain):
        for form in forms(message.string) if message.id else ():
            assert _LTR_RUN.findall(_ISOLATED.sub("", form)) == [], f"isolate them (U+2066…U+2069): {form!r}"


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
