"""The audit trail's vocabulary: every action's name, the same from every surface, and its
words as the console shows them.

What coordinators, monitors and operators do is `permissions.Action`; the rest is done by the
dialog, the delivery worker, sign-ins and the operator's commands. Names written by earlier
versions stay readable (`EARLIER`): the trail is append-only, never renamed.
"""

from __future__ import annotations

from bot.coordination.permissions import Action
from dialogs.trial import N_

REFUSED = "refused"  # a principal asked for what it may not have; the detail says what

LABELS: dict[str, str] = {
    Action.LIST: N_("Referrals viewed"),
    Action.CARD: N_("Referral viewed"),
    Action.CALLS: N_("Call list viewed"),
    Action.STATUS: N_("Referral status set"),
    Action.FUNNEL: N_("Funnel viewed"),
    Action.OTHER_STUDIES: N_("Other studies viewed"),
    Action.RESCREENING: N_("Due for re-screening viewed"),
    Action.EXPORT: N_("Exported"),
    Action.ERASE: N_("Person erased"),
    Action.SCREENINGS: N_("Screenings viewed"),
    Action.AUDIT: N_("Audit trail viewed"),
    REFUSED: N_("Refused"),
    "screening_started": N_("Screening started"),
    "screening_finished": N_("Screening finished"),
    "referral_created": N_("Referral made"),
    "notification_sent": N_("Notification sent"),
    "purged": N_("Personal data past retention removed"),
    "backed_up": N_("Database backed up"),
    "restored_backup": N_("Database restored"),
    "rotated_keys": N_("Encryption keys rotated"),
    "viewed_deliveries": N_("Deliveries viewed"),
    "console_login": N_("Signed in"),
    "console_login_refused": N_("Sign-in refused"),
    "console_logout": N_("Signed out"),
    "account_added": N_("Account added"),
    "account_disabled": N_("Account disabled"),
    "account_reset": N_("Account reset"),
    "password_changed": N_("Own password changed"),
    "second_factor_changed": N_("Own second factor changed"),
}
# What earlier versions wrote for the same actions, each surface its own way.
EARLIER: dict[str, str] = {
    "viewed_stats": N_("Funnel viewed"),
    "exported_referrals": N_("Referrals exported"),
    "export": N_("Exported"),
    "console_view": N_("Viewed in the console"),
}


def label(action: str) -> str | None:
    """The words for an action (an English message id), or None for a name it does not know."""
    return LABELS.get(action) or EARLIER.get(action)
