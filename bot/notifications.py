"""Notifications to the study team and the operator: planned with the change, sent by a worker.

The engine reports what a turn changed as effects (a referral created, closed).
`Planner.plan` turns them into notification rows, one per destination that hears of the
referral's trial, inside the turn's own transaction, so a referral is never stored without its
notifications. What they say is rendered by the coordination side's cards, each with its
referral's own trial.
`Notifier` sends them from any long-running process (`intake telegram`,
`intake deliver`, the console): each is claimed for a while so no other process
sends it at the same time, rendered from what is stored then, and recorded.

Every failure stays with its own notification: a transient one (a network error,
a rate limit) is retried soon with backoff; a permanent one (a blocked bot, a
chat that does not exist, a refused address) is retried slowly, listed by
`intake deliveries`, and reported once to the alert destinations. A Telegram
group that became a supergroup is followed to its new id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.coordination import cards as c
from bot.coordination.cards import Card, Cards
from bot.coordination.reports import REFERRAL_ID
from bot.destinations import DeliveryError, Destination, Message, Sender, parse_destinations
from dialogs.effects import Effect, ReferralCreated
from storage.models import Notification, utcnow
from storage.repository import WAITING, Records, Store

log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0
# How long a claimed notification is left to its sender before another may try.
LEASE_SECONDS = 120.0


class Planner:
    """Turns the engine's effects into notifications, in the transaction that made them."""

    def __init__(self, destinations: list[Destination], lease: float = LEASE_SECONDS) -> None:
        self.destinations = destinations
        self.lease = lease

    def plan(self, records: Records, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, ReferralCreated):
                referral = records.referral(effect.referral_id)
                trial = referral.trial_id if referral is not None else None
                targets = [(d.name, d.detail) for d in self.destinations if d.trial in (None, trial)]
                added = records.add_notifications(effect.referral_id, "referral", targets)
                records.retry_refused({n.destination for n in added}, utcnow(), self.lease)
                continue
            # Not sent yet: it need not be. Sent: the destination hears that it no longer stands.
            records.cancel_notifications([effect.referral_id], effect.reason)
            sent = [
                (n.destination, n.detail)
                for n in records.referral_notifications(effect.referral_id)
                if n.kind == "referral" and n.status == "sent"
            ]
            about = {"reason": effect.reason, "by": effect.by}
            records.add_notifications(effect.referral_id, "closed", sent, about=about)


@dataclass(frozen=True)
class Job:
    """A claimed notification, rendered: what to send where."""

    id: int
    kind: str
    referral_id: str | None
    destination: str
    message: Message
    # Until when it is claimed: the claim's own mark, renewed while the batch before it is sent.
    leased_until: datetime
    # The sent card this one replaces, where the destination can edit it.
    edit_ref: str | None = None


