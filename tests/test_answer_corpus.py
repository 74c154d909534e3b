"""The phrase corpus (`locales/<locale>/answers-corpus.yaml`): no answer is stored or read back wrong.

Each phrase is read as the engine reads it at its own question (as worded for the person, or
for a relative), in a conversation in its language. Whatever the bot does with a phrase, it
never stores it as another answer or reads it back as one; a phrase whose meaning is unclear
is asked again. How often clear phrases are understood the first time is measured by
`bench/understanding.py` and held here to a floor per language.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from dialogs.corpus import Case, Outcome, judge, load_corpus, read_case, servable
from dialogs.i18n import shipped_locales
from dialogs.trial import TRIALS_DIR, load_trial

LOCALES = shipped_locales()
CASES: list[Case] = [case for locale in LOCALES for case in load_corpus(locale) if servable(case)]
# The share of clear answers understood the first time, at least: a point or two under today's
# figures (bench/understanding.py).
# Issue 19's bar: at least 90% of clear answers understood the first time, in every language.
FLOOR = dict.fromkeys(("zh_Hans", "en", "zh_Hant", "ru", "es", "ar"), 0.90)


def test_every_language_has_its_corpus_at_every_kind_of_question() -> None:
    for locale in LOCALES:
        cases = load_corpus(locale)
        minimum = 300 if locale in ("zh_Hans", "en") else 100
        assert len(cases) >= minimum, f"{locale}: {len(cases)} phrasings"
        assert {c.trial for c in cases} >= {"nct07295067", "menus"}, locale
        assert sum(c.meaning is None for c in cases) >= len(cases) // 10, f"{locale}: too few unclear"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_phrase_is_read_as_another_answer_and_most_are_understood_the_first_time(locale: str) -> None:
    """Every phrase of the language: none stored or read back as another answer; of the clear
    ones, at least the language's floor understood at once or read back right. (One test per
    language, not per phrase: 2,800 tests cost the suite more than reading them does.)"""
    cases = [c for c in CASES if c.locale == locale]
    outcomes = {c: judge(c, read_case(c)) for c in cases}
    wrong = [f"{c.question}: {c.text!r} -> {o}" for c, o in outcomes.items() if o in _WRONG]
    assert wrong == [], "\n".join(wrong)
    clear = Counter(o for c, o in outcomes.items() if c.meaning is not None)
    understood = (clear[Outcome.STORED_RIGHT] + clear[Outcome.READ_BACK_RIGHT]) / sum(clear.values())
    assert understood >= FLOOR[locale], f"{locale}: {understood:.1%} {dict(clear)}"


_WRONG = (Outcome.STORED_WRONG, Outcome.READ_BACK_WRONG)


def test_a_trial_file_without_keyword_lists_is_read_as_well_as_with_them(tmp_path: Path) -> None:
    """Keywords are hints: the same trial with every option's keyword list taken out of its file."""
    source = TRIALS_DIR / "nct07295067.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    stripped = 0
    for question in data["questions"]:
        for option in question.get("options", ()):
            stripped += option.pop("keywords", None) is not None
    assert stripped >= 3, "the shipped file has keyword lists to take out"
    bare = tmp_path / "nct07295067.yaml"
    bare.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    without = load_trial(bare)
    cases = [c for c in CASES if c.trial == "nct07295067"]
    hinted = Counter(judge(c, read_case(c)) for c in cases)
    bare_outcomes = Counter(judge(c, read_case(c, trial=without)) for c in cases)
    understood = (Outcome.STORED_RIGHT, Outcome.READ_BACK_RIGHT)
    assert sum(bare_outcomes[o] for o in understood) >= sum(hinted[o] for o in understood)
    assert bare_outcomes[Outcome.READ_BACK_WRONG] == bare_outcomes[Outcome.STORED_WRONG] == 0


