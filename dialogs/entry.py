"""The general entry: plain questions that lead someone without a study's link to a study.

`dialogs/entry.yaml` holds them as data, with their texts in the `entry` catalog. Each answer
leads to a study (a trial's slug) or to the next question. Nothing answered here is kept: it
only chooses the study, which asks again, after its own consent, what it needs.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from dialogs.trial import Question, Trial, TrialDefinitionError, Trials

ENTRY_FILE = Path(__file__).parent / "entry.yaml"
DOMAIN = "entry"


class EntryQuestion(Question):
    # Where each answer leads: a trial's slug, or the id of the next entry question.
    leads: dict[str, str]


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    intro: str
    questions: tuple[EntryQuestion, ...]

    def question(self, question_id: str | None) -> EntryQuestion:
        return next((q for q in self.questions if q.id == question_id), self.questions[0])

    def lead(self, question: EntryQuestion, value: str, trials: Trials) -> EntryQuestion | Trial:
        """The next question, or the study, that `value` leads to (the first served, for a study
        this deployment does not serve)."""
        target = question.leads.get(value, "")
        following = next((q for q in self.questions if q.id == target), None)
        return following or trials.by_slug(target) or trials.first


def load_entry(path: Path = ENTRY_FILE) -> Entry | None:
    """The entry questions, if the deployment has them; a malformed file names itself."""
    if not path.exists():
        return None
    try:
        entry = Entry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as error:
        raise TrialDefinitionError(str(path), [str(error)]) from None
    ids = {q.id for q in entry.questions}
    for question in entry.questions:
        values = {o.value for o in question.choices}
        if set(question.leads) != values:
            raise TrialDefinitionError(str(path), [f"question `{question.id}`: leads for {sorted(values)}"])
    if not ids:
        raise TrialDefinitionError(str(path), ["no questions"])
    return entry
