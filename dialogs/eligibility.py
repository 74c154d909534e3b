"""Eligibility as a pure function of a trial's rules and a person's answers.

A chat can only gather what a person reports, so the result is never
"eligible": it is *likely eligible* (every inclusion met, nothing excludes),
*needs review* (nothing excludes, but some answers were "don't know") or
*not eligible* (an exclusion applies, or the inclusion rule clearly fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dialogs.conditions import DONT_KNOW, QuestionTest, Truth, explain, walk
from dialogs.trial import Trial


class Outcome(StrEnum):
    LIKELY_ELIGIBLE = "likely_eligible"
    NEEDS_REVIEW = "needs_review"
    NOT_ELIGIBLE = "not_eligible"

    @property
    def refers(self) -> bool:
        """Whether a person with this outcome is passed on to the study team."""
        return self is not Outcome.NOT_ELIGIBLE


@dataclass(frozen=True)
class Assessment:
    outcome: Outcome
    # The criteria that decided "not eligible", in the trial's order.
    reasons: tuple[str, ...] = ()
    # The criteria still open because of "don't know" (or unanswered) answers.
    uncertain: tuple[str, ...] = ()
    # Questions answered "don't know", for the coordinator's call.
    unsure_questions: tuple[str, ...] = field(default=())


def assess(trial: Trial, answers: Mapping[str, Any]) -> Assessment:
    """Apply `trial`'s criteria to `answers` (question id to stored value).

    Works on partial answers too: an unanswered question counts as unknown,
    so "not eligible" comes back only once the answers so far decide it.
    """
    truth: dict[str, Truth] = {
        c.id: c.when.evaluate(answers.get, lambda _: None) for c in trial.criteria if c.when is not None
    }
    order = [c.id for c in trial.criteria]
    exclusions = [c.id for c in trial.criteria if c.kind == "exclusion" and c.id in truth]
    rule = trial.inclusion_rule
    included = rule.evaluate(answers.get, truth.get)

    excluded_by = [c for c in exclusions if truth[c] is True]
    if excluded_by or included is False:
        failing = explain(rule, truth.get, False) if included is False else []
        reasons = sorted(set(excluded_by) | set(failing), key=order.index)
        return Assessment(Outcome.NOT_ELIGIBLE, reasons=tuple(reasons))

    open_ = explain(rule, truth.get, None) + [c for c in exclusions if truth[c] is None]
    unsure = tuple(
        q.id for q in trial.questions if answers.get(q.id) == DONT_KNOW and _is_criterion_input(trial, q.id)
    )
    if open_:
        uncertain = tuple(sorted(set(open_), key=order.index))
        return Assessment(Outcome.NEEDS_REVIEW, uncertain=uncertain, unsure_questions=unsure)
    return Assessment(Outcome.LIKELY_ELIGIBLE)


def _is_criterion_input(trial: Trial, question_id: str) -> bool:
    return any(
        isinstance(node, QuestionTest) and node.question == question_id
        for c in trial.criteria
        if c.when is not None
        for node in walk(c.when)
    )
