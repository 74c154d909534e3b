"""The same screening in every shipped language: typed in its own words, or tapped, same outcome."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from babel.messages.frontend import parse_mapping_cfg

from dialogs import messages as m
from dialogs.engine import Engine
from dialogs.extract import extract as extract_trial
from dialogs.i18n import shipped_locales, translator
from dialogs.understanding import all_lexicons, match_phrase, read_number
from tests.conftest import B1_VALUES, Person

# How a person answers in each language: their own words and numerals, no option numbers.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "yes": "yes",
        "no": "no",
        "dk": "I don't know",
        "age": "forty two",
        "self": "myself",
        "proxy": "for my mother",
        "same": "about the same",
        "name": "Li Wei",
        "negative": "all negative",
    },
    "zh_Hans": {
        "yes": "是的",
        "no": "没有",
        "dk": "不知道",
        "age": "四十二",
        "self": "我自己",
        "proxy": "帮我妈妈填",
        "same": "没什么变化",
        "name": "李伟",
        "negative": "都是阴性",
    },
    "zh_Hant": {
        "yes": "係",
        "no": "冇",
        "dk": "唔知",
        "age": "我今年四十二歲",
        "self": "係我自己",
        "proxy": "幫我媽媽答",
        "same": "冇變化",
        "name": "陳大文",
        "negative": "全部陰性",
    },
    "ru": {
        "yes": "да",
        "no": "нет",
        "dk": "не знаю",
        "age": "сорок два",
        "self": "за себя",
        "proxy": "за другого человека",
        "same": "без изменений",
        "name": "Анна Петрова",
        "negative": "все отрицательные",
    },
    "es": {
        "yes": "sí",
        "no": "no",
        "dk": "no sé",
        "age": "cuarenta y dos",
        "self": "para mí",
        "proxy": "para otra persona",
        "same": "sigue igual",
        "name": "María López",
        "negative": "todos negativos",
    },
    "ar": {
        "yes": "نعم",
        "no": "لا",
        "dk": "لا أعرف",
        "age": "اثنان وأربعون",
        "self": "لنفسي",
        "proxy": "عن شخص آخر",
        "same": "لم تتغير",
        "name": "ليلى حسن",
        "negative": "كلها سلبية",
    },
}
# A person's answers as symbols, turned into words or taps below.
# The serology question's "no" is "tested, all negative", which a plain "no" does not say.
BASE = {**B1_VALUES, "age": "age", "serology": "negative", "contact_name": "name", "contact_phone": "phone"}
PERSONAS = {
    "likely": (BASE, "likely_eligible", [], []),
    "review": ({**BASE, "serology": "dk", "biologic_allergy": "dk"}, "needs_review", [], ["E6", "E10"]),
    "pregnant": ({**BASE, "pregnancy": "yes"}, "not_eligible", ["E9"], []),
    "relative": ({**BASE, "respondent": "proxy", "can_communicate": "no"}, "not_eligible", ["E8"], []),
}
TAPS = {
    "yes": "yes",
    "no": "no",
    "dk": "dont_know",
    "self": "self",
    "proxy": "proxy",
    "same": "same",
    "negative": "no",
}
LOCALES = shipped_locales()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Language, not storage, is under test here: SQLite only (storage runs on both elsewhere)."""
    return f"sqlite:///{tmp_path / 'intake.db'}"


def _typed(locale: str, persona: dict[str, str]) -> dict[str, str]:
    words = {**WORDS[locale], "phone": "+86 138 1234 5678"}
    return {question: words[symbol] for question, symbol in persona.items()}


def _tapped(locale: str, persona: dict[str, str]) -> dict[str, str]:
    words = {**WORDS[locale], **TAPS, "age": "42", "phone": "13812345678"}
    return {question: words[symbol] for question, symbol in persona.items()}


def test_every_shipped_language_has_answer_words() -> None:
    assert set(LOCALES) <= set(WORDS)
    assert LOCALES[0] == "zh_Hans", "Simplified Chinese first: the first site is in Beijing"


@pytest.mark.parametrize("how", ["typed", "tapped"])
@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("locale", LOCALES)
def test_same_answers_same_outcome_in_every_language(
    engine: Engine, locale: str, persona: str, how: str
) -> None:
    answers, outcome, reasons, uncertain = PERSONAS[persona]
    person = Person(engine, f"{locale}-{persona}-{how}", locale=locale)
    person.start()
    script = _typed(locale, answers) if how == "typed" else _tapped(locale, answers)
    person.answer_all(script, by="text" if how == "typed" else "tap")
    stored = person.stored()
    assert (stored["outcome"], stored["reasons"], stored["uncertain"]) == (outcome, reasons, uncertain)
    assert stored["language"] == locale
    assert stored["answers"]["age"] == 42, "stored language-neutral"
    if persona != "relative" and outcome != "not_eligible":
        assert stored["answers"]["contact_phone"] == "+8613812345678" or how == "tapped"


