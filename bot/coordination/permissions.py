"""Who may do what, for which trial: one table for every surface.

A principal is whoever asks: a console account (coordinator, monitor or operator), an
allowlisted Telegram chat (a coordinator), or the operator at the `intake` command. Each has
a role and the trials it works on (None: every trial). `Principal.may` answers role × action
× trial from `PERMISSIONS`; what it may export is `EXPORTS`, the export policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    COORDINATOR = "coordinator"  # follows up the referrals of their trials
    MONITOR = "monitor"  # read-only and de-identified
    OPERATOR = "operator"  # everything, and the audit trail


class Action(StrEnum):
    """What a principal does. Each value is the action's name in the audit trail, whichever
    surface it was done from."""

    LIST = "viewed_referrals"
    CARD = "viewed_referral"
    CALLS = "viewed_calls"
    STATUS = "referral_status"
    FUNNEL = "viewed_funnel"
    OTHER_STUDIES = "viewed_other_studies"
    RESCREENING = "viewed_rescreening"  # who is due for re-screening and has no bot to tell them
    EXPORT = "exported"
    ERASE = "participant_erased"
    SCREENINGS = "viewed_screenings"  # everything stored, screening by screening
    AUDIT = "viewed_audit"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.COORDINATOR: frozenset(
        {
            Action.LIST,
            Action.CARD,
            Action.CALLS,
            Action.STATUS,
            Action.FUNNEL,
            Action.OTHER_STUDIES,
            Action.RESCREENING,
            Action.EXPORT,
        }
    ),
    Role.MONITOR: frozenset({Action.LIST, Action.FUNNEL, Action.EXPORT}),
    Role.OPERATOR: frozenset(Action),
}

CSV_KINDS = ("contact", "full", "deidentified")
FHIR_KINDS = ("full", "deidentified")

# The export policy: (format, kind) each role may have. The least each needs: a coordinator
# calls people back; a monitor counts; only the operator takes every answer away.
EXPORTS: dict[Role, frozenset[tuple[str, str]]] = {
    Role.COORDINATOR: frozenset({("csv", "contact")}),
    Role.MONITOR: frozenset({("csv", "deidentified"), ("fhir", "deidentified")}),
    Role.OPERATOR: frozenset({*(("csv", k) for k in CSV_KINDS), *(("fhir", k) for k in FHIR_KINDS)}),
}


@dataclass(frozen=True)
class Principal:
    """Whoever asks: `actor` is how the audit trail names them (console:li.na, telegram:9001,
    operator:wang); `trials` the registry ids they work on, None for every trial."""

    actor: str
    role: Role
    trials: frozenset[str] | None = None

    def works_on(self, trial_id: str) -> bool:
        return self.trials is None or trial_id in self.trials

    def may(self, action: Action, trial_id: str | None = None) -> bool:
        """Whether the role may do `action` at all (`trial_id` None), or for that trial."""
        return action in PERMISSIONS[self.role] and (trial_id is None or self.works_on(trial_id))

    def may_export(self, format: str, kind: str, trial_id: str) -> bool:
        return self.may(Action.EXPORT, trial_id) and (format, kind) in EXPORTS[self.role]

    def exports(self, format: str) -> tuple[str, ...]:
        """The kinds of `format` this role may export, in the order they are offered."""
        kinds = CSV_KINDS if format == "csv" else FHIR_KINDS
        return tuple(k for k in kinds if (format, k) in EXPORTS[self.role])

    @property
    def identified(self) -> bool:
        """Whether it sees who people are (references, contacts), not only counts."""
        return self.may(Action.CARD)


class NotAllowed(Exception):
    """The principal may not do this; it has been audited as refused."""
