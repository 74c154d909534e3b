"""The funnel's counters: how many screenings of a trial reached each step, per language, per
source and per day (UTC) begun, kept in the transaction that changes what they count (issue 22).

Counting the screenings at each look took a GROUP BY over all of them: 11 s at 100,000. Now each
screening keeps the steps it is counted at (`screening.counted`, e.g. "started consented
completed likely_eligible referred"), and whatever changes them moves its counts from its old
cell (trial, language, source, day) to its new one in `funnel_count`, by an atomic
`n = n + delta` (two turns at once never lose a count). Each dimension is counted on its own, as
the funnel shows it (by language, by source, by week): a few rows per language, source and day
begun, never their product, whatever the number of people.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

# A referral status at which the team has reached the person.
REACHED = ("booked", "contacted", "enrolled", "not_eligible_after_call")
# The steps a referral's status decides; the rest follow from the screening and its consents.
REFERRAL_STEPS = ("referred", "contacted", "enrolled")

# A cell: trial, language, source ("" for none) and the day begun.
Cell = tuple[str, str, str, date]

FUNNEL_COUNT = sa.table(
    "funnel_count",
    sa.column("trial_id", sa.String),
    sa.column("dimension", sa.String),
    sa.column("bucket", sa.String),
    sa.column("step", sa.String),
    sa.column("n", sa.Integer),
)
KEY = ("trial_id", "dimension", "bucket", "step")


def referral_steps(status: str | None) -> tuple[str, ...]:
    """The steps a screening's referral in `status` (None: it has none) counts it at."""
    if status is None or status == "cancelled":
        return ()
    return (
        "referred",
        *(("contacted",) if status in REACHED else ()),
        *(("enrolled",) if status == "enrolled" else ()),
    )


def steps(status: str, outcome: str | None, consented: bool, referral: Iterable[str]) -> str:
    """The steps a screening is counted at, in the funnel's order: the one place they are decided."""
    reached = ["started", *(["consented"] if consented else [])]
    if status == "finished":
        reached += ["completed", *([outcome] if outcome else [])]
    return " ".join([*reached, *referral])


def cell(trial_id: str, locale: str | None, source: str | None, started_at: datetime) -> Cell:
    began = started_at.astimezone(UTC) if started_at.tzinfo else started_at
    return (trial_id, locale or "", source or "", began.date())


class Tally:
    """The counts a transaction moves, applied with it in one statement (`apply`)."""

    def __init__(self) -> None:
        self.moved: dict[tuple[str, str, str, str], int] = {}

    def add(self, where: Cell, counted: str, by: int) -> None:
        trial_id, locale, source, day = where
        for bucket in (("language", locale), ("source", source), ("day", day.isoformat())):
            for step in counted.split():
                key = (trial_id, *bucket, step)
                self.moved[key] = self.moved.get(key, 0) + by

    def move(self, before: tuple[Cell, str] | None, after: tuple[Cell, str] | None) -> None:
        """A screening counted at `before` (cell, steps) is now at `after` (None: not counted)."""
        if before == after:
            return
        if before is not None:
            self.add(*before, by=-1)
        if after is not None:
            self.add(*after, by=1)

    def apply(self, connection: Any) -> None:
        rows = [dict(zip(KEY, key, strict=True), n=n) for key, n in sorted(self.moved.items()) if n]
        self.moved.clear()
        if rows:  # in key order: two transactions lock the cells they share in the same order
            connection.execute(_upsert(connection.dialect.name), rows)


def _upsert(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(FUNNEL_COUNT)
    return insert.on_conflict_do_update(
        index_elements=list(KEY), set_={"n": FUNNEL_COUNT.c.n + insert.excluded.n}
    )


# Counting what is there (the migration that brought the counters, and `bench.size`) ---------

_SCREENING = sa.table(
    "screening",
    sa.column("id", sa.Integer),
    sa.column("trial_id", sa.String),
    sa.column("locale", sa.String),
    sa.column("source", sa.String),
    sa.column("status", sa.String),
    sa.column("outcome", sa.String),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("counted", sa.String),
)
_CONSENT = sa.table(
    "consent",
    sa.column("screening_id", sa.Integer),
    sa.column("scope", sa.String),
    sa.column("granted", sa.Boolean),
)
_REFERRAL = sa.table("referral", sa.column("screening_id", sa.Integer), sa.column("status", sa.String))


def recount(connection: Any, ids: range | None = None) -> None:
    """Count every screening (or those with `ids`, not counted before) from its rows: its steps
    written to it in SQL, then its cell's counts added, a group of alike at a time."""
    s = _SCREENING
    consented = (
        sa.select(_CONSENT.c.screening_id)
        .where(_CONSENT.c.screening_id == s.c.id, _CONSENT.c.scope == "storage", _CONSENT.c.granted)
        .exists()
    )
    referral = (
        sa.select(_REFERRAL.c.status).where(_REFERRAL.c.screening_id == s.c.id).limit(1).scalar_subquery()
    )

    def one_if(condition: Any, word: str) -> Any:
        return sa.case((condition, " " + word), else_="")

    active = referral.is_not(None) & (referral != "cancelled")
    counted = (
        sa.literal("started")
        + one_if(consented, "consented")
        + one_if(s.c.status == "finished", "completed")
        + sa.case(
            ((s.c.status == "finished") & s.c.outcome.is_not(None), sa.literal(" ") + s.c.outcome), else_=""
        )
        + one_if(active, "referred")
        + one_if(active & referral.in_(REACHED), "contacted")
        + one_if(referral == "enrolled", "enrolled")
    )
    chosen = s.c.id.between(ids.start, ids.stop - 1) if ids is not None else sa.true()
    connection.execute(sa.update(s).where(chosen).values(counted=counted))
    began = s.c.started_at
    day = (
        sa.func.date(sa.func.timezone("UTC", began))
        if connection.dialect.name == "postgresql"
        else sa.func.date(began)
    )
    columns = (s.c.trial_id, s.c.locale, s.c.source, day, s.c.counted)
    tally = Tally()
    for trial_id, locale, source, on, steps_at, n in connection.execute(
        sa.select(*columns, sa.func.count()).where(chosen).group_by(*columns)
    ):
        on = on if isinstance(on, date) else date.fromisoformat(on)
        tally.add((trial_id, locale or "", source or "", on), steps_at, n)
    tally.apply(connection)
