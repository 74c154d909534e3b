"""What one turn costs the database: a fixed few statements, whatever the input (issue 22).

A turn reads the person with their screening in one query and its answers in another, decides
in memory, and writes what changed. A query added back (in a transition guard, per answer, a
second read of the screening) shows here as a statement more per turn.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from sqlalchemy import event

from dialogs.engine import Engine, Input, Reply, Text
from dialogs.machine import NOT_ELIGIBLE
from storage.repository import SCREENING_COLUMNS, ScreeningState
from tests.conftest import LIKELY_B1, TAPS_B1, Person

# On main at 08b86c7 a typed or tapped answer took 9 statements (BEGIN included) and the
# finishing turn 13; now 6, and 9 for the turn that also creates the referral. With an
# update id to deduplicate, one more: the claim is one INSERT … ON CONFLICT DO NOTHING.
# A turn that changes what the funnel counts (a start, a consent, a finish) costs one statement
# more: its counts moved in one INSERT … ON CONFLICT DO UPDATE (storage.funnel); so 10 for the
# finishing turn. An answer that changes none of it costs none.
ANSWER_TURN = 6
MOST_IN_A_TURN = 10


class CountingPerson(Person):
    """A person whose every turn (the engine's `handle` alone, not the channel's sending) is
    counted in statements sent to the database."""

    def __init__(self, engine: Engine, external_id: str = "p1") -> None:
        super().__init__(engine, external_id)
        self.turns: list[tuple[str, int]] = []
        self._statements = 0

        def count(*_: Any) -> None:
            self._statements += 1

        event.listen(engine.store.engine, "before_cursor_execute", count)

    def send(self, message: Input, dedupe_key: str | None = None, *, delivered: bool = True) -> list[Reply]:
        self._statements = 0
        self.replies = self.engine.handle(
            self.address, message, locale=self.locale, dedupe_key=dedupe_key
        ).replies
        self.turns.append((type(message).__name__, self._statements))
        self.transcript += self.replies
        if delivered:
            self.engine.sent(self.address, self.engine.outbox(self.address))
        return self.replies


def test_a_whole_screening_costs_a_fixed_few_statements_a_turn(engine: Engine) -> None:
    typing, tapping = CountingPerson(engine, "typing"), CountingPerson(engine, "tapping")
    for person, answers, by in ((typing, LIKELY_B1, "text"), (tapping, TAPS_B1, "tap")):
        person.start()
        person.answer_all(answers, by=by)
        assert person.stored()["referral"] is not None

    turns = typing.turns + tapping.turns
    counts = Counter(statements for _, statements in turns)
    # Nearly every turn is an answer: stored, the screening moved on, the next question queued.
    assert counts.most_common(1)[0][0] <= ANSWER_TURN, turns
    assert max(counts) <= MOST_IN_A_TURN, turns


def test_a_repeated_update_is_claimed_in_one_statement_and_changes_nothing(engine: Engine) -> None:
    person = CountingPerson(engine)
    person.start()
    person.answer_some({"consent_storage": "yes", "consent_contact": "yes"})
    person.send(Text("1"), dedupe_key="telegram:7")
    assert person.prompt == "age"
    assert person.turns[-1][1] <= ANSWER_TURN + 1
    assert person.send(Text("1"), dedupe_key="telegram:7") == []
    # Before the claim: SQLite's BEGIN IMMEDIATE, PostgreSQL's lock on the person's turns (a
    # statement each); then the claim that finds it taken, and nothing else.
    assert person.turns[-1][1] == 1 + 1


def test_going_back_from_not_eligible_asks_the_database_nothing_more(engine: Engine) -> None:
    # The guard "back to the answer that decided it" reads the answers in memory: it once ran a
    # query for each question it considered.
    person = CountingPerson(engine)
    person.start()
    person.answer_some({**LIKELY_B1, "diagnosis": "no"})
    assert person.prompt == NOT_ELIGIBLE
    person.command("back")
    assert person.prompt == "diagnosis"
    assert person.turns[-1][1] <= ANSWER_TURN - 1  # nothing stored: no answer written


def test_the_turns_screening_holds_every_column_of_the_table() -> None:
    # A column added to the table and not to the turn's screening would never be read or written.
    fields = {f.name for f in dataclasses.fields(ScreeningState) if f.name != "_stored"}
    assert fields - {"storage_consent"} == set(SCREENING_COLUMNS)
