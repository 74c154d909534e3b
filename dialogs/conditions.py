"""Conditions over answers, evaluated with three-valued (Kleene) logic.

A condition is data, written in a trial file as nested mappings:

    {question: age, min: 18, max: 60}
    {question: had_surgery, equals: "yes"}
    {question: respondent, in: [self, proxy]}
    {all: [...]}  {any: [...]}  {not: ...}
    {criterion: B1}            # only inside a trial's `inclusion` rule

A test on a question that has no answer, or whose answer is "don't know",
is *unknown* (None): that is what lets a screening say "needs review" instead
of guessing, and lets the dialog stop early only when an answer already
decides the outcome whatever the remaining answers are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DONT_KNOW = "dont_know"

Truth = bool | None
Lookup = Callable[[str], Any]


class ConditionError(ValueError):
    """A condition in a trial file is malformed; the message says how."""


@dataclass(frozen=True)
class QuestionTest:
    question: str
    equals: Any = None
    one_of: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    @property
    def _names_dont_know(self) -> bool:
        return self.equals == DONT_KNOW or DONT_KNOW in (self.one_of or ())

    def evaluate(self, answer_of: Lookup, criterion_of: Lookup) -> Truth:
        value = answer_of(self.question)
        # "Don't know" is unknown, unless the test names it (`in: [yes, dont_know]`).
        if value is None or (value == DONT_KNOW and not self._names_dont_know):
            return None
        if self.one_of is not None:
            return value in self.one_of
        if self.min is not None or self.max is not None:
            if not isinstance(value, int | float):
                return None
            return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        return value == self.equals


@dataclass(frozen=True)
class All:
    children: tuple[Condition, ...]

    def evaluate(self, answer_of: Lookup, criterion_of: Lookup) -> Truth:
        values = [c.evaluate(answer_of, criterion_of) for c in self.children]
        if False in values:
            return False
        return None if None in values else True


@dataclass(frozen=True)
class Any_:
    children: tuple[Condition, ...]

    def evaluate(self, answer_of: Lookup, criterion_of: Lookup) -> Truth:
        values = [c.evaluate(answer_of, criterion_of) for c in self.children]
        if True in values:
            return True
        return None if None in values else False


@dataclass(frozen=True)
class Not:
    child: Condition

    def evaluate(self, answer_of: Lookup, criterion_of: Lookup) -> Truth:
        value = self.child.evaluate(answer_of, criterion_of)
        return None if value is None else not value


@dataclass(frozen=True)
class CriterionRef:
    criterion: str

    def evaluate(self, answer_of: Lookup, criterion_of: Lookup) -> Truth:
        return criterion_of(self.criterion)


Condition = QuestionTest | All | Any_ | Not | CriterionRef

_TEST_KEYS = {"question", "equals", "in", "min", "max"}


def parse_condition(data: Any) -> Condition:
    """Build a condition from its trial-file form, or raise ConditionError."""
    if not isinstance(data, Mapping) or not data:
        raise ConditionError(f"a condition must be a mapping, got {data!r}")
    keys = set(data)
    if keys <= {"all"} or keys <= {"any"}:
        (kind,) = keys
        children = data[kind]
        if not isinstance(children, list) or not children:
            raise ConditionError(f"`{kind}` needs a non-empty list of conditions")
        parsed = tuple(parse_condition(c) for c in children)
        return All(parsed) if kind == "all" else Any_(parsed)
    if keys == {"not"}:
        return Not(parse_condition(data["not"]))
    if keys == {"criterion"}:
        return CriterionRef(str(data["criterion"]))
    if "question" in keys and keys <= _TEST_KEYS:
        return _parse_test(data)
    raise ConditionError(
        f"unknown condition {dict(data)!r}: use question/equals/in/min/max, all, any, not or criterion"
    )


def _parse_test(data: Mapping[str, Any]) -> QuestionTest:
    question = data["question"]
    tests = [k for k in ("equals", "in", "min", "max") if k in data]
    if not tests:
        raise ConditionError(f"test on `{question}` needs equals, in, min or max")
    if ("equals" in data or "in" in data) and len(tests) > 1:
        raise ConditionError(f"test on `{question}`: use one of equals, in, or min/max")
    if "in" in data and (not isinstance(data["in"], list) or not data["in"]):
        raise ConditionError(f"test on `{question}`: `in` needs a non-empty list")
    low, high = data.get("min"), data.get("max")
    for name, bound in (("min", low), ("max", high)):
        if bound is not None and not isinstance(bound, int | float):
            raise ConditionError(f"test on `{question}`: `{name}` must be a number")
    if low is not None and high is not None and low > high:
        raise ConditionError(f"test on `{question}`: `min` must not be above `max`")
    return QuestionTest(
        question=str(question),
        equals=data.get("equals"),
        one_of=tuple(data["in"]) if "in" in data else None,
        min=low,
        max=high,
    )


def walk(condition: Condition) -> Iterator[Condition]:
    """Every node of a condition, the root first."""
    yield condition
    if isinstance(condition, All | Any_):
        for child in condition.children:
            yield from walk(child)
    elif isinstance(condition, Not):
        yield from walk(condition.child)


def explain(condition: Condition, criterion_of: Lookup, wanted: Truth) -> list[str]:
    """The criterion ids that make `condition` come out as `wanted`.

    Used on a trial's inclusion rule: for "A and (B1 or B2)" failing because
    of age, only A is named, not the B1/B2 branch that passed.
    """
    if condition.evaluate(_no_answer, criterion_of) is not wanted:
        return []
    if isinstance(condition, CriterionRef):
        return [condition.criterion]
    if isinstance(condition, Not):
        return explain(condition.child, criterion_of, None if wanted is None else not wanted)
    found: list[str] = []
    if isinstance(condition, All | Any_):
        for child in condition.children:
            found += [c for c in explain(child, criterion_of, wanted) if c not in found]
    return found


def _no_answer(question: str) -> None:
    return None