class Notifier:
    def __init__(
        self,
        store: Store,
        cards: Cards,
        destinations: list[Destination],
        alerts: list[Destination],
        senders: dict[str, Sender],
        *,
        interval: float = 5.0,
        failing_retry: float = 3600.0,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.cards = cards
        self.configured = {d.name: d for d in (*destinations, *alerts)}
        self.alerts = alerts
        self.senders = senders
        self.interval = interval
        self.failing_retry = failing_retry
        self.lease = lease
        # Telegram groups that became supergroups since this process started: old name -> new.
        self.moved: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._draining: set[str] = set()
        self._finishing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look for due notifications now (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def finish(self) -> None:
        """Deliver what is due once more, then stop (callable from any thread)."""
        self._finishing = True
        self.wake()

    async def run(self) -> None:
        """Deliver until cancelled or finished: every `interval` seconds, and whenever woken.

        Each destination is drained by a task of its own, so a slow or failing one (a
        webhook timing out, a blocked chat) holds back nobody else.
        """
        self._loop = asyncio.get_running_loop()
        drains: set[asyncio.Task[int]] = set()
        try:
            while not self._finishing:
                try:
                    for destination in await asyncio.to_thread(self.store.run, self._due_destinations):
                        if destination not in self._draining:
                            task = asyncio.create_task(self._drain(destination), name=f"notify {destination}")
                            drains.add(task)
                            task.add_done_callback(drains.discard)
                except Exception:  # keep delivering whatever one look ran into
                    log.exception("looking for notifications failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                self._wake.clear()
            await asyncio.gather(*drains, return_exceptions=True)
            await self.deliver_due()
        finally:
            for task in drains:
                task.cancel()

    async def deliver_due(self) -> int:
        """Send every notification due now, each destination side by side; return how many arrived."""
        destinations = await asyncio.to_thread(self.store.run, self._due_destinations)
        return sum(await asyncio.gather(*(self._drain(d) for d in destinations)))

    def _due_destinations(self, records: Records) -> list[str]:
        # Only what this process can send: the console leaves Telegram chats to a process with a bot.
        return records.due_destinations(utcnow(), tuple(self.senders))

    async def _drain(self, destination: str) -> int:
        """Send what is due to one destination, in order, until nothing is or it fails (then the
        rest wait with the one that failed); return how many arrived."""
        if destination in self._draining:
            return 0
        self._draining.add(destination)
        sent = 0
        try:
            while jobs := await asyncio.to_thread(self.store.run, lambda r: self._claim(r, destination)):
                for n, job in enumerate(jobs):
                    if n and not await asyncio.to_thread(self.store.run, partial(self._renew, job=job)):
                        log.warning("to %s: the claim ran out, another sender has the rest", destination)
                        return sent
                    outcome = await self._deliver(job)
                    sent += outcome == "sent"
                    if outcome == "failed":
                        rest = [later.id for later in jobs[n + 1 :]]
                        await asyncio.to_thread(
                            self.store.run, partial(self._give_back, failed=job, rest=rest)
                        )
                        return sent
        except Exception:  # a bug in one destination's round must not stop the others
            log.exception("notifications to %s failed", destination)
        finally:
            self._draining.discard(destination)
        return sent

    @staticmethod
    def _give_back(records: Records, failed: Job, rest: list[int]) -> None:
        """What was claimed with a notification that failed waits with it, in order, rather than
        for its claim to run out."""
        n = records.notification(failed.id)
        until = n.next_attempt_at if n is not None and n.status in WAITING else utcnow()
        records.release_notifications(rest, until)

    def _claim(self, records: Records, destination: str) -> list[Job]:
        claimed = records.claim_notifications(
            utcnow(), self.lease, tuple(self.senders), limit=20, destination=destination
        )
        return [self._job(records, n) for n in claimed]

    def _renew(self, records: Records, job: Job) -> bool:
        """Whether `job` is still this process's to send, its claim renewed: a batch can take
        longer to send than its lease (a slow mail server), and once the lease ran out another
        instance may have claimed and sent the rest."""
        until = utcnow() + timedelta(seconds=self.lease)
        return records.renew_claim(job.id, job.leased_until, until)

    def _job(self, records: Records, n: Notification) -> Job:
        message, edit = self._message(records, n)
        return Job(n.id or 0, n.kind, n.referral_id, n.destination, message, n.next_attempt_at, edit)

    def _message(self, records: Records, n: Notification) -> tuple[Message, str | None]:
        """What to send for `n`, and the sent card it replaces where the destination can edit it."""
        if n.kind == "alert":
            alert = self._alert(n)
            return Message(alert.title, alert), None
        referral_id = n.referral_id or ""
        if n.kind == "closed":
            card = self._closed(referral_id, n)
            edit = next(
                (
                    sent.sent_ref
                    for sent in records.referral_notifications(referral_id)
                    if sent.kind == "referral" and sent.destination == n.destination and sent.sent_ref
                ),
                None,
            )
            return Message(card.title, card), edit
        full = self.cards.card(records, referral_id) if n.detail == "card" else None
        if full is not None:
            message = Message(full.title, full, self.cards.steps(), referral_id)
        else:
            notice = self.cards.notice(records, referral_id)
            message = Message(notice.title, notice)
        return message, None

    def _closed(self, referral_id: str, n: Notification) -> Card:
        t = self.cards.t()
        if n.about.get("reason") == "replaced":
            return Card(t(c.REPLACED, reference=referral_id, newer=n.about.get("by") or "?"))
        return Card(t(c.WITHDRAWN, reference=referral_id))

    def _alert(self, n: Notification) -> Card:
        t, about = self.cards.t(), n.about
        if about.get("moved_to"):
            lines = ((t(c.DESTINATION), f"{about['destination']} → {about['moved_to']}"),)
            return Card(t(c.DESTINATION_MOVED), lines)
        lines = (
            (t(c.DESTINATION), about.get("destination", "?")),
            (t(REFERRAL_ID), about.get("referral") or "-"),
            (t(c.PROBLEM), about.get("error", "?")),
            (
                t(c.NEXT_TRY),
                self.cards.when(datetime.fromisoformat(about["next"])) if "next" in about else "-",
            ),
            (t(c.MORE), "intake deliveries"),
        )
        return Card(t(c.DELIVERY_FAILING), lines)

    async def _deliver(self, job: Job) -> str:
        """Send one notification and record what happened: sent, moved (follow it) or failed."""
        try:
            destination = self._destination(self.moved.get(job.destination, job.destination))
            ref = await self._send(self.senders[destination.scheme], destination, job)
        except Exception as error:
            if isinstance(error, DeliveryError):
                failure = error
                level = logging.ERROR if error.permanent else logging.WARNING
                log.log(level, "notification %s to %s: %s", job.id, job.destination, error.reason)
            else:  # a bug in one sender must not stop the others
                failure = DeliveryError(type(error).__name__)
                log.exception("notification %s to %s failed", job.id, job.destination)
            await asyncio.to_thread(self.store.run, lambda records: self._failed(records, job, failure))
            return "moved" if failure.moved_to else "failed"
        await asyncio.to_thread(self.store.run, lambda records: self._sent(records, job, ref))
        log.info(
            "notification %s (%s, referral %s) delivered to %s",
            job.id,
            job.kind,
            job.referral_id,
            job.destination,
        )
        return "sent"

    async def _send(self, sender: Sender, destination: Destination, job: Job) -> str | None:
        if job.edit_ref is not None:
            # The card itself becomes the notice that it no longer stands (its answers leave the chat).
            with contextlib.suppress(DeliveryError):
                if await sender.edit(destination.target, job.edit_ref, job.message):
                    return job.edit_ref
        return await sender.send(destination.target, job.message)

    def _destination(self, name: str) -> Destination:
        if name in self.configured:
            return self.configured[name]
        # Not (or no longer) configured: a chat or an address can still be reached; a webhook,
        # whose key only the configuration holds, cannot.
        try:
            [destination] = parse_destinations(name, "notification")
        except ValueError:
            raise DeliveryError("this destination is no longer configured", permanent=True) from None
        return destination

    def _sent(self, records: Records, job: Job, ref: str | None) -> None:
        n = records.notification(job.id)
        if n is None:
            return
        n.destination = self.moved.get(n.destination, n.destination)
        n.status, n.sent_at, n.sent_ref, n.last_error = "sent", utcnow(), ref, None
        n.attempts += 1
        records.audit(
            "system",
            "notification_sent",
            f"referral:{n.referral_id}" if n.referral_id else "operator",
            destination=n.destination,
            kind=n.kind,
            detail=n.detail,
        )

    def _failed(self, records: Records, job: Job, error: DeliveryError) -> None:
        n = records.notification(job.id)
        if n is None or n.status in ("sent", "cancelled"):
            return
        n.attempts += 1
        n.last_error = error.reason[:200]
        now = utcnow()
        if error.moved_to:
            # Every notification to the old chat follows; the operator is told once to update the setting.
            moved_from, n.next_attempt_at = n.destination, now
            records.move_notifications(moved_from, error.moved_to)
            if moved_from not in self.moved:
                self._alert_operator(records, {"destination": moved_from, "moved_to": error.moved_to})
            self.moved[moved_from] = error.moved_to
        elif error.permanent:
            # The operator hears once per destination that starts refusing, not once per referral.
            first = n.status != "failing" and not records.destination_failing(n.destination)
            n.status, n.next_attempt_at = "failing", now + timedelta(seconds=self.failing_retry)
            if first and n.kind != "alert":  # an alert that fails is logged, never alerted about
                self._alert_operator(
                    records,
                    {
                        "notification": n.id,
                        "destination": n.destination,
                        "referral": n.referral_id,
                        "error": n.last_error,
                        "next": n.next_attempt_at.isoformat(),
                    },
                )
        else:
            delay = error.retry_after if error.retry_after is not None else min(MAX_BACKOFF, 2.0**n.attempts)
            n.next_attempt_at = now + timedelta(seconds=delay)
        if not error.moved_to:
            # What else waits for this destination waits as long, in order, rather than fail alike.
            records.postpone_destination(n.destination, n.next_attempt_at)

    def _alert_operator(self, records: Records, about: dict[str, object]) -> None:
        targets = [(d.name, d.detail) for d in self.alerts if d.name != about.get("destination")]
        records.add_notifications(None, "alert", targets, about=about)
        self.wake()