@pytest.mark.parametrize(
    ("locale", "question", "text", "meant"),
    [
        # A yes said first, whatever the person adds after it (read back, never stored at once).
        ("en", "diagnosis", "yes at Xuanwu", "yes"),
        ("ar", "heart_disease", "نعم، عندي دعامة", "yes"),
        ("ar", "travel", "نعم، أقدر آجي", "yes"),
        # A consent granted or denied in its options' own words, though its text has an "or".
        ("zh_Hans", "consent_contact", "不要联系我", "no"),
        ("zh_Hans", "consent_contact", "别打电话", "no"),
        ("zh_Hans", "consent_contact", "可以联系", "yes"),
        # "able to" asks an ability: "no problem" is yes.
        ("en", "can_communicate", "no problem", "yes"),
        # An illness the question names, shown by its medicine, device or kind (`conditions:`).
        ("zh_Hans", "diabetes", "打胰岛素", "yes"),
        ("en", "diabetes", "on insulin", "yes"),
        ("zh_Hans", "heart_disease", "心脏放过支架", "yes"),
        ("es", "heart_disease", "tengo un stent", "yes"),
        # ... and denied, where the question asks of that one illness ("of the brain or the spine").
        ("en", "tumour", "no tumours", "no"),
        ("zh_Hans", "tumour", "没长瘤子", "no"),
        # Leave granted or refused in the words of what is asked (`actions:`), not the request's.
        ("zh_Hans", "consent_storage", "可以存", "yes"),
        ("en", "consent_contact", "no calls please", "no"),
        ("ru", "travel", "я её привезу", "yes"),
        ("zh_Hans", "consent_contact", "打吧", "yes"),  # 吧 urging on the very thing asked is no "maybe"
        # 就是 after its subject is "is", not "only, but".
        ("zh_Hans", "respondent", "我就是病人", "self"),
        # A test never done, at a question of an illness: whether it is there is not known.
        ("en", "diabetes", "never had my sugar checked", "dont_know"),
        ("zh_Hans", "liver_kidney", "没查过肝功", "dont_know"),
        # "Not yet sure" is unsure; having to look or to talk it over is not knowing yet.
        ("ar", "travel", "لسه مش متأكد", "dont_know"),
        ("es", "travel", "tengo que hablarlo con mi familia", "dont_know"),
        # A normal result, where the options are test results, is the negative one.
        ("zh_Hans", "serology", "四项都正常", "no"),
        ("en", "serology", "all normal", "no"),
        ("zh_Hans", "serology", "有一个是阳性", "yes"),  # "one of them", not a yes to the first half
        # A symptom's course by comparison: more or less of it, neither better nor worse.
        ("en", "symptoms_course", "more numb than before", "worse"),
        ("zh_Hans", "symptoms_course", "手没那么麻了", "improved"),
        ("en", "symptoms_course", "neither better nor worse", "same"),
        # When it was done is no other subject.
        ("es", "had_surgery", "operada hace tres años", "yes"),
        ("ar", "had_surgery", "عملت عملية سنة ٢٠١٩", "yes"),
        # An age past childbearing answers a pregnancy question.
        ("en", "pregnancy", "I'm 70", "no"),
        # The images asked for, named where they are, or lost.
        ("en", "mri_available", "films at home", "yes"),
        ("es", "mri_available", "en un CD", "yes"),
        ("zh_Hans", "mri_available", "片子丢了", "no"),
        # Living in the very place one is asked to come to.
        ("en", "travel", "I live in Beijing", "yes"),
        # A topic the question names, then denied: "опухолей нет", "аллергии не было".
        ("ru", "tumour", "опухолей нет", "no"),
        ("ru", "biologic_allergy", "аллергии не было", "no"),
        # Poor or abnormal, where the question asks of a problem.
        ("zh_Hant", "liver_kidney", "腎功能不好", "yes"),
        ("en", "liver_kidney", "kidney function is poor", "yes"),
        # Normal is "fine" (no for a problem), not a negative result: "ЭКГ в норме".
        ("ru", "heart_abnormality", "ЭКГ в норме", "no"),
        # At "apart from syringomyelia, another…?" its name is the one set apart, not a yes.
        ("en", "other_cns_disease", "syringomyelia, nothing else", "no"),
    ],
)
def test_clear_answers_of_these_kinds_are_read_back_right(
    locale: str, question: str, text: str, meant: str
) -> None:
    case = Case(locale, _trial_of(question), question, text, meant)
    assert judge(case, read_case(case)) is Outcome.READ_BACK_RIGHT


def _trial_of(question: str) -> str:
    first = load_trial(TRIALS_DIR / "nct07295067.yaml")
    return "nct07295067" if any(q.id == question for q in first.questions) else "nct06079125"


