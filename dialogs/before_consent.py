"""Someone of whom nothing is stored until they consent: where they stand is theirs to keep.

A channel whose every visitor would otherwise be a participant (the web chat: anyone who opens
a link, a link preview too) keeps what comes before consent itself — which language, which
study, read aloud or not, a menu or a read-back open — as a small `Before` it hands back with
the person's next input. Each input is handled as any other, in a transaction of its own, with
the person's screening standing where `Before` says; the transaction is kept only if it leaves
them consenting to storage (from then on they are stored, as everyone else), and is otherwise
undone: its replies and the new `Before` come back, and nothing of the person is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from dialogs.conversation import Conversation, start_screening
from dialogs.inputs import Address, Choice, Input, Start
from dialogs.outputs import Reply
from storage.models import Participant
from storage.repository import Records, ScreeningState

if TYPE_CHECKING:
    from dialogs.engine import Engine

# Where a screening stands: its fields but those that name its rows or date it (the rows made
# when it is stored have their own).
Before = dict[str, Any]
_NOT_KEPT = {"id", "participant_id", "started_at", "updated_at", "finished_at", "purged_at"}


@dataclass(frozen=True)
class Unstored:
    """A turn that stored nothing: what to show, and where the person now stands (None: at the
    very beginning, as after declining)."""

    replies: list[Reply]
    before: Before | None


def shown(before: Before, replies: Iterable[Reply], position: int | None) -> Before:
    """`before` once `replies` have reached the person, at `position`: what `sent` records of
    someone stored (a typed answer belongs to the prompt they have seen)."""
    sequences = [int(r.prompt.rpartition(".")[2]) for r in replies if r.prompt]
    if not sequences or max(sequences) <= before["delivered_seq"]:
        return before
    return {**before, "delivered_seq": max(sequences), "delivered_position": position}


def run(
    engine: Engine,
    records: Records,
    address: Address,
    message: Input,
    before: Before | None,
    hint: str | None,
) -> tuple[Conversation, bool]:
    """Handle `message` for someone not stored, standing where `before` says: the conversation,
    and whether it is to be kept (they have consented to storage)."""
    participant = records.add_participant(address.channel, address.external_id)
    if before is None:
        screening = start_screening(engine, records, participant, message, hint, None)
        conversation = Conversation(engine, records, address, participant, screening, hint, answers={})
        conversation.greet()
    else:
        screening = _restore(engine, records, participant, before, hint)
        conversation = Conversation(engine, records, address, participant, screening, hint, answers={})
        if isinstance(message, Choice):
            # A button carries its prompt, "<screening>.<sequence>": the screening it was shown
            # in was never stored, so it is this one, and the sequence says which prompt.
            message = replace(message, prompt=f"{screening.id}.{message.prompt.rpartition('.')[2]}")
        conversation.receive(message)
    consented = any(c.scope == "storage" and c.granted for c in records.consents(screening.id or 0))
    return conversation, consented and not conversation.erased


def before_of(screening: ScreeningState) -> Before:
    """Where `screening` stands, as plain values."""
    fields = {k: v for k, v in screening.columns().items() if k not in _NOT_KEPT}
    return {k: v for k, v in fields.items() if not isinstance(v, date)}  # a date: when, not where


def _restore(
    engine: Engine, records: Records, participant: Participant, before: Before, hint: str | None
) -> ScreeningState:
    """A screening standing where `before` says, begun (and audited) as a link to it would begin it."""
    trial = engine.trials.by_id(before["trial_id"])
    start = Start(source=before.get("source"), locale=before.get("locale"), trial=trial.slug)
    screening = start_screening(engine, records, participant, start, hint, None)
    for field, value in before.items():
        setattr(screening, field, value)
    return screening
