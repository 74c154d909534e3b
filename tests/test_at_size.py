"""Flat cost at size: what counts or lists takes a fixed number of statements however many
screenings there are, and shows what it showed when it took one or more per screening.

Small databases filled as `bench.size` fills big ones (bulk insert, stored as the app stores);
the big sizes are the bench's (README, Benchmarks)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bench.size import Filler
from bot.coordination.reports import FUNNEL, Funnel, funnel
from dialogs.trial import Trial
from storage.repository import Records, Store


def _filled(store: Store, trial: Trial, count: int, seed: int = 22) -> Store:
    Filler(store.engine, store.cipher, trial, seed=seed, inputs_per_screening=2).fill(count)
    return store


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements sent to the database while the block runs."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def _statements_at(
    store: Store, trial: Trial, sizes: tuple[int, ...], work: Callable[[], object]
) -> list[int]:
    """How many statements `work` takes with the database filled to each of `sizes`."""
    counts = []
    for size in sizes:
        _filled(store, trial, size)
        with _statements(store) as sent:
            work()
        counts.append(len(sent))
    return counts


def _funnel_one_by_one(records: Records, trial_id: str) -> Funnel:
    """The funnel as it was counted before (issue 22): screening by screening, two queries each."""
    reached = {"contacted", "booked", "enrolled", "not_eligible_after_call"}
    by: dict[str, dict[str, Counter[str]]] = {k: defaultdict(Counter) for k in ("language", "source", "week")}
    for screening in records.screenings(trial_id):
        steps = {"started"}
        if any(c.scope == "storage" and c.granted for c in records.consents(screening.id or 0)):
            steps.add("consented")
        if screening.status == "finished":
            steps.add("completed")
            steps.add(screening.outcome or "")
        referral = records.referral_for(screening.id or 0)
        if referral is not None and referral.status != "cancelled":
            steps.add("referred")
            if referral.status in reached:
                steps.add("contacted")
            if referral.status == "enrolled":
                steps.add("enrolled")
        by["language"][screening.locale or "-"].update(steps)
        by["source"][screening.source or "-"].update(steps)
        year, week, _ = screening.started_at.isocalendar()
        by["week"][f"{year}-W{week:02d}"].update(steps)
    return {k: dict(v) for k, v in by.items()}


def _shown(counts: Funnel) -> dict[str, dict[str, list[int]]]:
    """What a funnel page shows: each group's count at each step."""
    return {
        dimension: {group: [steps.get(step, 0) for step, _ in FUNNEL] for group, steps in groups.items()}
        for dimension, groups in counts.items()
    }


def test_the_funnel_counted_by_the_database_is_the_funnel_counted_one_by_one(
    store: Store, trial: Trial
) -> None:
    _filled(store, trial, 250)
    with store.transaction() as records:
        counted, expected = funnel(records, trial.registry_id), _funnel_one_by_one(records, trial.registry_id)
    assert _shown(counted) == _shown(expected)
    shown = _shown(counted)["language"]
    total = [sum(column) for column in zip(*shown.values(), strict=True)]
    assert total[0] == 250 and all(total), f"every step has someone in this mix: {total}"
    assert len(_shown(counted)["week"]) > 40, "the screenings began over most of a year"
    with store.transaction() as records:
        assert funnel(records, "NCT00000000") == {"language": {}, "source": {}, "week": {}}


def test_the_funnel_takes_as_many_statements_for_fifty_screenings_as_for_one(
    store: Store, trial: Trial
) -> None:
    def count() -> None:
        with store.transaction() as records:
            funnel(records, trial.registry_id)

    one, fifty = _statements_at(store, trial, (1, 50), count)
    assert one == fifty, f"{one} statements for one screening, {fifty} for fifty"
