"""How typed answers are understood, per language, over the phrase corpus.

    .venv/bin/python -m bench.understanding [--rules-before]

For each shipped language, over `locales/<locale>/answers-corpus.yaml` (per question of each
trial here, and the bot's menus): what the bot did with each phrase, judged against what the
person meant — stored right at once, read back right, asked again, read back wrong, stored
wrong — and the share of clear answers understood the first time (stored or read back right).
Unclear phrases must be asked again. Then the time to read one phrase (p50, p95) and the peak
memory of the process.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections import Counter

from dialogs.corpus import Case, Outcome, judge, load_corpus, read_case, servable
from dialogs.i18n import shipped_locales

COLUMNS = (
    ("stored right", Outcome.STORED_RIGHT),
    ("read back right", Outcome.READ_BACK_RIGHT),
    ("asked again", Outcome.ASKED_AGAIN),
    ("read back wrong", Outcome.READ_BACK_WRONG),
    ("stored wrong", Outcome.STORED_WRONG),
)


def measure(cases: list[Case]) -> tuple[Counter[Outcome], int, int, list[float]]:
    for case in cases:
        read_case(case)  # each question's patterns are made once per process: not what a turn costs
    outcomes: Counter[Outcome] = Counter()
    clear = understood = 0
    times = []
    for case in cases:
        began = time.perf_counter()
        reading = read_case(case)
        times.append(time.perf_counter() - began)
        outcome = judge(case, reading)
        outcomes[outcome] += 1
        if case.meaning is not None:
            clear += 1
            understood += outcome in (Outcome.STORED_RIGHT, Outcome.READ_BACK_RIGHT)
    return outcomes, clear, understood, times


def main() -> None:
    header = f"{'language':9} {'phrases':>7} " + " ".join(f"{name:>15}" for name, _ in COLUMNS)
    print(header + f" {'understood':>11}")
    every: list[float] = []
    waiting = 0
    for locale in shipped_locales():
        cases = [c for c in load_corpus(locale) if servable(c)]
        waiting += len(load_corpus(locale)) - len(cases)
        outcomes, clear, understood, times = measure(cases)
        every += times
        cells = " ".join(f"{outcomes[o]:>15}" for _, o in COLUMNS)
        print(f"{locale:9} {len(cases):>7} {cells} {100 * understood / max(clear, 1):>10.1f}%")
    every.sort()
    p95 = every[int(0.95 * (len(every) - 1))]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{len(every)} phrases; reading one: p50 {1000 * statistics.median(every):.2f} ms, "
        f"p95 {1000 * p95:.2f} ms; peak memory {peak:.0f} MiB"
    )
    if waiting:
        print(f"({waiting} phrases are for trials not in this deployment and were not read.)")


if __name__ == "__main__":
    sys.exit(main())
