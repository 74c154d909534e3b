"""Trial definitions: one YAML file per trial, validated when loaded.

A trial file is the only thing that changes between studies: its questions
(in the order they are asked, with the conditions that decide whether each
is asked), its criteria (each a condition over the answers) and how the
inclusion criteria combine. Texts in it are English gettext message ids;
translations live in `locales/<locale>/LC_MESSAGES/<trial slug>.po`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dialogs.conditions import (
    DONT_KNOW,
    Condition,
    ConditionError,
    CriterionRef,
    QuestionTest,
    parse_condition,
    walk,
)

TRIALS_DIR = Path(__file__).parent / "trials"

QuestionKind = Literal["yes_no", "number", "choice", "text", "phone", "consent"]
ConsentScope = Literal["storage", "contact", "future_studies"]
# Engine states that live beside the questions; a question may not take these ids.
RESERVED_IDS = frozenset({"summary", "correcting", "not_eligible", "finished", "declined"})
_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with plural forms; `Translator.plural` picks the form for a count."""
    return singular, plural


# Built-in option sets: the values are what gets stored, whatever the language.
YES_NO_OPTIONS = (("yes", N_("Yes")), ("no", N_("No")), (DONT_KNOW, N_("I don't know")))
CONSENT_OPTIONS = (("yes", N_("I agree")), ("no", N_("I do not agree")))