@pytest.mark.parametrize("locale", LOCALES)
def test_each_summary_line_has_one_colon(engine: Engine, locale: str) -> None:
    """ "• label: answer", one colon: a translated label with its own read "МРТ после операции:
    полость уменьшилась: Да"."""
    person = Person(engine, f"summary-{locale}", locale=locale)
    person.start()
    person.answer_all(_tapped(locale, BASE), by="tap", confirm=False)
    assert person.prompt == "summary" and person.asking is not None
    lines = [line for line in person.asking.text.splitlines() if line.startswith("• ")]
    assert len(lines) >= 20
    assert [line for line in lines if len(re.findall("[:：]", line)) != 1] == []


def test_switching_language_mid_screening_keeps_the_answers(engine: Engine) -> None:
    """Started in Russian, finished in English: stored and evaluated the same as all-English."""
    person = Person(engine, "switcher", locale="ru")
    person.start()
    typed_ru = _typed("ru", BASE)
    person.answer_some({q: typed_ru[q] for q in list(BASE)[:9]})
    before = person.stored()["answers"]
    person.command("language")
    assert person.prompt == "_language"
    person.say("English")
    assert person.stored()["answers"] == before, "switching language loses nothing"
    assert person.stored()["language"] == "en"
    assert person.asking is not None and person.asking.text == "Do you have diabetes?"
    person.answer_all(_typed("en", BASE))
    assert person.stored()["outcome"] == "likely_eligible"

    english = Person(engine, "english", locale="en")
    english.start()
    english.answer_all(_typed("en", BASE))
    assert english.stored()["answers"] | {"contact_name": "x"} == person.stored()["answers"] | {
        "contact_name": "x"
    }


def test_right_to_left_text_isolates_embedded_latin() -> None:
    t = translator("ar", ("nct07295067",))
    assert t.rtl and not translator("ru").rtl
    text = t(m.WILL_CONTACT, reference="3f9a0c1d2e4b")
    assert "\u20683f9a0c1d2e4b\u2069" in text, "the reference is wrapped in bidi isolates"
    assert re.search(r"[\u0600-\u06ff]", text), "the sentence itself is Arabic"


@pytest.mark.parametrize(
    ("typed", "locale"),
    [
        ("中文", "zh_Hans"),
        ("简体中文", "zh_Hans"),
        ("繁體中文", "zh_Hant"),
        ("繁体", "zh_Hant"),
        ("русский", "ru"),
        ("Spanish", "es"),
        ("español", "es"),
        ("العربية", "ar"),
        ("2", "en"),
        ("zh-TW", "zh_Hant"),
        ("ar-EG", "ar"),
    ],
)
def test_a_language_can_be_chosen_by_typing_its_name(engine: Engine, typed: str, locale: str) -> None:
    person = Person(engine, f"lang-{typed}", locale=None)
    person.start()
    assert person.prompt == "_language"
    person.say(typed)
    assert person.stored()["language"] == locale
    assert person.prompt == "consent_storage"


def test_a_name_that_is_no_language_asks_again(engine: Engine) -> None:
    person = Person(engine, "lang-x", locale=None)
    person.start()
    person.say("Klingon")
    assert person.prompt == "_language" and person.stored()["language"] is None


ISSUE_PHRASES = {
    "yes": ["yes", "是", "是的", "对", "有", "係", "да", "sí", "si", "نعم", "Yes!! 👍", "是的。"],
    "no": ["no", "没有", "不是", "唔係", "冇", "нет", "لا", "nope 🙅"],
    "dont_know": ["not sure", "不知道", "不清楚", "唔知", "не знаю", "no sé", "لا أعرف"],
}


@pytest.mark.parametrize(
    ("text", "value"), [(text, value) for value, texts in ISSUE_PHRASES.items() for text in texts]
)
def test_yes_no_dont_know_in_every_language(text: str, value: str) -> None:
    assert match_phrase(text, all_lexicons().phrases) == value


@pytest.mark.parametrize(
    "text",
    [
        "42",
        "forty two",
        "四十二",
        "сорок два",
        "cuarenta y dos",
        "٤٢",
        "４２",
        "I'm 42 years old",
        "我今年42岁",
        "اثنان وأربعون",
        "我今年四十二歲",
        "мне сорок два года",
        "tengo 42 años",
    ],
)
def test_forty_two_in_every_language(text: str) -> None:
    assert read_number(text, all_lexicons()).value == 42


def test_trial_files_extract_through_the_registered_babel_extractor() -> None:
    """`pybabel extract -F babel-trials.cfg` finds the `trial` method through this entry point."""
    (entry,) = [e for e in entry_points(group="babel.extractors") if e.name == "trial"]
    assert entry.load() is extract_trial
    with (Path(__file__).parent.parent / "babel-trials.cfg").open(encoding="utf-8") as config:
        method_map, _ = parse_mapping_cfg(config)
    assert method_map == [("dialogs/trials/*.yaml", "trial")]
