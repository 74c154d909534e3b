"""What coordinators export and count: a trial's referrals as CSV, and its recruitment funnel."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.coordination.cards import (
    LANGUAGE,
    OUTCOME,
    RECEIVED,
    SOURCE,
    UNCERTAIN,
    language_name,
    outcome_label,
    status_label,
)
from dialogs.i18n import translator
from dialogs.trial import N_, NP_, Question, Trial
from dialogs.wording import answer_text
from storage.models import Referral
from storage.repository import Records
from storage.views import referral_views

STATUS = N_("Status")
REFERRAL_ID = N_("Referral")
OPEN_REFERRALS = NP_("{n} open referral:", "{n} open referrals:")
BY_LANGUAGE = N_("By language")
BY_SOURCE = N_("By source")
BY_WEEK = N_("By week")
FUNNEL = (
    ("started", N_("Started")),
    # Agreed to the chat's storing of answers: not the study's informed consent, which "Consented"
    # beside "Enrolled" reads as (zh_Hans review M12).
    ("consented", N_("Agreed to pre-screening")),
    ("completed", N_("Completed")),
    ("likely_eligible", N_("May be a candidate")),
    ("needs_review", N_("Needs review")),
    ("not_eligible", N_("Probably not eligible")),
    ("referred", N_("Referred")),
    ("contacted", N_("Contacted")),
    ("enrolled", N_("Enrolled")),
)
FUNNEL_DIMENSIONS = (("language", BY_LANGUAGE), ("source", BY_SOURCE), ("week", BY_WEEK))
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# A phone number as stored since it is normalised (E.164): a plus and digits, nothing a
# spreadsheet could run, and shown as it is rather than behind a quote.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def neutralise(cell: str) -> str:
    return f"'{cell}" if cell.startswith(_FORMULA) else cell


def referrals_csv(records: Records, trial: Trial, locale: str, timezone: str, kind: str = "contact") -> bytes:
    """`trial`'s referrals as CSV, headed and worded in the coordinator's language.

    contact       who to call and why: outcome, what to check, language, source, name, phone
    full          the above and every answer
    deidentified  for statistics: every answer but those that identify or were typed freely,
                  no referral id, and only the month received

    UTF-8 with a byte-order mark, so spreadsheet programs read Chinese correctly.
    """
    return b"".join(referrals_csv_parts(lambda work: work(records), trial, locale, timezone, kind))


Reader = Callable[[Callable[[Records], Any]], Any]


def referrals_csv_parts(
    read: Reader, trial: Trial, locale: str, timezone: str, kind: str = "contact", batch: int = 500
) -> Iterator[bytes]:
    """`referrals_csv` as it is made: the header, then `batch` referrals at a time, oldest first,
    each batch read through `read` (a transaction of its own when it is streamed)."""
    t = translator(locale, (trial.domain,))
    zone = ZoneInfo(timezone)
    questions = [q for q in trial.questions if q.scope != "storage" and _exported(q, kind)]
    header = [t(label) for label in (RECEIVED, STATUS, OUTCOME, UNCERTAIN, LANGUAGE, SOURCE)]
    header = header if kind == "deidentified" else [t(REFERRAL_ID), *header]
    when = "yyyy-MM" if kind == "deidentified" else "yyyy-MM-dd HH:mm"

    def line(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        return buffer.getvalue()

    def row(referral: Referral, view: dict[str, Any]) -> str:
        shown = [
            format_datetime(referral.created_at, when, tzinfo=zone, locale=locale),
            status_label(referral.status, t),
            outcome_label(referral.outcome, t),
            " ".join(view["uncertain"]),
            language_name(view["language"], locale),
            view["source"] or "",
        ]
        cells = [
            neutralise(str(cell)) for cell in (shown if kind == "deidentified" else [referral.id, *shown])
        ]
        for question in questions:
            value = view["answers"].get(question.id)
            text = "" if value is None else answer_text(question, value, t)
            phone = question.kind == "phone" and _E164.fullmatch(text)
            cells.append(text if phone else neutralise(text))
        return line(cells)

    def rows_after(key: tuple[datetime, str] | None) -> tuple[str, tuple[datetime, str] | None]:
        def work(records: Records) -> tuple[str, tuple[datetime, str] | None]:
            found = records.referral_list(
                [trial.registry_id], kept=True, after=key, oldest_first=True, limit=batch
            )
            text = "".join(row(referral, view) for referral, view in referral_views(records, found) if view)
            last = found[-1][0] if len(found) == batch else None
            return text, (last.created_at, last.id) if last else None

        return read(work)

    yield ("\ufeff" + line([neutralise(h) for h in [*header, *(t(q.label) for q in questions)]])).encode()
    key: tuple[datetime, str] | None = None
    while True:
        text, key = rows_after(key)
        if text:
            yield text.encode()
        if key is None:
            return


def _exported(question: Question, kind: str) -> bool:
    if kind == "contact":
        return question.identifies
    if kind == "deidentified":
        return not question.private
    return True


Funnel = dict[str, dict[str, Counter[str]]]


def funnel(records: Records, trial_id: str) -> Funnel:
    """A trial's counts per funnel step, by language, by source and by the ISO week the screening
    began: {"language": {"zh_Hans": Counter}, "week": {"2026-W49": Counter}…}. Read from the
    counters each change keeps (storage.funnel), summed by the database: a few rows per day
    begun, whatever the number of screenings."""
    by: dict[str, dict[str, Counter[str]]] = {key: defaultdict(Counter) for key, _ in FUNNEL_DIMENSIONS}
    shown = {step for step, _ in FUNNEL}
    for dimension, group, step, n in records.funnel_counts(trial_id):
        if step not in shown:
            continue
        if isinstance(group, date):
            year, week, _ = group.isocalendar()
            by["week"][f"{year}-W{week:02d}"][step] += n
        else:
            by[dimension][group or "-"][step] += n
    return {k: dict(v) for k, v in by.items()}


def funnel_text(counts: Funnel, locale: str) -> str:
    """A funnel as a small table per dimension, for a chat message."""
    t = translator(locale)
    lines = []
    titles = dict(FUNNEL_DIMENSIONS)
    for dimension, groups in counts.items():
        lines.append(f"— {t(titles[dimension])} —")
        for group, steps in sorted(groups.items()):
            name = language_name(group, locale) if dimension == "language" and group != "-" else group
            lines.append(
                f"{name}: " + ", ".join(f"{t(label)} {steps.get(step, 0)}" for step, label in FUNNEL)
            )
    return "\n".join(lines) if lines else "-"