class TrialDefinitionError(ValueError):
    """A trial file is malformed. The message names the file and each problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _condition(value: Any) -> Condition | None:
    if value is None:
        return None
    try:
        return parse_condition(value)
    except ConditionError as error:
        raise ValueError(str(error)) from error


ConditionField = Annotated[Any, BeforeValidator(_condition)]
# A text is one message, or one message per answer to the trial's `variant_by`
# question (e.g. "Are you..." for the person, "Is the person..." for a carer).
Text = str | dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str
    text: str
    # Other ways of saying it, "|"-separated, translated like any text.
    keywords: str | None = None


class MayChange(_Strict):
    """An answer that time may turn: "yes" to "another study in the past three months?" is "no"
    three months later; "no" to "surgery at least a year ago?" may be "yes" within a year."""

    to: str
    after_months: int = Field(gt=0)


class Question(_Strict):
    id: str
    kind: QuestionKind
    text: Text
    label: str = Field(description="Short name in summaries, referrals and exports.")
    help: str | None = None
    options: tuple[Option, ...] = ()
    ask_if: ConditionField = None
    min: int | None = None
    max: int | None = None
    # What a number question counts: "age" also takes a birth year or date, and 虚岁.
    number: Literal["age"] | None = None
    # How time may turn its answer: someone it excludes is excluded only until then.
    may_change: MayChange | None = None
    # A name for what the question asks, the same in every trial that asks the same thing with the
    # same options ("age", "syrinx_diagnosed"): an answer carries over to another trial by it, never
    # by a guess from the wording.
    concept: str | None = None
    max_length: int = 200
    scope: ConsentScope | None = None
    # Identifies the person (a name): shown as contact details, never in statistics.
    personal: bool = False

    @property
    def identifies(self) -> bool:
        """Whether the answer identifies the person: flagged so, or a phone number."""
        return self.personal or self.kind == "phone"

    @property
    def texts(self) -> tuple[str, ...]:
        """Its wording: one, or a variant per answer to the trial's `variant_by` question (for the
        person, for a relative), the first being the one used when no answer chooses."""
        return (self.text,) if isinstance(self.text, str) else tuple(self.text.values())

    @property
    def private(self) -> bool:
        """Whether the answer identifies the person or was typed freely: stored encrypted, and
        left out of statistics and de-identified exports."""
        return self.identifies or self.kind == "text"

    @property
    def choices(self) -> tuple[Option, ...]:
        """The options offered, built-in ones for yes/no and consent questions."""
        if self.options:
            return self.options
        defaults = {"yes_no": YES_NO_OPTIONS, "consent": CONSENT_OPTIONS}.get(self.kind, ())
        return tuple(Option(value=v, text=t) for v, t in defaults)

    def option(self, value: str) -> Option | None:
        return next((o for o in self.choices if o.value == value), None)


class Criterion(_Strict):
    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str = Field(description="The criterion as the listing states it.")
    explanation: str | None = Field(
        default=None, description="Plain words for a person this criterion decided against."
    )
    when: ConditionField = Field(
        default=None,
        description="When the criterion is met (inclusion) or applies (exclusion); "
        "absent for criteria a pre-screening cannot assess.",
    )


class Contact(_Strict):
    """How people reach the study team themselves (told to those who would rather not be called)."""

    name: str
    # Where to go or write to, translated like any text.
    address: str | None = None
    phone: str | None = None
    email: str | None = None


class Trial(_Strict):
    slug: str
    registry_id: str
    title: str
    site: str
    contact: Contact
    consent_version: str
    intro: str
    variant_by: str | None = None
    questions: tuple[Question, ...]
    criteria: tuple[Criterion, ...]
    inclusion: ConditionField = None

    @property
    def domain(self) -> str:
        """The gettext domain of this trial's texts."""
        return self.slug

    @cached_property
    def question_index(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    def question(self, question_id: str) -> Question:
        return self.question_index[question_id]

    def consent_question(self, scope: str) -> Question | None:
        return next((q for q in self.questions if q.scope == scope), None)

    def carried_from(self, other: Trial, answers: dict[str, Any]) -> dict[str, Any]:
        """`other`'s `answers` to questions that ask what this trial's ask (the same `concept`), by
        this trial's question ids: what the person need not be asked again."""
        theirs = {q.concept: q.id for q in other.questions if q.concept and q.id in answers}
        return {q.id: answers[theirs[q.concept]] for q in self.questions if q.concept in theirs}

    @property
    def inclusion_rule(self) -> Condition:
        """How inclusion criteria combine; all of them when the file does not say."""
        if self.inclusion is not None:
            return self.inclusion
        from dialogs.conditions import All

        ids = [c.id for c in self.criteria if c.kind == "inclusion" and c.when is not None]
        return All(tuple(CriterionRef(i) for i in ids))


def load_trial(path: Path) -> Trial:
    """Read and validate one trial file; raise TrialDefinitionError naming the problems."""
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TrialDefinitionError(source, [f"cannot be read: {error}"]) from error
    if not isinstance(raw, dict):
        raise TrialDefinitionError(source, ["must be a mapping of trial fields"])
    raw.setdefault("slug", path.stem)
    try:
        trial = Trial.model_validate(raw)
    except ValidationError as error:
        raise TrialDefinitionError(source, _describe(error, raw)) from None
    problems = check_trial(trial)
    if problems:
        raise TrialDefinitionError(source, problems)
    return trial


def available_trials(directory: Path = TRIALS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


class Trials:
    """The trials one deployment serves, in the order it names them.

    A screening belongs to one trial (its registry id is stored with it). A link names its trial
    ("nct06079125", or "nct06079125-poster_beijing" with a campaign source); one without a trial
    leads to the first.
    """

    def __init__(self, trials: Sequence[Trial]) -> None:
        if not trials:
            raise ValueError("a deployment serves at least one trial")
        self._by_id = {t.registry_id: t for t in trials}
        self._by_slug = {t.slug: t for t in trials}
        self._order = tuple(trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    @property
    def first(self) -> Trial:
        return self._order[0]

    def by_id(self, registry_id: str) -> Trial:
        """The trial a screening belongs to (its `trial_id`); the first for one of a trial no longer
        served, so that its person is still answered."""
        return self._by_id.get(registry_id, self._order[0])

    def by_slug(self, slug: str | None) -> Trial | None:
        return self._by_slug.get((slug or "").lower())

    def find(self, name: str | None) -> Trial | None:
        """A served trial by its registry id or its slug, in any case (what a setting or an
        operator types: "NCT06079125", "nct06079125"); None for one not served here. Unlike
        `by_id`, never another trial in its place: what is shown or allowed depends on it."""
        wanted = (name or "").strip().lower()
        return self._by_slug.get(wanted) or next(
            (t for t in self._order if t.registry_id.lower() == wanted), None
        )

    def from_link(self, payload: str | None) -> tuple[Trial | None, str | None]:
        """A link's trial and campaign source: "nct06079125-poster_beijing" is both, "poster_beijing"
        only a source, and "nct06079125" only a trial."""
        if not payload:
            return None, None
        for slug, trial in self._by_slug.items():
            if payload.lower() == slug:
                return trial, None
            for joint in ("-", "_"):
                if payload.lower().startswith(slug + joint):
                    return trial, payload[len(slug) + 1 :] or None
        return None, payload


def load_trials(slugs: Sequence[str] | None = None, directory: Path = TRIALS_DIR) -> Trials:
    """The named trials (all of `directory`'s, in name order, when none are named)."""
    return Trials([find_trial(slug, directory) for slug in (slugs or available_trials(directory))])


def find_trial(slug: str, directory: Path = TRIALS_DIR) -> Trial:
    path = directory / f"{slug.lower()}.yaml"
    if not path.exists():
        known = ", ".join(available_trials(directory)) or "none"
        raise TrialDefinitionError(str(path), [f"no such trial (known: {known})"])
    return load_trial(path)


def _describe(error: ValidationError, raw: dict[str, Any]) -> list[str]:
    """Pydantic's errors, located by question or criterion id rather than index."""
    problems = []
    for item in error.errors():
        where, rest = _locate(item["loc"], raw)
        field = ".".join(str(p) for p in rest)
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}`{field}`: {message}" if field else f"{where}{message}")
    return problems


def _locate(loc: tuple[Any, ...], raw: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    if len(loc) >= 2 and loc[0] in ("questions", "criteria") and isinstance(loc[1], int):
        items = raw.get(loc[0]) or []
        item = items[loc[1]] if loc[1] < len(items) else {}
        name = item.get("id", f"#{loc[1] + 1}") if isinstance(item, dict) else f"#{loc[1] + 1}"
        kind = "question" if loc[0] == "questions" else "criterion"
        return f"{kind} `{name}`: ", loc[2:]
    return "", loc


def check_trial(trial: Trial) -> list[str]:
    """The rules a well-formed trial obeys that its types alone cannot say."""
    problems: list[str] = []
    seen: dict[str, Question] = {}
    for question in trial.questions:
        problems += [f"question `{question.id}`: {p}" for p in _check_question(trial, question, seen)]
        seen[question.id] = question
    if not trial.questions or trial.questions[0].scope != "storage":
        problems.append("the first question must be the consent to store answers (scope: storage)")
    scopes = [q.scope for q in trial.questions if q.scope]
    problems += [
        f"more than one consent question with scope `{s}`" for s in set(scopes) if scopes.count(s) > 1
    ]

    criteria: dict[str, Criterion] = {}
    for criterion in trial.criteria:
        if criterion.id in criteria:
            problems.append(f"criterion `{criterion.id}`: the id is used twice")
        criteria[criterion.id] = criterion
        if criterion.when is not None:
            problems += [f"criterion `{criterion.id}`: {p}" for p in _check_condition(criterion.when, seen)]
    if trial.inclusion is not None:
        for node in walk(trial.inclusion):
            if isinstance(node, QuestionTest):
                problems.append("inclusion: name criteria (`criterion: A`), not questions")
            elif isinstance(node, CriterionRef):
                target = criteria.get(node.criterion)
                if target is None or target.kind != "inclusion" or target.when is None:
                    problems.append(f"inclusion: `{node.criterion}` is not an assessable inclusion criterion")
    return problems


def _check_question(trial: Trial, question: Question, earlier: dict[str, Question]) -> list[str]:
    problems = []
    if not _ID.match(question.id):
        problems.append("the id must be lower-case letters, digits and _ (at most 32)")
    if question.id in earlier:
        problems.append("the id is used twice")
    if question.id in RESERVED_IDS:
        problems.append(f"`{question.id}` is reserved for the dialog itself")
    if question.kind == "number":
        if question.min is None or question.max is None:
            problems.append("a number question needs `min` and `max`")
        elif question.min >= question.max:
            problems.append("`min` must be below `max`")
    if question.kind == "choice" and len(question.options) < 2:
        problems.append("a choice question needs at least two options")
    if question.kind in ("yes_no", "consent") and question.options:
        values = {o.value for o in question.options}
        allowed = {v for v, _ in (YES_NO_OPTIONS if question.kind == "yes_no" else CONSENT_OPTIONS)}
        if not {"yes", "no"} <= values <= allowed:
            problems.append(f"options of a {question.kind} question must be {sorted(allowed)}")
    values = [o.value for o in question.options]
    if len(values) != len(set(values)):
        problems.append("two options have the same value")
    problems += [
        f"option `{v}`: values are lower-case letters, digits and _" for v in values if not _ID.match(v)
    ]
    if (question.kind == "consent") != (question.scope is not None):
        problems.append("consent questions, and only they, have a `scope`")
    if question.ask_if is not None:
        problems += [f"ask_if: {p}" for p in _check_condition(question.ask_if, earlier)]
    if question.concept is not None:
        if not _ID.match(question.concept):
            problems.append("a concept is lower-case letters, digits and _")
        if question.concept in {q.concept for q in earlier.values()}:
            problems.append(f"another question has the concept `{question.concept}`")
        if question.kind == "consent":
            problems.append("a consent is each study's own: it has no concept")
    if isinstance(question.text, dict):
        variant = trial.variant_by and earlier.get(trial.variant_by)
        if not variant:
            problems.append("text variants need `variant_by` naming an earlier question")
        elif set(question.text) != {o.value for o in variant.choices}:
            problems.append(f"text variants must be one per option of `{trial.variant_by}`")
    return problems


def _check_condition(condition: Condition, questions: dict[str, Question]) -> list[str]:
    problems = []
    for node in walk(condition):
        if isinstance(node, CriterionRef):
            problems.append("`criterion` is only allowed in the trial's inclusion rule")
        if not isinstance(node, QuestionTest):
            continue
        target = questions.get(node.question)
        if target is None:
            problems.append(f"`{node.question}` is not an earlier question")
            continue
        wanted = [node.equals] if node.one_of is None else list(node.one_of)
        if node.min is not None or node.max is not None:
            if target.kind != "number":
                problems.append(f"min/max on `{node.question}`, which is not a number question")
            continue
        known = {o.value for o in target.choices}
        if known:
            problems += [f"`{node.question}` has no option `{w}`" for w in wanted if w not in known]
    return problems
