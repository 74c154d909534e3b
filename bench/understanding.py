"""How typed answers are understood, per language, over the phrase corpus.

    .venv/bin/python -m bench.understanding

For each shipped language, over `locales/<locale>/answers-corpus.yaml`: the share of
answers stored at once, read back before they are stored, and asked again (nothing
stored or proposed), and the share misread: taken for a value other than the one the
corpus gives. Misread must be 0. Beside it, as a baseline, what the rule before this one
did with the same option answers (the longest phrase found wins and is stored at once).
"""

from __future__ import annotations

import time
from collections import Counter

from dialogs.corpus import CORPUS_QUESTIONS, Case, load_corpus, read_case
from dialogs.i18n import shipped_locales, translator
from dialogs.trial import Trial, find_trial
from dialogs.understanding import Certainty, all_lexicons, match_phrase, normalize


def baseline(trial: Trial, case: Case) -> object:
    """The previous rule, for option questions: an option's number, else the longest phrase found, stored."""
    question = trial.question(CORPUS_QUESTIONS[case.kind])
    t = translator(case.locale, (trial.domain,))
    options = [o.value for o in question.choices]
    folded = normalize(case.text)
    if folded.isdigit():
        return options[int(folded) - 1] if 1 <= int(folded) <= len(options) else None
    lexicon = all_lexicons()
    phrases = {
        o.value: [
            normalize(o.text),
            normalize(t(o.text)),
            *lexicon.phrases.get(o.value, ()),
            *(normalize(k) for k in (o.keywords or "").split("|") + t(o.keywords or "").split("|") if k),
        ]
        for o in question.choices
    }
    return match_phrase(case.text, phrases)


def main() -> None:
    trial = find_trial("nct07295067")
    print(
        f"{'language':9} {'phrases':>7} {'stored at once':>15} {'read back':>10} {'asked again':>12} "
        f"{'misread':>8}   {'baseline misread (options)':>27}"
    )
    began = time.perf_counter()
    total = 0
    for locale in shipped_locales():
        cases = load_corpus(locale)
        counts: Counter[str] = Counter()
        old_wrong = old_total = 0
        for case in cases:
            reading = read_case(trial, case)
            expected = None if case.expect == "ask" else case.value
            if reading.value is not None and reading.value != expected:
                counts["misread"] += 1
            elif reading.certainty is Certainty.SURE:
                counts["sure"] += 1
            elif reading.certainty is Certainty.READ_BACK:
                counts["read back"] += 1
            else:
                counts["asked"] += 1
            if case.kind != "number":
                old_total += 1
                old_wrong += baseline(trial, case) not in (None, expected)
        n = len(cases)
        total += n

        share = {key: f"{100 * counts[key] / n:.0f}%" for key in ("sure", "read back", "asked", "misread")}
        print(
            f"{locale:9} {n:>7} {share['sure']:>15} {share['read back']:>10} {share['asked']:>12} "
            f"{share['misread']:>8}   {f'{old_wrong}/{old_total} ({100 * old_wrong / old_total:.0f}%)':>27}"
        )
    elapsed = time.perf_counter() - began
    print(
        f"\n{total} phrases read in {elapsed:.2f} s "
        f"({1000 * elapsed / total:.2f} ms a phrase, all lexicons loaded)"
    )


if __name__ == "__main__":
    main()
