"""Understanding typed answers (`dialogs.understanding`) with the shipped English and Chinese lexicons."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dialogs.i18n import LOCALES_DIR
from dialogs.understanding import (
    Certainty,
    Lexicon,
    Reading,
    all_lexicons,
    clean,
    load_lexicon,
    match_phrase,
    normalize,
    parse_phone,
    read_number,
)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return all_lexicons()


# --- yes / no / don't know ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("yes", "yes", id="yes"),
        pytest.param("Yes!", "yes", id="Yes!"),
        pytest.param("YES", "yes", id="upper-case"),
        pytest.param("yeah 👍", "yes", id="yeah-emoji"),
        pytest.param("of course", "yes", id="of-course"),
        pytest.param("Of course I do.", "yes", id="of-course-sentence"),
        pytest.param("no", "no", id="no"),
        pytest.param("No.", "no", id="No."),
        pytest.param("nope", "no", id="nope"),
        pytest.param("never", "no", id="never"),
        pytest.param("I don't", "no", id="i-dont"),
        pytest.param("I don\u2019t", "no", id="i-dont-typographic-apostrophe"),
        pytest.param("not sure", "dont_know", id="not-sure-beats-sure"),
        pytest.param("I don't know", "dont_know", id="dont-know-beats-i-dont"),
        pytest.param("I do not know", "dont_know", id="do-not-know"),
        pytest.param("no idea", "dont_know", id="no-idea-beats-no"),
        pytest.param("never tested", "dont_know", id="never-tested-beats-never"),
        pytest.param("是", "yes", id="是"),
        pytest.param("是的", "yes", id="是的"),
        pytest.param("对", "yes", id="对"),
        pytest.param("有", "yes", id="有"),
        pytest.param("我有糖尿病", "yes", id="我有糖尿病"),
        pytest.param("没有", "no", id="没有"),
        pytest.param("我没有", "no", id="我没有"),
        pytest.param("我没有糖尿病", "no", id="我没有糖尿病"),
        pytest.param("不是", "no", id="不是"),
        pytest.param("不知道", "dont_know", id="不知道"),
        pytest.param("不清楚", "dont_know", id="不清楚"),
        pytest.param("不太清楚", "dont_know", id="不太清楚"),
        pytest.param("我不知道。", "dont_know", id="我不知道-full-stop"),
        pytest.param("没测过", "dont_know", id="没测过-beats-没"),
    ],
)
def test_match_phrase_understands_yes_no_dont_know(lexicon: Lexicon, text: str, expected: str) -> None:
    assert match_phrase(text, lexicon.phrases) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("banana", id="banana"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("🙂", id="emoji"),
        pytest.param("yesterday", id="yes-inside-a-word"),
        pytest.param("nobody", id="no-inside-a-word"),
        pytest.param("knowledge", id="know-inside-a-word"),
    ],
)
def test_match_phrase_finds_nothing_in_nonsense(lexicon: Lexicon, text: str) -> None:
    assert match_phrase(text, lexicon.phrases) is None


def test_match_phrase_longest_wins_and_ties_are_unknown() -> None:
    phrases = {"a": ("red",), "b": ("dark red",), "c": ("blue",), "d": ("blue",)}
    assert match_phrase("Dark red, please", phrases) == "b"
    assert match_phrase("red", phrases) == "a"
    assert match_phrase("blue", phrases) is None  # same phrase for two keys
    assert match_phrase("red or blue", phrases) is None  # two phrases of the same length
    assert match_phrase("green", phrases) is None


def test_match_phrase_ignores_empty_phrases() -> None:
    assert match_phrase("anything", {"a": ("",)}) is None


# --- numbers -----------------------------------------------------------------------------------------


SURE, READ_BACK, UNSURE, UNCLEAR = Certainty.SURE, Certainty.READ_BACK, Certainty.UNSURE, Certainty.UNCLEAR


@pytest.mark.parametrize(
    ("text", "expected", "certainty"),
    [
        pytest.param("42", 42, SURE, id="digits"),
        pytest.param(" 42 ", 42, SURE, id="spaces"),
        pytest.param("42 years old", 42, SURE, id="with-unit"),
        pytest.param("I'm 42 years old", 42, READ_BACK, id="sentence"),
        pytest.param("我今年42岁", 42, READ_BACK, id="chinese-sentence"),
        pytest.param("42岁", 42, SURE, id="digits-then-chinese-unit"),
        pytest.param("四十二", 42, SURE, id="四十二"),
        pytest.param("三十五", 35, SURE, id="三十五"),
        pytest.param("十八", 18, SURE, id="十八"),
        pytest.param("六十", 60, SURE, id="六十"),
        pytest.param("一百零五", 105, SURE, id="一百零五"),
        pytest.param("我今年四十二岁", 42, READ_BACK, id="chinese-words-in-sentence"),
        pytest.param("forty two", 42, SURE, id="forty-two-words"),
        pytest.param("forty-two", 42, SURE, id="forty-two-hyphen"),
        pytest.param("Forty Two", 42, SURE, id="forty-two-capitals"),
        pytest.param("sixty one", 61, SURE, id="sixty-one"),
        pytest.param("eighteen", 18, SURE, id="eighteen"),
        pytest.param("one hundred and five", 105, SURE, id="one-hundred-and-five"),
        pytest.param("a hundred", 100, SURE, id="a-hundred"),
        pytest.param("forty two thousand", 42000, SURE, id="thousand-is-not-dropped"),
        pytest.param("сорок два года", 42, SURE, id="russian-with-unit"),
        pytest.param("cuarenta y dos", 42, SURE, id="spanish"),
        pytest.param("اثنان وأربعون", 42, SURE, id="arabic-units-first"),
        pytest.param("٤٢", 42, SURE, id="arabic-indic-digits"),
        pytest.param("４２", 42, SURE, id="full-width-digits"),
        pytest.param("0", 0, SURE, id="zero"),
    ],
)
def test_read_number(lexicon: Lexicon, text: str, expected: int, certainty: Certainty) -> None:
    assert read_number(text, lexicon) == Reading(expected, certainty)


@pytest.mark.parametrize(
    ("text", "certainty"),
    [
        pytest.param("42.5", UNCLEAR, id="decimal"),
        pytest.param("42,5", UNCLEAR, id="decimal-comma"),
        pytest.param("forty-two and a half", UNCLEAR, id="decimal-in-words"),
        pytest.param("四十二点五", UNCLEAR, id="decimal-in-chinese"),
        pytest.param("42 or 43", UNCLEAR, id="two-numbers"),
        pytest.param("-5", UNCLEAR, id="negative"),
        pytest.param("forty or fifty", UNCLEAR, id="two-number-words"),
        pytest.param("twenty-twenty", UNCLEAR, id="ill-formed-words"),
        pytest.param("forty two forty two", UNCLEAR, id="repeated-words"),
        pytest.param("四二", UNCLEAR, id="ill-formed-chinese"),
        pytest.param("about forty", UNSURE, id="about"),
        pytest.param("forty-ish", UNSURE, id="ish"),
        pytest.param("四十多岁", UNSURE, id="四十多岁"),
        pytest.param("около сорока", UNSURE, id="около"),
        pytest.param("unos cuarenta", UNSURE, id="unos"),
        pytest.param("abc", UNCLEAR, id="letters"),
        pytest.param("", UNCLEAR, id="empty"),
        pytest.param("不知道", UNCLEAR, id="dont-know"),
    ],
)
def test_read_number_never_makes_one_number_of_an_unclear_answer(
    lexicon: Lexicon, text: str, certainty: Certainty
) -> None:
    reading = read_number(text, lexicon)
    assert reading.value is None and reading.certainty is certainty


def test_read_number_with_an_empty_lexicon_reads_only_digits() -> None:
    assert read_number("42", Lexicon()).value == 42
    assert read_number("forty two", Lexicon()).value is None


# --- phones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+86 138 1234 5678", "+8613812345678", id="international"),
        pytest.param("13812345678", "+8613812345678", id="mainland-mobile-without-a-code"),
        pytest.param("(010) 8319-8899", "+861083198899", id="beijing-landline"),
        pytest.param("138.1234.5678", "+8613812345678", id="dots"),
        pytest.param("＋８６１３８１２３４５６７８", "+8613812345678", id="full-width"),
        pytest.param(" +44 20 7946 0958 ", "+442079460958", id="surrounding-spaces"),
        pytest.param("0044 20 7946 0958", "+442079460958", id="international-prefix-from-china"),
        pytest.param("+1 (202) 555-0143", "+12025550143", id="north-america"),
    ],
)
def test_parse_phone_stores_e164(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


def test_a_shared_contacts_number_carries_its_country_code() -> None:
    """Telegram sends a shared contact's number without its +: it is not mainland China's."""
    assert parse_phone("442079460958", international=True) == "+442079460958"
    assert parse_phone("8613812345678", international=True) == "+8613812345678"
    assert parse_phone("442079460958") is None, "typed, it would be a Chinese number, and is none"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("abc123", id="letters"),
        pytest.param("123", id="too-short"),
        pytest.param("12345", id="five-digits"),
        pytest.param("123456", id="six-digits-no-number"),
        pytest.param("1381234567", id="a-mobile-a-digit-short"),
        pytest.param("138123456789", id="a-mobile-a-digit-long"),
        pytest.param("+86+138 1234 5678", id="two-plus-signs"),
        pytest.param("1" * 15, id="fifteen-ones"),
        pytest.param("1" * 16, id="sixteen-digits"),
        pytest.param("12345678901234567890", id="twenty-digits"),
        pytest.param("", id="empty"),
        pytest.param("138 1234 5678 ext 2", id="extension-words"),
    ],
)
def test_parse_phone_rejects(text: str) -> None:
    assert parse_phone(text) is None


# --- clean and normalize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("abc\u202edef", "abcdef", id="right-to-left-override"),
        pytest.param("\u202aabc\u202c", "abc", id="left-to-right-embedding"),
        pytest.param("\u2066x\u2069", "x", id="isolates"),
        pytest.param("a\x00b\x07c\x1bd\x7fe", "abcde", id="control-characters"),
        pytest.param("  是的 👍  ", "是的 👍", id="keeps-cjk-and-emoji"),
        pytest.param("line one\nline two", "line one\nline two", id="keeps-newline"),
        pytest.param("e\u0301", "\u00e9", id="composes-nfc"),
        pytest.param("Ｙｅｓ", "Ｙｅｓ", id="keeps-full-width"),
    ],
)
def test_clean(text: str, expected: str) -> None:
    assert clean(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ＹＥＳ", "yes", id="full-width-letters"),
        pytest.param("４２", "42", id="full-width-digits"),
        pytest.param("Hello,  World!", "hello world", id="case-punctuation-spaces"),
        pytest.param("Straße", "strasse", id="casefold"),
        pytest.param("I\u2019m", "i'm", id="typographic-apostrophe"),
        pytest.param("不知道？", "不知道?", id="full-width-question-mark"),
        pytest.param("  是的，我有 ", "是的 我有", id="chinese-comma"),
        pytest.param("ok\u202e👍", "ok 👍", id="bidi-and-emoji"),  # a pictograph is a word of its own
        pytest.param("ok👍🏻!", "ok 👍", id="emoji-skin-tone"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


# --- lexicons ----------------------------------------------------------------------------------------


def test_load_english_lexicon() -> None:
    english = load_lexicon(LOCALES_DIR / "en" / "answers.yaml")
    assert set(english.phrases) == {"yes", "no", "dont_know"}
    assert "of course" in english.phrases["yes"]
    assert "i don't" in english.phrases["no"]
    assert "don't know" in english.phrases["dont_know"]
    assert english.numbers["forty"] == 40
    assert english.numbers["fourty"] == 40
    assert english.multipliers == {"hundred": 100, "thousand": 1000, "million": 1000000}
    assert english.fillers == ("and", "a")


def test_load_chinese_lexicon() -> None:
    chinese = load_lexicon(LOCALES_DIR / "zh_Hans" / "answers.yaml")
    assert "是的" in chinese.phrases["yes"]
    assert "没有" in chinese.phrases["no"]
    assert "不知道" in chinese.phrases["dont_know"]
    assert chinese.numbers["四"] == 4
    assert chinese.numbers["两"] == 2
    assert chinese.multipliers == {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "万": 10000}
    assert chinese.fillers == ("有",)  # 四十有五


def test_load_lexicon_normalizes_phrases(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(
        '"yes": ["Of  Course", "ＹＥＳ"]\nnumbers:\n  values: {"Ｔｅｎ": 10}\n  fillers: ["AND"]\n',
        encoding="utf-8",
    )
    loaded = load_lexicon(path)
    assert loaded.phrases == {"yes": ("of course", "yes"), "no": (), "dont_know": ()}
    assert loaded.numbers == {"ten": 10}
    assert loaded.multipliers == {}
    assert loaded.fillers == ("and",)


def test_load_empty_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("", encoding="utf-8")
    empty = {"yes": (), "no": (), "dont_know": ()}
    loaded = load_lexicon(path)
    expected = Lexicon(phrases=empty, exact=empty, concepts={"agree": (), "disagree": ()})
    fields = [f.name for f in dataclasses.fields(Lexicon)]
    assert [getattr(loaded, f) for f in fields] == [getattr(expected, f) for f in fields]


def test_all_lexicons_merges_english_and_chinese(lexicon: Lexicon) -> None:
    assert "yes" in lexicon.phrases["yes"]
    assert "是的" in lexicon.phrases["yes"]
    assert "nope" in lexicon.phrases["no"]
    assert "没有" in lexicon.phrases["no"]
    assert "no idea" in lexicon.phrases["dont_know"]
    assert "不清楚" in lexicon.phrases["dont_know"]
    assert lexicon.numbers["forty"] == 40
    assert lexicon.numbers["四"] == 4
    assert lexicon.multipliers["hundred"] == 100
    assert lexicon.multipliers["百"] == 100


def test_all_lexicons_uses_only_shipped_locales(tmp_path: Path) -> None:
    """Shipped means listed in locales/LINGUAS and with locales/<locale>/LC_MESSAGES/intake.po."""
    for locale, words in (("fr", '"yes": [oui]\n"no": [non]\n'), ("it", '"yes": [si]\n')):
        (tmp_path / locale / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / locale / "LC_MESSAGES" / "intake.po").write_text("", encoding="utf-8")
        (tmp_path / locale / "answers.yaml").write_text(words, encoding="utf-8")
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "answers.yaml").write_text('"yes": [ja]\n', encoding="utf-8")
    (tmp_path / "LINGUAS").write_text("# shipped\nfr\nde\n", encoding="utf-8")
    merged = all_lexicons(tmp_path)
    assert merged.phrases["yes"] == ("oui",), "it is not listed, de has no catalog"
    assert merged.phrases["no"] == ("non",)
    assert match_phrase("ja", merged.phrases) is None
    assert match_phrase("Oui !", merged.phrases) == "yes"


def test_merged_keeps_both_sides() -> None:
    left = Lexicon(phrases={"yes": ("yes",)}, numbers={"one": 1}, fillers=("and",))
    right = Lexicon(phrases={"yes": ("是",), "no": ("不",)}, multipliers={"十": 10})
    merged = left.merged(right)
    assert merged.phrases == {"yes": ("yes", "是"), "no": ("不",)}
    assert merged.numbers == {"one": 1}
    assert merged.multipliers == {"十": 10}
    assert merged.fillers == ("and",)