@pytest.mark.parametrize(
    ("locale", "question", "text"),
    [
        # Another illness than the one asked of is another subject, whatever "yes" comes with it.
        ("zh_Hans", "heart_disease", "有糖尿病"),
        ("en", "diabetes", "I have a stent"),
        # One example denied is not every disease the question asks of.
        ("en", "other_cns_disease", "no tumour"),
        # Leave given for someone else is not this person's.
        ("en", "consent_contact", "call my husband, not me"),
        # An action's words mean it only where it is asked: 打 of 打疫苗 is no phone call, and what
        # it is said of is another matter ("hepatitis B antibodies positive: I was vaccinated").
        ("zh_Hans", "serology", "乙肝抗体阳性，打过疫苗的"),
        # A test never done, where the question asks what a test showed: not known, not "don't know".
        ("en", "heart_abnormality", "never had a heart test"),
        # A year of birth is no age past childbearing.
        ("zh_Hans", "pregnancy", "1970年的"),
        # Smaller, then bigger again: which is the answer? (Only "lost" undoes what it is said of.)
        ("zh_Hans", "mri_resolved", "小了又大了"),
        # Not living there says nothing of whether one could come.
        ("en", "travel", "I don't live in Beijing"),
        # Abnormal where the question does not ask of a problem: not yes to what it asks.
        ("en", "mri_shrunk", "MRI abnormal"),
        # A slip is never put right to a denial, nor to a function word, nor in Arabic script.
        ("es", "had_surgery", "me operaron de la nuca"),  # nuca is no nunca
        ("ar", "diabetes", "عندي كيس"),  # كيس, a cyst, is no كويس, fine
        # Unsure beside a yes that is no option here: asked again, not read as the yes.
        ("zh_Hans", "consent_storage", "我老公同意，我不确定"),
        # A case described, then "never tested": for the team to judge, not a "don't know".
        ("en", "heart_disease", "I get chest pains, never tested"),
        ("zh_Hans", "other_cns_disease", "空洞"),  # the disease set apart, named alone
        # Then and now: which time is asked of?
        ("en", "hydrocephalus", "I used to, not anymore"),
        # A date where the question sets its own time ("a scan at least a year after"): which scan?
        ("en", "mri_shrunk", "smaller on the scan 3 months after"),
        # Another illness than the one asked of, though its name shares words (encephalitis).
        ("en", "cns_infection", "I had encephalitis"),
    ],
)
def test_what_the_question_does_not_ask_of_answers_nothing(locale: str, question: str, text: str) -> None:
    case = Case(locale, _trial_of(question), question, text, None)
    assert read_case(case).value is None


@pytest.mark.parametrize(
    ("locale", "question", "text"),
    [
        ("zh_Hans", "liver_kidney", "有肾结石"),  # a verb with its object, not a bare yes
        ("es", "back_infection", "tengo un lunar"),
        ("es", "mri_shrunk", "no entendí el informe"),  # "no" negating the verb after it
        ("en", "autoimmune", "RA but no meds"),  # a "no" after a contrast answers nothing
        ("es", "travel", "si Dios quiere"),  # a hope, not a yes
    ],
)
def test_a_first_word_is_no_answer_when_it_governs_what_follows(
    locale: str, question: str, text: str
) -> None:
    case = Case(locale, "nct07295067", question, text, None)
    assert read_case(case).value is None


# Agreeing answers a request, in every language: exact at a consent and at "could you…?", and
# nothing at a question of fact ("had an operation?"), where it used to be stored as "yes".
AGREEING = {
    "en": ("I agree", "I disagree"),
    "zh_Hans": ("同意", "不同意"),
    "zh_Hant": ("同意", "唔同意"),
    "ru": ("согласна", "не согласен"),
    "es": ("estoy de acuerdo", "no estoy de acuerdo"),
    "ar": ("أوافق", "لا أوافق"),
}


@pytest.mark.parametrize("locale", sorted(AGREEING))
def test_agreeing_answers_a_request_exactly_and_a_question_of_fact_not_at_all(locale: str) -> None:
    agree, disagree = AGREEING[locale]
    for question in ("consent_storage", "follow_plan"):  # a consent, a "could you…?"
        for text, meant in ((agree, "yes"), (disagree, "no")):
            case = Case(locale, "nct07295067", question, text, meant)
            assert judge(case, read_case(case)) is Outcome.STORED_RIGHT, (question, text)
    for question in ("had_surgery", "diabetes"):
        for text in (agree, disagree, f"ok, {agree}"):
            case = Case(locale, "nct07295067", question, text, None)
            assert read_case(case).value is None, (question, text)
