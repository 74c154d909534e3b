"""How typed answers are understood, per language, over the phrase corpus.

    .venv/bin/python -m bench.understanding [--before REVISION] [--corpus DIR]

For each shipped language, over `locales/<locale>/answers-corpus.yaml` (per question of each
trial here, and the bot's menus): what the bot did with each phrase, judged against what the
person meant — stored right at once, read back right, asked again, read back wrong, stored
wrong — and the share of clear answers understood the first time (stored or read back right).
Unclear phrases must be asked again. Then the time to read one phrase (p50, p95, once each
question's patterns are made) and the peak memory of the process.

With `--before REVISION` (a git revision of this repository, e.g. 37da375, the reader before
dialogs/reading.py), the same phrases are also read by that revision's reader, in a process of
its own, and its figures are printed beside.

With `--corpus DIR`, the phrases are read from `DIR/<locale>.yaml` (the same format) instead:
a corpus written apart from the reader and never tuned on, whose figures are the honest ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from dialogs.corpus import Case, Outcome, judge, load_corpus, load_corpus_file, read_case, servable
from dialogs.i18n import shipped_locales
from dialogs.understanding import Certainty, Reading

COLUMNS = (
    ("stored right", Outcome.STORED_RIGHT),
    ("read back right", Outcome.READ_BACK_RIGHT),
    ("asked again", Outcome.ASKED_AGAIN),
    ("read back wrong", Outcome.READ_BACK_WRONG),
    ("stored wrong", Outcome.STORED_WRONG),
)
ROOT = Path(__file__).resolve().parent.parent

# Reads cases (JSON lines on stdin) with the reader of an older revision: its AnswerReader.read
# for questions and read_menu for menus; prints [value, certainty] per case.
BEFORE = r"""
import json, sys
from dialogs.answers import AnswerReader
from dialogs.i18n import shipped_locales, translator
from dialogs.inputs import Text
from dialogs import messages as m
from dialogs.trial import find_trial
from dialogs.understanding import all_lexicons
trial = find_trial("nct07295067")
locales = shipped_locales()
everyone = tuple(translator(l, (trial.domain,)) for l in locales)
menus = {
    "read_back": {"yes": m.READ_BACK_YES, "no": m.READ_BACK_NO},
    "summary": {"confirm": m.CONFIRM, "change": m.CHANGE},
    "delete": {"yes": m.DELETE_YES, "no": m.DELETE_NO},
    "other_studies": {"yes": m.OTHER_STUDIES_YES, "no": m.OTHER_STUDIES_NO},
}
for line in sys.stdin:
    case = json.loads(line)
    reader = AnswerReader(all_lexicons(), translator(case["locale"], (trial.domain,)), locales, everyone)
    if case["trial"] == "menus":
        words = {"read_back": reader.confirm_words(), "summary": reader.summary_words()}.get(case["question"])
        value = reader.read_menu(Text(case["text"]), menus[case["question"]], words)
        print(json.dumps([value, "sure"]))
    else:
        reading, _ = reader.read(trial.question(case["question"]), Text(case["text"]))
        print(json.dumps([reading.value, reading.certainty.value]))
"""


def measure(cases: list[Case], readings: list[Reading]) -> tuple[Counter[Outcome], float]:
    outcomes: Counter[Outcome] = Counter()
    clear = understood = 0
    for case, reading in zip(cases, readings, strict=True):
        outcome = judge(case, reading)
        outcomes[outcome] += 1
        if case.meaning is not None:
            clear += 1
            understood += outcome in (Outcome.STORED_RIGHT, Outcome.READ_BACK_RIGHT)
    return outcomes, 100 * understood / max(clear, 1)


def read_before(revision: str, cases: list[Case]) -> list[Reading]:
    """The readings of `revision`'s reader, from a copy of its code and catalogs."""
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "dialogs", "locales"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        for po in Path(folder, "locales").glob("*/LC_MESSAGES/*.po"):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "babel.messages.frontend",
                    "compile",
                    "-i",
                    str(po),
                    "-o",
                    str(po.with_suffix(".mo")),
                ],
                capture_output=True,
                check=True,
            )
        lines = "".join(
            json.dumps({"locale": c.locale, "trial": c.trial, "question": c.question, "text": c.text}) + "\n"
            for c in cases
        )
        out = subprocess.run(
            [sys.executable, "-c", BEFORE],
            input=lines,
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
        ).stdout
    readings = []
    for line in out.splitlines():
        value, certainty = json.loads(line)
        readings.append(Reading(value, Certainty(certainty)) if value is not None else Reading())
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a git revision whose reader to measure beside")
    parser.add_argument("--corpus", type=Path, help="a folder of <locale>.yaml corpora to read instead")
    args = parser.parse_args()
    header = f"{'language':9} {'phrases':>7} " + " ".join(f"{name:>15}" for name, _ in COLUMNS)
    print(
        header
        + f" {'understood':>11}"
        + ("   before (NCT07295067, menus): understood, read back/stored wrong" if args.before else "")
    )
    every: list[float] = []
    waiting = 0
    for locale in shipped_locales():
        corpus = (
            load_corpus_file(args.corpus / f"{locale}.yaml", locale) if args.corpus else load_corpus(locale)
        )
        if not corpus:
            continue
        cases = [c for c in corpus if servable(c)]
        waiting += len(corpus) - len(cases)
        for case in cases:
            read_case(case)  # each question's patterns are made once per process: not what a turn costs
        readings = []
        for case in cases:
            began = time.perf_counter()
            readings.append(read_case(case))
            every.append(time.perf_counter() - began)
        outcomes, understood = measure(cases, readings)
        cells = " ".join(f"{outcomes[o]:>15}" for _, o in COLUMNS)
        line = f"{locale:9} {len(cases):>7} {cells} {understood:>10.1f}%"
        if args.before:
            # The older reader served one trial: it is measured on that trial's phrases and the menus.
            known = [c for c in cases if c.trial in ("nct07295067", "menus")]
            old, old_understood = measure(known, read_before(args.before, known))
            wrong = old[Outcome.READ_BACK_WRONG], old[Outcome.STORED_WRONG]
            line += f"   {old_understood:>6.1f}%, {wrong[0]}/{wrong[1]}"
        print(line)
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
