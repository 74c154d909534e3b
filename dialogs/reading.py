"""Reading a reply to a question with options: which option the person meant, and how sure that is.

The reader sees the question as the person saw it (its text in their language and its English
source, the options' labels, any hints the trial gives) and the reply. It reads meanings, not
word lists per option, so a trial file without hints is read as well as one with them:

1. **Exact** (stored at once): the option's number or label, or, at a yes/no or consent
   question, the language's plain word for yes, no or "I don't know".
2. **A hedge or a question back** ("I think so", 好像有, "what is that?"): nothing is proposed.
3. **Meanings.** The reply is cut into clauses. In each, the longest phrases of the language's
   concepts are found (yes, no, dont_know, better, worse, smaller, male, no_problem… from
   `locales/*/answers.yaml`), the options' labels and hints, and echoes of the question's own
   words ("not diabetic", 变小了, 没有做过手术). A negation, or a "no" before them, turns round
   what follows in the clause ("I don't [have diabetes]"), and a "yes" just before it ("she
   does" + "not").
4. **What they point at.** A meaning points at an option whose label carries it (都是阴性 at
   "Tested, all negative"), or through the question: an echo of the question is yes and a
   negated one no ("smaller" at "did the syrinx become smaller?", "the same" there is no);
   "no problem" answers "could you…?" with yes and "a problem with…?" with no; "I'm a man"
   answers a pregnancy question with no.
   A date answers a question with a time window ("2019年做的" at "at least a year ago?",
   `dialogs.durations`).
5. **What it may be about.** A clause that also speaks of something else ("有点脂肪肝" at "a
   problem with your liver?") says yes or no about that, not about what was asked; a caveat after
   "but" ("yes, but only once"), a test not done ("no scan since"), or two clauses that disagree
   leave the answer unclear.
6. One option pointed at and no other: it is read back (READ_BACK). Anything else is unclear; a
   slip of the keyboard one letter from one known word ("ys", `dialogs.spelling`) is read as it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from dialogs.conditions import DONT_KNOW
from dialogs.durations import Window, elapsed, window
from dialogs.spelling import Vocabulary, respelled_text
from dialogs.understanding import (
    _CJK,
    ACCEPT,
    AGREE,
    DISAGREE,
    MAX_OPTION_ANSWER,
    NO,
    YES,
    Certainty,
    Lexicon,
    Reading,
    find_phrases,
    matcher,
    normalize,
    read_number,
)

# Where a clause ends: punctuation of any script, and the words that start a contrast.
# 就是 after its subject is "is" (我就是病人), not "only, but" (挺好的，就是有点麻).
_CLAUSE_BREAK = re.compile(
    r"[,，،。.;；؛!！、…~～\n:：]+|\s*(但是|但|不过|可是|但係|(?<![我你您他她它这那])就是|不過)\s*"
)
_CONTRAST_WORDS = re.compile(r"但是|但|不过|可是|但係|就是|不過")
_CONTRAST = ("but", "however", "но", "однако", "pero", "aunque", "لكن", "ولكن")
_QUESTION_MARK = re.compile(r"[?¿؟？]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

POLARITY = (YES, NO, DONT_KNOW)
HEDGE, NEGATOR, ECHO = "hedge", "negator", "echo"
# A clause that said yes or no about something the question does not ask: "aside:yes", "aside:no".
ASIDE = "aside:"
# A negation turns these round; any other meaning negated ("not worse") points at nothing.
_OPPOSITE = {
    YES: NO,
    ECHO: "not_echo",
    "know": DONT_KNOW,
    "positive": "negative",
    "negative": "positive",
    AGREE: DISAGREE,  # "مش موافق", "not agreed"
}
# What a yes/no question asks about, when the reply names the same: "smaller" at "did it become
# smaller?" is yes, and these contrary meanings are no.
_CONTRARY = {
    "present": ("absent",),  # a parent "with you now?": "my mum is here" / "I'm alone"
    "absent": ("present",),
    "smaller": ("bigger", "same"),
    "bigger": ("smaller", "same"),
    "better": ("worse", "same"),
    "worse": ("better", "same"),
    "images": ("lost",),  # 片子丢了 at "do you have the images?"
}
# Concepts a yes/no question may be about: where its text names one, the reply's naming it (in
# other words: 开过刀 for "surgery") answers yes, and its negation no.
_TOPICAL = frozenset({*_CONTRARY, "surgery", "said", "allergy", "study", "infection"})
# What the question asks, found in its English source: these change what some replies mean.
ABILITY, PROBLEM, PREGNANCY, CONSENT, EXAMPLES, OTHER = (
    "ability",
    "problem",
    "pregnancy",
    "consent",
    "examples",
    "other",
)
# Which meaning a phrase of several concepts has: a hedge first ("maybe" is no "I don't know"),
# then yes/no/don't know, a negator last.
_RANK = {HEDGE: 0, YES: 1, NO: 2, DONT_KNOW: 3, ECHO: 60, NEGATOR: 99}


@dataclass(frozen=True)
class ShownOption:
    value: str
    labels: tuple[str, ...]  # as shown in the person's language, and the English source
    hints: tuple[str, ...] = ()  # the trial's other ways of saying it, in any language: read back
    words: tuple[str, ...] = ()  # whole answers that mean it for certain (a menu's "that's right")


@dataclass(frozen=True)
class Shown:
    """A question as the person saw it."""

    kind: str  # yes_no, consent, choice, or menu (the bot's own: only exact answers count)
    texts: tuple[str, ...]  # as shown, and the English source (the last); none for a menu
    options: tuple[ShownOption, ...]

    @property
    def source(self) -> str:
        return self.texts[-1] if self.texts else ""

    @property
    def plain_words_exact(self) -> bool:
        """Whether the language's plain yes/no words answer it exactly: they do a yes/no question,
        a consent and a menu, not a choice (at "tested? if so, positive?", 没有 could mean either)."""
        return self.kind != "choice"


def read_reply(shown: Shown, text: str, lexicon: Lexicon, today: date | None = None) -> Reading:
    """Which option of `shown` the typed `text` means, and how sure that is (`today` dates "去年")."""
    reading = _read(shown, text, lexicon, today)
    if reading.value is None and reading.certainty is Certainty.UNCLEAR:
        respelled = respelled_text(text, _vocabulary(lexicon))
        if respelled is not None:
            # "ys", "i agre", "betetr": read as the words they are one slip from, and read back
            again = _read(shown, respelled, lexicon, today)
            if again.value is not None:
                return Reading(again.value, Certainty.READ_BACK)
    return reading


def _read(shown: Shown, text: str, lexicon: Lexicon, today: date | None) -> Reading:
    folded = normalize(text)
    if not folded or len(text) > MAX_OPTION_ANSWER:
        return Reading()
    exact = _exact(shown, text, lexicon)
    if exact is not None:
        return Reading(exact, Certainty.SURE)
    plain = unicodedata.normalize("NFKC", text)
    if _QUESTION_MARK.search(plain):
        return Reading(certainty=Certainty.UNSURE)  # asking something back
    question = _question(shown, lexicon)
    said: list[str] = []
    spoke = False  # whether an earlier clause said anything
    described = False  # whether a clause said something that answers nothing (a case described)
    dated = False  # whether a clause says when something happened
    for n, (clause, after_contrast) in enumerate(_clauses(plain, with_contrast=True)):
        meanings = _dated(_meanings(clause, question, lexicon, n == 0), clause, question, lexicon, today)
        if HEDGE in meanings:
            return Reading(certainty=Certainty.UNSURE)  # "I think so", 好像有, "what is that"
        says = _says_anything(clause, question, lexicon)
        if spoke and says and (after_contrast or (question.choice and not meanings)):
            # "yes, but only once", "I had one but it's fine now", "乙肝抗体阳性，打过疫苗的": a
            # caveat that the options cannot hold
            return Reading()
        spoke = spoke or says
        described = described or (says and not any(question.options_for(m) for m in meanings))
        dated = dated or elapsed(clause, lexicon, today or date.today()) is not None
        said += meanings
    if question.timed and question.window is None and dated:
        return Reading()  # "复查过，三个月的时候小了" at "a scan at least a year after…?": which scan?
    if "not_test" in said and not question.named:
        return Reading()  # "smaller at 6 months, no scan since": what a test not done would show is not known
    if not question.choice and {"past", "now"} <= set(said):
        return Reading()  # "以前有，现在没了", "tuve antes, ahora ya no": which time is asked of?
    votes = {value for meaning in said for value in question.options_for(meaning)}
    if DONT_KNOW in said and votes and not question.options_for(DONT_KNOW):
        return Reading(certainty=Certainty.UNSURE)  # "my husband agrees, I'm not sure"
    if votes == question.options_for(DONT_KNOW) and described:
        # "I get palpitations, never checked", "me ponen inyecciones…, no sé si es un estudio": a
        # case described for the team to judge, not a "don't know"
        return Reading()
    asides = {
        value for m in said if m.startswith(ASIDE) for value in question.options_for(m.removeprefix(ASIDE))
    }
    if asides - votes:
        # One clause said something of another matter, another answered otherwise ("做过颈椎手术，
        # 不是空洞的"): which is about what was asked? ("去不了，腿脚不方便" says no twice, and is no.)
        return Reading()
    if len(votes) == 1:
        return Reading(votes.pop(), Certainty.READ_BACK)
    if not votes and DONT_KNOW in said:
        # "I don't know" where it is no option: not taken for another answer, and not a guess.
        return Reading(certainty=Certainty.UNSURE)
    return Reading()


def _dated(
    meanings: list[str], clause: str, question: _Question, lexicon: Lexicon, today: date | None
) -> list[str]:
    """At a question with a time window, a clause that dates the event answers it by its date
    ("2019年做的", "不到一年"), whatever verb says yes with it."""
    when = elapsed(clause, lexicon, today or date.today()) if question.window else None
    if question.window is None or when is None:
        return meanings
    answer = question.window.answers(*when)
    return [m for m in meanings if m.removeprefix(ASIDE) not in (YES, NO)] + ([answer] if answer else [])


def _exact(shown: Shown, text: str, lexicon: Lexicon) -> str | None:
    """The option that every clause of `text` names exactly ("是的，没错", "对对对"), if one does."""
    clauses = _clauses(unicodedata.normalize("NFKC", text))
    # "I agree", 同意, 可以 answer a request exactly, and a question of fact not at all.
    request = shown.kind in (CONSENT, "menu") or ABILITY in _question(shown, lexicon).asks
    owners = set()
    for number, option in enumerate(shown.options, start=1):
        whole = {str(number), *map(normalize, option.labels), *map(normalize, option.words)}
        if shown.plain_words_exact and option.value in POLARITY:
            whole |= set(lexicon.exact.get(option.value, ()))
            if request:
                whole |= set(lexicon.agreement.get(option.value, ()))
        if normalize(text) in whole or (clauses and all(_repeats(clause, whole) for clause in clauses)):
            owners.add(option.value)
    return owners.pop() if len(owners) == 1 else None


def _repeats(clause: str, whole: set[str]) -> bool:
    """Whether `clause` is one of `whole`, or one of them said again and again ("对对对", "no no").

    Each way `clause` splits into equal repeats is looked up in `whole`, rather than each of
    `whole` tried against `clause`: `whole` may hold a lexicon's every "yes"."""
    if clause in whole:
        return True
    if not clause:
        return any(whole)
    size, said = len(clause), len(clause.split())
    for times in range(2, size + 1):  # "对对对": the word, run together
        word = clause[: size // times]
        if size % times == 0 and word * times == clause and word in whole:
            return True
    for times in range(2, said + 1):  # "no no": the word, spaced
        length, left = divmod(size - (times - 1), times)
        word = clause[:length]
        if (
            not left
            and word in whole
            and " ".join([word] * times) == clause
            and said // max(len(word.split()), 1) == times
        ):
            return True
    return False


# --- the question ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Question:
    """What a reader needs of a question: what it asks, its own words, and its options' meanings."""

    asks: frozenset[str]  # ability, problem, pregnancy, consent
    alternatives: bool  # whether it asks of several things at once ("…or…"): one denied is not all
    choice: bool  # whether its options are not yes and no
    course: bool  # whether its options are how something went (better, the same, worse)
    timed: (
        bool  # whether it speaks of a time itself ("a scan at least one year after"): a date may be a caveat
    )
    copulas: frozenset[str]  # "is" words, which say yes at a yes/no question, and nothing at a choice
    window: Window | None  # "at least a year ago?", "in the past three months"
    topics: frozenset[str]  # the concepts a yes/no question names (smaller, better…)
    named: frozenset[str]  # the conditions it names, at any kind of question (diabetes, hepatitis B)
    actions: frozenset[str]  # what it asks leave to do (phone, store, come)
    one_condition: bool  # whether it asks of one condition, not of several or of examples of one
    echoes: tuple[str, ...]  # the question's own words, as the reply may repeat them
    characters: frozenset[str]  # its Han characters: a reply's 肝肾 is no new subject at 肝脏或肾脏
    meanings: Mapping[str, frozenset[str]]  # option value: the meanings its labels carry
    pointers: tuple[tuple[str, re.Pattern[str]], ...]  # "option:<value>" and its labels' and hints' pattern

    def options_for(self, meaning: str) -> set[str]:
        if meaning.startswith("option:"):
            return {meaning.removeprefix("option:")}
        return {value for value, carried in self.meanings.items() if meaning in carried}


_NO_QUESTION = _Question(
    asks=frozenset(),
    alternatives=False,
    choice=False,
    course=False,
    timed=False,
    copulas=frozenset(),
    window=None,
    topics=frozenset(),
    named=frozenset(),
    actions=frozenset(),
    one_condition=False,
    echoes=(),
    characters=frozenset(),
    meanings={},
    pointers=(),
)


@lru_cache(maxsize=2048)
def _question(shown: Shown, lexicon: Lexicon) -> _Question:
    source = normalize(shown.source)
    asks = {concept for concept, phrases in lexicon.asks.items() if _found(source, phrases)}
    if shown.kind == CONSENT:
        asks.add(CONSENT)
    meanings: dict[str, frozenset[str]] = {}
    for option in shown.options:
        # A label speaks of what is asked, whatever else it says ("Tested, all negative").
        labels = map(normalize, option.labels)
        carried = {m.removeprefix(ASIDE) for label in labels for m in _meanings(label, _NO_QUESTION, lexicon)}
        if shown.plain_words_exact:
            # Its value says what a yes/no option means ("Yes, you may contact me" is yes, not "me").
            carried = {option.value} & set(POLARITY)
        else:
            # A choice's labels say yes or no only as part of their sense ("查过，有阳性"):
            # a bare yes or no does not choose between them. "I don't know" does.
            carried = (carried - {YES, NO}) | ({option.value} & {DONT_KNOW})
        meanings[option.value] = frozenset(m for m in carried if not m.startswith(ASIDE))
    # A meaning that more than one option carries chooses none of them.
    shared = {m for a in meanings for b in meanings if a < b for m in meanings[a] & meanings[b]}
    meanings = {value: carried - shared for value, carried in meanings.items()}
    pointers = _patterns(
        tuple(
            (f"option:{o.value}", tuple(dict.fromkeys(p for p in map(normalize, (*o.labels, *o.hints)) if p)))
            for o in shown.options
        )
    )
    topics: set[str] = set()
    # Conditions and actions are found in the English source: its words are the trial's own, and
    # a translation's single characters (打, 存, 来) say too little on their own.
    found = {name for name in lexicon.conditions | lexicon.actions if _found(source, lexicon.concepts[name])}
    named = found & lexicon.conditions
    if shown.kind in ("yes_no", "consent"):
        topics |= named | (found & lexicon.actions)
    echoes: tuple[str, ...] = ()
    characters: frozenset[str] = frozenset()
    # A consent's text is long: its characters would cover anything.
    characters = frozenset(c for text in shown.texts for c in text if _HAN.match(c) and shown.kind != CONSENT)
    if shown.kind in ("yes_no", "consent"):
        for text in map(normalize, shown.texts):
            topics |= {m for s in _spans(text, _NO_QUESTION, lexicon) if (m := s.meaning) in _TOPICAL}
        # A consent's options name what is agreed to in plain words ("可以联系我", "do not contact
        # me"): a reply that grants or denies it in those words answers it.
        labels = (label for o in shown.options for label in o.labels) if shown.kind == CONSENT else ()
        echoes = _echo_words((*shown.texts, *(_unpolar(label, lexicon) for label in labels)), lexicon)
    alternatives = bool(_found(source, lexicon.alternatives))
    choice = not shown.plain_words_exact
    return _Question(
        frozenset(asks),
        alternatives,
        choice,
        any(carried & {"better", "worse"} for carried in meanings.values()),
        bool(_found(source, (*lexicon.time.get("years", ()), *lexicon.time.get("months", ())))),
        frozenset(lexicon.copulas),
        window(shown.source) if shown.kind == "yes_no" else None,
        frozenset(topics),
        frozenset(named),
        frozenset(topics & lexicon.actions),
        len(named) == 1 and not _found(source, lexicon.asks.get(EXAMPLES, ())),
        echoes,
        characters,
        meanings,
        pointers,
    )


# --- a clause and what it says --------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    meaning: str  # a concept, ECHO, "option:<value>", or NEGATOR


def _clauses(text: str, with_contrast: bool = False) -> list[Any]:
    """The clauses of `text`, folded; with `with_contrast`, each with whether a contrast ("but",
    但是) opened it."""
    clauses: list[tuple[str, bool]] = []
    for part in _CLAUSE_BREAK.split(text):
        if part is None:
            continue
        contrast = bool(_CONTRAST_WORDS.fullmatch(part.strip()))
        if contrast:
            clauses.append(("", True))
            continue
        words = normalize(part).split()
        start = 0
        for i, word in enumerate(words):
            if word in _CONTRAST:
                clauses.append((" ".join(words[start:i]), False))
                clauses.append(("", True))
                start = i + 1
        clauses.append((" ".join(words[start:]), False))
    merged: list[tuple[str, bool]] = []
    pending = False
    for clause, contrast in clauses:
        if contrast:
            pending = True
        elif clause:
            merged.append((clause, pending))
            pending = False
    return merged if with_contrast else [clause for clause, _ in merged]


def _meanings(clause: str, question: _Question, lexicon: Lexicon, first: bool = False) -> list[str]:
    """What one clause says, after negation, as meanings the question's options may carry
    (`first`: it opens the reply)."""
    spans = _spans(clause, question, lexicon)
    meanings: list[str] = []
    negated = False
    for i, span in enumerate(spans):
        if span.meaning == NEGATOR:
            if i and spans[i - 1].meaning == YES and not negated and meanings[-1] == YES:
                meanings[-1] = NO  # "she does" + "not"
            elif i + 1 == len(spans) and not (set(meanings) - {"relative", "myself"}):
                meanings.append(NO)  # "mum doesn't", "not him": a denial of what was asked
            negated = True
            continue
        meaning = span.meaning
        if meaning == HEDGE and i and _imperative(spans[i - 1], span, question):
            continue  # 打吧, 你们存吧: the very thing asked, urged on, is no "maybe"
        if meaning == HEDGE:
            meanings.append(HEDGE)  # "I don't think so": unsure, whatever negation stands before it
            continue
        if question.choice and meaning == YES and clause[span.start : span.end] in question.copulas:
            continue  # "我是他女儿": "is", not yes
        if negated and meaning != NO:
            meaning = _OPPOSITE.get(meaning, f"not_{meaning}")
        elif (
            meaning == NO
            and i
            and spans[i - 1].meaning == YES
            and meanings[-1:] == [YES]
            and not _CJK.search(clause)
        ):
            meanings[-1] = NO  # "I have" + "never" (not 有没有, which asks)
            continue
        elif meaning == NO and meanings[-1:] and _asked(meanings[-1], question) and i + 1 == len(spans):
            # "диабета нет", 糖尿病没有, "опухолей нет", "аллергии не было": what was asked, then denied
            meanings[-1] = "not_echo" if meanings[-1] == ECHO else f"not_{meanings[-1]}"
            continue
        elif meaning == NO and i + 1 < len(spans):
            negated = True  # "I don't" [have diabetes], 没有[做过手术]: the no is in what follows
            continue
        elif meaning == DISAGREE and i + 1 < len(spans):
            negated = True  # "I don't want" [to be contacted]: what follows is refused
        meanings.append(meaning)
    if PREGNANCY in question.asks and _past_childbearing_age(clause, lexicon):
        meanings.append("past_childbearing")  # "mum's 70", 我妈都70了 at "pregnant…?"
    answered = _through_question(meanings, question)
    if {"fine", "smaller"} & set(meanings):
        answered.append("now")  # "现在好了", "gone": a state now, which "以前有" may set against
    # "yes at Xuanwu", "no, only watched with scans", "نعم عندي دعامة": a yes or no said first, and
    # nothing else the words mean, answers a yes/no question whatever it adds (read back, never stored).
    # Only a word that is an answer on its own, not a verb with an object ("有个痣", "tengo un lunar"),
    # nor a negation of what follows ("no entendí el informe"), and only first ("RA but no meds").
    word = clause[: spans[0].end] if spans else ""
    leading = (
        first
        and len(spans) == 1
        and not question.choice
        and not _CJK.search(clause)
        and spans[0].start == 0
        and spans[0].meaning in (YES, NO)
        and word in lexicon.exact.get(spans[0].meaning, ())
        and not (spans[0].meaning == NO and word in lexicon.negators)
    )
    # Another illness than the question's is another subject ("有糖尿病" at "heart disease?").
    elsewhere = any(s.meaning in lexicon.conditions and s.meaning not in question.named for s in spans)
    # At a choice, a yes or no is about something else ("我跟我妈都有" at "who is answering?").
    if ((_new_content(clause, spans, question, lexicon) or elsewhere) and not leading) or (
        question.choice and {YES, NO} & set(answered)
    ):
        answered = [ASIDE + m if m in _WEAK or m.startswith("option:") else m for m in answered]
    return answered


# An age past which no one is pregnant or breastfeeding.
_CHILDBEARING_ENDS = 55


def _past_childbearing_age(clause: str, lexicon: Lexicon) -> bool:
    """Whether the clause gives one age, and one past childbearing ("mum's 70"; not a year, 1970)."""
    age = read_number(clause, lexicon).value
    return isinstance(age, int) and _CHILDBEARING_ENDS <= age <= 120


def _asked(meaning: str, question: _Question) -> bool:
    """Whether a meaning is what the question asks of: its own words, or a topic it names."""
    return meaning == ECHO or meaning in question.topics


def _imperative(verb: _Span, particle: _Span, question: _Question) -> bool:
    """Whether a one-character particle (吧) right after the verb of what is asked urges it on."""
    return (
        verb.meaning in question.actions and verb.end == particle.start and particle.end - particle.start == 1
    )


def _through_question(meanings: list[str], question: _Question) -> list[str]:
    """The meanings that answer this question only through what it asks, as yes or no."""
    asks, topics, said = question.asks, question.topics, set(meanings)
    out = [m for m in meanings if m not in _THROUGH_QUESTION and m.removeprefix("not_") not in topics]
    if said & {"test", "not_test"}:
        out = [m for m in out if m != NO]  # "ЭКГ не делал", 没做过心脏检查: no test says nothing of a result
    wrong = said & {"fine", "no_problem"}
    if "symptom" in said and len(said & {"more", "less"}) == 1:
        # "more numb than before", 更麻了, 手没那么麻了: a symptom's course, in the options' words
        out.append("worse" if "more" in said else "better")
    if {"not_better", "not_worse"} <= said:
        out.append("same")  # "neither better nor worse"
    if wrong and question.choice and any("negative" in carried for carried in question.meanings.values()):
        out.append("negative")  # 都正常, "all normal": a test that found nothing wrong was negative
    if "abnormal" in said and PROBLEM in asks and not wrong:
        out.append(YES)  # 肾功能不好, "kidney function is poor", "ECG abnormal" at "a problem with…?"
    if "not_test" in said and question.named:
        out.append(DONT_KNOW)  # "never had my sugar checked" at "diabetes?": whether it is there is not known
    if asks & {ABILITY, CONSENT}:
        if wrong or said & {ACCEPT, AGREE}:
            out.append(YES)  # "no problem", "ok" to "could you…?" or "do you agree?"
        if DISAGREE in said:
            out.append(NO)  # "I don't agree" to them
    elif (wrong or ACCEPT in said) and (said & {ECHO, "test"} or PROBLEM in asks):
        out.append(NO)  # "my heart is fine", 肝肾都没问题, 心电图正常: nothing wrong with what was asked
    if ECHO in said and not wrong and ACCEPT not in said and OTHER not in asks:
        # 变小了, "I have diabetes"; but at "apart from syringomyelia, another…?" its words may be
        # the one set apart (就空洞一个病)
        out.append(YES)
    if wrong and said & question.named:
        out.append(NO)  # "my heart is fine" in other words: 心脏没毛病 at "heart disease?"
    # "not yet sure" (لسه مش متأكد) is unsure, not "not yet"
    denied = said & ({"not_echo", "not_yet"} if DONT_KNOW not in said else {"not_echo"})
    if denied and (not question.alternatives or CONSENT in asks):
        # "not diabetic", 没有做过手术, 还没做; but "not planning" and "not yet" do not answer
        # "pregnant, breastfeeding or planning a pregnancy?", nor "没有肝病" "a problem with your
        # liver or your kidneys?". A consent asks one thing, however many "or"s it has: 别打电话.
        out.append(NO)
    for topic in topics:
        if topic in said and topic in question.actions and "relative" in said:
            continue  # "call my husband, not me": leave given for someone else is not this person's
        contrary = said & set(_CONTRARY.get(topic, ()))
        # 片子丢了: the thing asked of, named and lost, is not had (but 小了又大了 is both, unclear)
        lost = "lost" in contrary
        if topic in said and not lost and not (wrong and topic in question.named):
            out.append(
                YES
            )  # 缩小了 at "did it become smaller?", 开过刀 at "had surgery?", 打胰岛素 at "diabetes?"
        if f"not_{topic}" in said and topic in question.named and not question.one_condition:
            continue  # "no tumour" at "another disease, such as a tumour?": one example denied, not all
        if f"not_{topic}" in said or contrary:
            # 没变化, 反而大了 there; 没动过刀; 医生没这么说过 at "has a doctor told you…?"; a topic
            # denied is denied whatever examples the question gives of it ("…vaccine… or cell therapy")
            out.append(NO)
    if said & {"male", "past_childbearing"} and PREGNANCY in asks:
        out.append(NO)  # "I'm a man", 绝经了 to "are you pregnant…?"
    if "pregnant" in said and PREGNANCY in asks:
        out.append(YES)  # 在喂奶, "expecting"
    if "not_pregnant" in said and PREGNANCY in asks:
        out.append(NO)  # "مش حامل": said of the main thing asked, it is meant of all of it
    if "not_resident" in said:
        # "I don't live in Beijing" says nothing of whether they could come
        out = [m for m in out if m != NO]
    return out


# A symptom and a comparison ("more", 没那么): words of a course, read only where one is asked.
_COURSE = frozenset({"symptom", "more", "less"})
# Meanings that answer only through what the question asks (`_through_question`).
_THROUGH_QUESTION = frozenset(
    {
        ECHO,
        "not_echo",
        "not_yet",
        "fine",
        "no_problem",
        ACCEPT,
        AGREE,
        DISAGREE,
        "male",
        "past_childbearing",
        "pregnant",
        "test",
    }
)
# Meanings that speak of the question only where nothing else is spoken of: in a clause of
# other things ("我女儿在帮我打字", "antibody positive from the vaccine") they are asides.
_WEAK = frozenset({YES, NO, DONT_KNOW, "relative", "myself", "positive", "negative"})


def _spans(clause: str, question: _Question, lexicon: Lexicon) -> list[_Span]:
    """The meanings found in a clause, longest first, none overlapping another, in order."""
    found: list[_Span] = []
    # Each kind is matched on its own, so that a negation is found inside a longer phrase of
    # another kind ("没" of "没有改善", where a hint "有改善" is longer than "没有").
    for meaning, pattern in (*_concept_patterns(lexicon), *question.pointers):
        if (meaning in lexicon.actions and meaning not in question.topics) or (
            meaning in _COURSE and not question.course
        ):
            continue  # 打 of 打字, 来 of 后来: an action's words mean it only where it is asked
        found += [_Span(m.start(), m.start() + len(m.group(1)), meaning) for m in pattern.finditer(clause)]
    found += [_Span(s, e, ECHO) for s, e in _echoes(clause, question.echoes)]
    kept: list[_Span] = []
    # Longest first; of two the same, the higher-ranked meaning.
    # Of the same phrase, a concept before an option's label (which carries it: "worse" is both,
    # and "not worse" turns the concept round), and then by name, the same way every time.
    for span in sorted(found, key=lambda s: (-(s.end - s.start), s.start, _rank(s.meaning), s.meaning)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def _rank(meaning: str) -> int:
    return _RANK.get(meaning, 55 if meaning.startswith("option:") else 50)


@lru_cache(maxsize=64)
def _concept_patterns(lexicon: Lexicon) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """A pattern for every concept's phrases, hedges and negations."""
    concepts = {**{v: lexicon.phrases.get(v, ()) for v in POLARITY}, **lexicon.concepts}
    return _patterns((*concepts.items(), (HEDGE, lexicon.hedges), (NEGATOR, lexicon.negators)))


def _patterns(phrases: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = ((meaning, matcher(((meaning, words),))[0]) for meaning, words in phrases)
    return tuple((meaning, pattern) for meaning, pattern in compiled if pattern is not None)


def _says_anything(clause: str, question: _Question, lexicon: Lexicon) -> bool:
    spans = _spans(clause, question, lexicon)
    return bool(spans) or _new_content(clause, spans, question, lexicon)


def _new_content(clause: str, spans: list[_Span], question: _Question, lexicon: Lexicon) -> bool:
    """Whether the clause has words no meaning covers and that are more than function words,
    or than the question's own characters."""
    rest = list(clause)
    blank = [(span.start, span.end) for span in spans]
    if not question.timed and elapsed(clause, lexicon, date.today()) is not None:
        blank += _found(clause, _time_words(lexicon))  # "2019年在宣武做的": when, not what else
    for start, end in blank:
        rest[start:end] = " " * (end - start)
    stop = _stop(lexicon)
    for word in "".join(rest).split():
        if _CJK.search(word):
            for phrase in _cjk_stop_phrases(lexicon):
                word = word.replace(phrase, " ")
            if any(_CJK.match(c) and c not in stop and c not in question.characters for c in word):
                return True
        elif len(word) >= 3 and not word.isdigit() and word not in stop and word not in question.copulas:
            return True
    return False


@lru_cache(maxsize=64)
def _time_words(lexicon: Lexicon) -> tuple[str, ...]:
    """The words that say when: units, "ago", "last year", months, number words."""
    return (
        *(w for words in lexicon.time.values() for w in words),
        *lexicon.months_of_year,
        *lexicon.numbers,
        *lexicon.multipliers,
    )


@lru_cache(maxsize=64)
def _cjk_stop_phrases(lexicon: Lexicon) -> tuple[str, ...]:
    phrases = (w for w in lexicon.stopwords if len(w) > 1 and _CJK.match(w))
    return tuple(sorted(phrases, key=len, reverse=True))


@lru_cache(maxsize=64)
def _stop(lexicon: Lexicon) -> frozenset[str]:
    """Function words and characters, which say nothing of their own."""
    return frozenset(lexicon.stopwords)


@lru_cache(maxsize=8)
def _vocabulary(lexicon: Lexicon) -> Vocabulary:
    """The words a slip may be put right to (the lexicon's answer phrases), and the words known as
    they are (its other words too: "pero" is no slip of "peor")."""
    phrases = [
        *(p for v in POLARITY for p in lexicon.phrases.get(v, ())),
        *(p for ps in lexicon.concepts.values() for p in ps),
        *lexicon.confirm,
    ]
    other = (*lexicon.stopwords, *lexicon.hedges, *lexicon.negators, *_CONTRAST, *lexicon.numbers)
    # A slip is never put right to a denial ("nuca" is no "nunca", "NMO" no "noo"): that would turn
    # a reply round; nor to a function word ("quiste" is no "quite"), which would hide what it says.
    answers = {w for v in POLARITY for p in lexicon.exact.get(v, ()) for w in p.split()}
    denials = {w for p in (*lexicon.phrases.get(NO, ()), *lexicon.negators) for w in p.split()}
    blocked = (set(lexicon.stopwords) - answers) | denials
    words = {w for p in phrases for w in p.split()}
    return Vocabulary.of(words - blocked, (*other, *(words & blocked)))


# --- echoes of the question's own words -----------------------------------------------------------


def _unpolar(label: str, lexicon: Lexicon) -> str:
    """An option's label without its yes, no or negation ("否，请不要联系我" -> "，请  联系我"):
    what it speaks of, not which way."""
    text = list(normalize(label))
    for span in _spans("".join(text), _NO_QUESTION, lexicon):
        if span.meaning in (*POLARITY, NEGATOR, HEDGE):
            text[span.start : span.end] = " " * (span.end - span.start)
    return "".join(text)


def _echo_words(texts: Iterable[str], lexicon: Lexicon) -> tuple[str, ...]:
    """The question's content words (spaced scripts, by stem) and character pairs (CJK)."""
    stop = _stop(lexicon) | set(lexicon.negators)  # 不适 of 不适用 is "not" + 适, no content word
    words: dict[str, None] = {}
    for text in map(normalize, texts):
        for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", text):
            for i in range(len(run) - 1):
                pair = run[i : i + 2]
                if not set(pair) & stop and pair not in stop:
                    words[pair] = None
        for word in text.split():
            spaced = not _CJK.search(word) and not word.isdigit()
            if spaced and len(word) >= _stem_length(word) and word not in stop:
                words[_stem(word)] = None
    return tuple(words)


_ARABIC = re.compile(r"[\u0600-\u06ff]")
# The Arabic article (with "and") before a word, and the pronouns joined after it ("القلب",
# "قلبي"): a word of the question and of the reply meet without them. Not "بال", "with the":
# "بالتهاب السحايا" would meet any "التهاب" (inflammation of anything).
_ARABIC_BEFORE = re.compile(r"^(?:وال|ال)(?=\w{3})")
_ARABIC_AFTER = re.compile(r"(?<=\w{3})(?:هما|كما|هم|هن|كم|كن|ها|نا|ني|ه|ي|ك|ة)$")


def _stem(word: str) -> str:
    """A word's first letters, without accents, or an Arabic word without its article and joined
    pronoun: diabético and diabetes meet, and so do القلب and قلبي."""
    word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
    if _ARABIC.search(word):
        return _ARABIC_AFTER.sub("", _ARABIC_BEFORE.sub("", word))[:5]
    return word[:5]


def _stem_length(word: str) -> int:
    """How long a word must be to be an echo: three letters in Arabic (قلب), four elsewhere."""
    return 3 if _ARABIC.search(word) else 4


def _echoes(clause: str, echoes: tuple[str, ...]) -> list[tuple[int, int]]:
    if not echoes:
        return []
    found: list[tuple[int, int]] = []
    pairs = {e for e in echoes if _CJK.match(e)}
    for i in range(len(clause) - 1):
        if clause[i : i + 2] in pairs:
            if found and found[-1][1] >= i + 1:  # 糖尿 + 尿病: one echo, 糖尿病
                found[-1] = (found[-1][0], i + 2)
            else:
                found.append((i, i + 2))
    stems = set(echoes) - pairs
    for match in re.finditer(r"\S+", clause):
        word = match.group()
        if not _CJK.search(word) and len(word) >= _stem_length(word) and _stem(word) in stems:
            found.append((match.start(), match.end()))
    return found


def _found(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    return find_phrases(text, tuple(phrases))
