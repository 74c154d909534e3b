"""The dialog's state machine, built from a trial definition with `transitions`.

States are the trial's question ids plus the dialog's own:

    summary       the answers read back, to confirm or correct
    correcting    choosing which answer to change
    not_eligible  an answer has decided it; offer news of other studies
    finished      outcome stored (and a referral created when it applies)
    declined      no consent to store answers; nothing kept

Events:

    answer   after an answer is recorded: to the next question that applies,
             or to not_eligible as soon as the answers decide it, or to the
             summary. While correcting from the summary, only questions not
             answered yet are asked before returning to it.
    back     to the previous question that applied (from not_eligible: to
             the answer that decided it, so it can be corrected).
    change   summary -> correcting;  pick  correcting -> the chosen question.
    confirm  summary -> finished.
    open     from any state but declined (or another menu) to a menu, `_<name>`
             (open(menu="delete")): the state it was opened over is kept.
    close    a menu -> the state it was opened over.

Which transition fires is decided by its conditions, in the order they were
added: the first whose conditions hold wins. The machine is shared by every
conversation (model=None); each event is triggered on one conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transitions import EventData, Machine

from dialogs.trial import Question, Trial

SUMMARY, CORRECTING, NOT_ELIGIBLE, FINISHED, DECLINED = (
    "summary",
    "correcting",
    "not_eligible",
    "finished",
    "declined",
)
TERMINAL = frozenset({FINISHED, DECLINED})
# Put over where the dialog stands, and closed back to it: the menus (choosing a language,
# agreeing to a new consent text, confirming an answer read back, deleting everything, starting
# again, choosing the study at the general entry, going on with another study, a reminder
# when excluded only for now) and the pause (/stop:
# anything typed later resumes).
MENUS = ("language", "consent", "confirm", "delete", "restart", "paused", "study", "offer", "remind")


Check = Callable[[EventData], bool]


def build_machine(trial: Trial) -> Machine:
    bases = [*[q.id for q in trial.questions], SUMMARY, CORRECTING, NOT_ELIGIBLE, FINISHED]
    menus = [f"_{menu}" for menu in MENUS]
    machine = Machine(
        model=None,
        states=[*bases, DECLINED, *menus],
        initial=None,
        auto_transitions=False,
        send_event=True,
        after_state_change=[lambda event: event.model.entered(event)],
    )
    questions = list(trial.questions)
    storage = trial.consent_question("storage")
    for index, question in enumerate(questions):
        if question is storage:
            machine.add_transition("answer", question.id, DECLINED, conditions=[_declined(question)])
        machine.add_transition("answer", question.id, NOT_ELIGIBLE, conditions=[_not_eligible])
        for later in questions[index + 1 :]:
            machine.add_transition("answer", question.id, later.id, conditions=[_next(later)])
        machine.add_transition("answer", question.id, SUMMARY)
        _add_back(machine, question.id, questions[:index])

    _add_back(machine, SUMMARY, questions)
    # From "not eligible", back means the answer that decided it.
    for question in questions[1:]:
        machine.add_transition("back", NOT_ELIGIBLE, question.id, conditions=[_last_answered(question)])
    machine.add_transition("confirm", SUMMARY, FINISHED)
    machine.add_transition("change", SUMMARY, CORRECTING)
    machine.add_transition("back", CORRECTING, SUMMARY)
    for question in questions[1:]:
        machine.add_transition(
            "pick", CORRECTING, question.id, conditions=[_picked(question)], before=[_start_editing]
        )
    machine.add_transition("answer", NOT_ELIGIBLE, FINISHED)
    for menu in menus:
        machine.add_transition("open", [*bases, *menus], menu, conditions=[_opened(menu)])
        for base in bases:
            machine.add_transition("close", menu, base, conditions=[_beneath(base)])
    return machine


def _add_back(machine: Machine, source: str, earlier: list[Question]) -> None:
    # The storage consent is never "gone back" to: answers exist only because it was given.
    for question in reversed(earlier[1:]):
        machine.add_transition("back", source, question.id, conditions=[_previous(question)])


def _declined(question: Question) -> Check:
    return lambda event: event.model.answers.get(question.id) == "no"


def _not_eligible(event: EventData) -> bool:
    return event.model.decided_not_eligible()


def _next(question: Question) -> Check:
    def applies(event: EventData) -> bool:
        model: Any = event.model
        if not model.askable(question):
            return False
        return not model.editing or not model.answered(question.id)

    return applies


def _previous(question: Question) -> Check:
    return lambda event: event.model.askable(question) and event.model.answered(question.id)


def _last_answered(question: Question) -> Check:
    return lambda event: event.model.last_answered() == question.id


def _picked(question: Question) -> Check:
    return lambda event: event.kwargs.get("target") == question.id


def _opened(menu: str) -> Check:
    return lambda event: f"_{event.kwargs.get('menu')}" == menu


def _beneath(state: str) -> Check:
    return lambda event: event.model.base == state


def _start_editing(event: EventData) -> None:
    event.model.editing = True
