"""What the study team does, the same from every surface.

The console, the Telegram coordinator commands and the `intake` command all call this one
service: the referral list and card, status changes and their notes, the call list, exports
(CSV and FHIR), erasure, the funnel and the "other studies" list. Each call names who asks (a
`Principal`), is checked against the one permission table and export policy
(`permissions`), runs in one transaction, and is audited under the one vocabulary (`audit`),
with the trial it concerns. What is refused is audited too, and raises `NotAllowed`.

A principal sees only the trials it works on: another trial's referral is "not found", and its
people are in no list, count or export. Everything is rendered with each referral's own trial
(the screening's `trial_id`), never the first trial served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cryptography.fernet import InvalidToken

from bot.coordination import fhir, other_studies, reports
from bot.coordination.audit import REFUSED
from bot.coordination.cards import OPEN_STATUSES, REFERRAL_STEPS, Card, Cards, contact_of, referral_card
from bot.coordination.permissions import Action, NotAllowed, Principal
from dialogs.effects import Effect, ReferralClosed
from dialogs.engine import Engine
from dialogs.trial import Trial, Trials
from storage.models import AuditEvent, Participant, Referral, ReferralEvent, utcnow
from storage.repository import Erasure, Records, Store
from storage.views import referral_views, screenings_page

T = TypeVar("T")
# What the host does with effects inside the transaction that made them (plans notifications).
EffectSink = Callable[[Records, list[Effect]], None]
CALL_STATUSES = ("pending", "unreachable")


@dataclass(frozen=True)
class ReferralFilter:
    status: str = ""
    outcome: str = ""
    language: str = ""
    source: str = ""
    reference: str = ""  # part of a referral id (only for those who may see references)
    trial: str = ""  # a registry id
    start: date | None = None  # received on or after, in the coordinators' time zone
    end: date | None = None
    open_only: bool = False

    def detail(self) -> dict[str, Any]:
        """What was asked, for the audit trail."""
        return {k: str(v) for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class ReferralRow:
    """A referral as a list shows it; `reference` and `contact` only for those who may see them."""

    reference: str | None
    trial_id: str
    status: str
    outcome: str
    received: datetime
    language: str
    source: str
    contact: str | None = None


@dataclass(frozen=True)
class ReferralPage:
    """A page of the referral list, and the key of the page after it (None: the last page)."""

    rows: list[ReferralRow]
    next: str | None = None


@dataclass(frozen=True)
class CardPage:
    referral: Referral
    card: Card | None  # None once the person erased their data
    history: list[tuple[ReferralEvent, str | None]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.referral.status not in ("cancelled", "replaced")


@dataclass(frozen=True)
class DueRescreening:
    """Someone whose study may include them from `due_on`, and who is waiting to be told."""

    screening_id: int
    trial: Trial
    due_on: date
    language: str | None
    contact: str | None  # None: they did not agree to be contacted, or gave no details


class Coordination:
    def __init__(
        self,
        store: Store,
        trials: Trials,
        locales: Sequence[str],
        *,
        locale: str,
        timezone: str,
        console_url: str | None = None,
        on_effects: EffectSink | None = None,
    ) -> None:
        self.store = store
        self.trials = trials
        self.locales = list(locales)
        self.timezone = timezone
        self.cards = Cards(trials, locale, timezone, console_url)
        self.on_effects = on_effects

    @property
    def locale(self) -> str:
        """The coordinators' language, unless a reader chose another."""
        return self.cards.locale

    # Who sees what -------------------------------------------------------------------------

    def visible_trials(self, who: Principal) -> list[Trial]:
        return [t for t in self.trials if who.works_on(t.registry_id)]

    def _run(self, work: Callable[[Records], T]) -> T:
        return self.store.run(work)

    def _refuse(self, who: Principal, action: str, subject: str, **detail: Any) -> NotAllowed:
        """Audit a refusal (in a transaction of its own, so it stays) and return the error to raise."""
        self._run(lambda records: records.audit(who.actor, REFUSED, subject, asked=str(action), **detail))
        return NotAllowed(action)

    def refused(self, actor: str, what: str) -> None:
        """Someone who is no principal at all asked (a stranger's Telegram chat): audited."""
        self._run(lambda records: records.audit(actor, REFUSED, what))

    def _require(
        self, who: Principal, action: Action, trial_id: str | None = None, subject: str = ""
    ) -> None:
        if not who.may(action, trial_id):
            raise self._refuse(who, action, subject or action, **({"trial": trial_id} if trial_id else {}))

    # Referrals -----------------------------------------------------------------------------

    def referrals(
        self,
        who: Principal,
        filters: ReferralFilter | None = None,
        *,
        with_contact: bool = False,
        size: int | None = None,
        after: str | None = None,
        oldest_first: bool = False,
    ) -> ReferralPage:
        """The referrals of `who`'s trials that `filters` let through, newest first (or oldest):
        `size` of them (all if None) from the page key `after` on. Contacts (which means opening the
        person's answers) only `with_contact`, and only for those who may see them."""
        self._require(who, Action.LIST)
        f = filters or ReferralFilter()
        zone = ZoneInfo(self.timezone)
        identified = who.identified
        with_contact = with_contact and identified
        trials = [t.registry_id for t in self.visible_trials(who) if f.trial in ("", t.registry_id)]
        statuses = (f.status,) if f.status else OPEN_STATUSES if f.open_only else ()
        nothing = (f.reference and not identified) or (f.open_only and f.status not in ("", *OPEN_STATUSES))
        key = self._page_key(after)

        def midnight(day: date | None) -> datetime | None:
            return datetime.combine(day, time(), zone) if day else None

        def rows(records: Records) -> ReferralPage:
            found = records.referral_list(
                [] if nothing else trials,
                statuses=statuses,
                outcome=f.outcome,
                locale=f.language,
                source=f.source,
                reference=f.reference,
                since=midnight(f.start),
                before=midnight(f.end + timedelta(days=1) if f.end else None),
                kept=f.open_only,
                after=key,
                oldest_first=oldest_first,
                limit=None if size is None else size + 1,
            )
            more = size is not None and len(found) > size
            found = found[:size]
            answers = records.answers_of([s.id or 0 for _, s in found if s]) if with_contact else {}
            shown = [
                ReferralRow(
                    referral.id if identified else None,
                    referral.trial_id,
                    referral.status,
                    referral.outcome,
                    referral.created_at,
                    (screening.locale if screening else None) or "",
                    (screening.source if screening else None) or "",
                    contact_of(self.trials.by_id(referral.trial_id), answers.get(screening.id or 0, {}))
                    if with_contact and screening is not None
                    else None,
                )
                for referral, screening in found
            ]
            detail = {**f.detail(), **({"later_page": True} if key else {})}
            records.audit(who.actor, Action.LIST, "referrals", shown=len(shown), **detail)
            last = found[-1][0] if more else None
            return ReferralPage(shown, self._next_key(last))

        return self._run(rows)

    def _page_key(self, token: str | None) -> tuple[datetime, str] | None:
        """The key (created_at, id) a page token stands for; None (the first page) for a token
        that is not one of ours. Tokens are encrypted: a reference is no one's to read in a URL."""
        if not token:
            return None
        try:
            at, reference = self.store.cipher.open(token)
            return datetime.fromisoformat(at), str(reference)
        except (InvalidToken, ValueError, TypeError):
            return None

    def _next_key(self, last: Referral | None) -> str | None:
        return self.store.cipher.seal([last.created_at.isoformat(), last.id]) if last else None

    def referral_cards(
        self, who: Principal, locale: str | None = None, batch: int = 500
    ) -> Iterator[tuple[Referral, Card | None]]:
        """Every referral of `who`'s trials, oldest first, each with its card (None once the
        person erased their data): what `intake referrals` prints. Read `batch` at a time by
        their key, each batch in a transaction of its own; audited (with their number) first."""
        self._require(who, Action.CARD)
        trials = None if who.trials is None else sorted(who.trials)
        self._run(
            lambda records: records.audit(
                who.actor, Action.LIST, "referrals", shown=records.count_referrals(trials), cards=True
            )
        )

        def cards(records: Records, after: tuple[datetime, str] | None) -> list[tuple[Referral, Card | None]]:
            found = records.referral_list(trials, oldest_first=True, after=after, limit=batch)
            return [
                (referral, self._card(referral, view, locale))
                for referral, view in referral_views(records, found)
            ]

        def stream() -> Iterator[tuple[Referral, Card | None]]:
            after = None
            while page := self._run(partial(cards, after=after)):
                yield from page
                last = page[-1][0]
                after = (last.created_at, last.id)

        return stream()

    def _card(self, referral: Referral, view: dict[str, Any] | None, locale: str | None) -> Card | None:
        trial = self.trials.find(referral.trial_id)
        if view is None or trial is None:
            return None
        return referral_card(
            trial, view, referral.id, referral.created_at, locale or self.locale, self.timezone
        )

    def card(self, who: Principal, reference: str, locale: str | None = None) -> CardPage | None:
        """A referral's card and its history; None for one that does not exist or is not of
        `who`'s trials (a refusal, audited)."""
        self._require(who, Action.CARD)

        def read(records: Records) -> CardPage | None:
            referral = records.referral(reference)
            if referral is None or not who.may(Action.CARD, referral.trial_id):
                return None
            records.audit(who.actor, Action.CARD, f"referral:{referral.id}", trial=referral.trial_id)
            card = self.cards.card(records, referral.id, locale)
            return CardPage(referral, card, records.referral_history(referral.id))

        found = self._run(read)
        if found is None:
            self._not_found(who, Action.CARD, reference)
        return found

    def _not_found(self, who: Principal, action: Action, reference: str) -> None:
        """One that is not there is audited only if it is there, but of another trial: a try at
        someone else's people, never a typo."""

        def check(records: Records) -> None:
            referral = records.referral(reference)
            if referral is not None and not who.works_on(referral.trial_id):
                records.audit(
                    who.actor, REFUSED, f"referral:{referral.id}", asked=str(action), trial=referral.trial_id
                )

        self._run(check)

    def calls(
        self, who: Principal, locale: str | None = None, *, size: int | None = None, after: str | None = None
    ) -> tuple[list[tuple[str, Card]], str | None]:
        """Who to call today: new and unreachable referrals of `who`'s trials, oldest first,
        `size` of them (all if None) from the page key `after` on; and the next page's key."""
        self._require(who, Action.CALLS)
        trials = [t.registry_id for t in self.visible_trials(who)]
        key = self._page_key(after)

        def rows(records: Records) -> tuple[list[tuple[str, Card]], str | None]:
            found = records.referral_list(
                trials,
                statuses=CALL_STATUSES,
                kept=True,
                after=key,
                oldest_first=True,
                limit=None if size is None else size + 1,
            )
            more = size is not None and len(found) > size
            found = found[:size]
            due = [
                (referral.id, card)
                for referral, view in referral_views(records, found)
                if (card := self._card(referral, view, locale)) is not None
            ]
            detail = {"later_page": True} if key else {}
            records.audit(who.actor, Action.CALLS, "calls", shown=len(due), **detail)
            return due, self._next_key(found[-1][0] if more else None)

        return self._run(rows)

    def set_status(
        self, who: Principal, reference: str, status: str, note: str | None = None, locale: str | None = None
    ) -> Card | None:
        """Record a step (contacted, booked…) with a note; return the card as it now reads (None
        for a referral not there, not of `who`'s trials, or withdrawn)."""
        if status not in dict(REFERRAL_STEPS):
            raise ValueError(f"not a step: {status!r}")
        self._require(who, Action.STATUS)
        note = " ".join((note or "").split())[:2000] or None

        def change(records: Records) -> Card | None:
            referral = records.referral(reference)
            if referral is None or not who.may(Action.STATUS, referral.trial_id):
                return None
            previous = referral.status
            if records.set_referral_status(reference, status, who.actor, note) is None:
                return None
            records.audit(
                who.actor,
                Action.STATUS,
                f"referral:{reference}",
                trial=referral.trial_id,
                previous=previous,
                status=status,
                note=bool(note),
            )
            return self.cards.card(records, reference, locale)

        changed = self._run(change)
        if changed is None:
            self._not_found(who, Action.STATUS, reference)
        return changed

    # Counting and exporting ----------------------------------------------------------------

    def funnel(self, who: Principal, trial: Trial) -> reports.Funnel:
        """A trial's funnel: started, consented, completed, each outcome, referred, contacted,
        enrolled, by language, source and week."""
        self._require(who, Action.FUNNEL, trial.registry_id, "funnel")

        def count(records: Records) -> reports.Funnel:
            records.audit(who.actor, Action.FUNNEL, "funnel", trial=trial.registry_id)
            return reports.funnel(records, trial.registry_id)

        return self._run(count)

    def export_csv(self, who: Principal, trial: Trial, kind: str, locale: str | None = None) -> bytes:
        """A trial's referrals as CSV, at a level (`kind`) the export policy gives `who`."""
        return b"".join(self.stream_csv(who, trial, kind, locale))

    def stream_csv(
        self, who: Principal, trial: Trial, kind: str, locale: str | None = None
    ) -> Iterator[bytes]:
        """The CSV export as it is made, a batch of referrals at a time, each batch read in a
        transaction of its own; audited before the first is read."""
        if not who.may_export("csv", kind, trial.registry_id):
            raise self._refuse(
                who, Action.EXPORT, "referrals", trial=trial.registry_id, format="csv", kind=kind
            )
        self._run(
            lambda records: records.audit(
                who.actor, Action.EXPORT, "referrals", trial=trial.registry_id, format="csv", kind=kind
            )
        )
        return reports.referrals_csv_parts(self._run, trial, locale or self.locale, self.timezone, kind)

    def export_fhir(self, who: Principal, trials: Sequence[Trial], kind: str) -> bytes:
        """Every stored screening of `trials` as a FHIR R4 Bundle, at a level the policy gives `who`."""
        ids = [t.registry_id for t in trials]
        if not trials or not all(who.may_export("fhir", kind, i) for i in ids):
            raise self._refuse(who, Action.EXPORT, "screenings", trials=ids, format="fhir", kind=kind)

        def make(records: Records) -> bytes:
            content = fhir.fhir_bundle(records, trials, self.locales, deidentified=kind == "deidentified")
            records.audit(who.actor, Action.EXPORT, "screenings", trials=ids, format="fhir", kind=kind)
            return content

        return self._run(make)

    def record_questionnaires(self) -> None:
        """Record the version of each trial's questions this process serves from now on."""
        now = utcnow()

        def record(records: Records) -> None:
            for trial in self.trials:
                fhir.record_questionnaire(records, trial, self.locales, now)

        self._run(record)

    # Other studies -------------------------------------------------------------------------

    def other_studies(self, who: Principal, fits: Trial | None = None) -> list[other_studies.Candidate]:
        """People of `who`'s trials who would like to hear about other studies, and which trials
        served here they may fit (only those who may fit `fits`, if given)."""
        self._require(who, Action.OTHER_STUDIES)
        trials = self.visible_trials(who)

        def read(records: Records) -> list[other_studies.Candidate]:
            found = [c for trial in trials for c in other_studies.candidates(records, self.trials, trial)]
            if fits is not None:
                found = [c for c in found if any(f.trial.registry_id == fits.registry_id for f in c.fits)]
            detail = {"fits": fits.registry_id} if fits else {}
            records.audit(
                who.actor,
                Action.OTHER_STUDIES,
                "other_studies",
                trials=[t.registry_id for t in trials],
                shown=len(found),
                **detail,
            )
            return found

        return self._run(read)

    # Due for re-screening ------------------------------------------------------------------

    def due_for_rescreening(self, who: Principal, today: date | None = None) -> list[DueRescreening]:
        """People of `who`'s trials excluded only until a date that has come, who asked to be
        reminded on a channel the bot cannot write to unasked (the web chat): the study team
        tells them. Their contact details only where they agreed to be contacted."""
        self._require(who, Action.RESCREENING)
        trials = self.visible_trials(who)
        on = today or utcnow().date()

        def read(records: Records) -> list[DueRescreening]:
            found = []
            for trial in trials:
                contactable = records.latest_consents(trial.registry_id, "contact")
                for reminder in records.due_reminders(on, trial.registry_id):
                    screening = records.screening(reminder.screening_id)
                    if reminder.channel in Engine.reminding_channels or screening is None:
                        continue  # the bot sends these itself
                    consent = contactable.get(reminder.screening_id)
                    contact = None
                    if consent is not None and consent.granted:
                        contact = contact_of(trial, records.answers(reminder.screening_id)) or None
                    found.append(
                        DueRescreening(
                            reminder.screening_id, trial, reminder.due_on, screening.locale, contact
                        )
                    )
            records.audit(
                who.actor,
                Action.RESCREENING,
                "rescreening",
                trials=[t.registry_id for t in trials],
                shown=len(found),
            )
            return found

        return self._run(read)

    # Erasure -------------------------------------------------------------------------------

    def erase(
        self, who: Principal, *, screening_id: int | None = None, referral_id: str | None = None
    ) -> Erasure | None:
        """Erase one person and everything they told us, found by a screening or a referral;
        their referrals are withdrawn, and whoever was told of them hears it. None: no such
        person (already erased?)."""
        self._require(who, Action.ERASE)

        def erase(records: Records) -> Erasure | list[str] | None:
            found = screening_id
            if referral_id is not None:
                referral = records.referral(referral_id)
                found = referral.screening_id if referral else None
            screening = records.screening(found) if found is not None else None
            participant = records.participant_by_id(screening.participant_id) if screening else None
            if participant is None:
                return None
            trials = self._trials_of(records, participant)
            if not all(who.works_on(t) for t in trials):
                return trials  # someone of another trial: refused below, outside this transaction
            return self._erase(records, who, participant)

        erased = self._run(erase)
        if isinstance(erased, list):
            raise self._refuse(who, Action.ERASE, "participant", trials=erased)
        return erased

    def erase_again(self, who: Principal, participant_ids: Sequence[int]) -> int:
        """After a restore: erase again the people erased since the backup (ids are never reused)."""
        self._require(who, Action.ERASE)
        if who.trials is not None:
            raise self._refuse(who, Action.ERASE, "participants", again_after_restore=True)

        def erase(records: Records) -> int:
            count = 0
            for participant_id in participant_ids:
                participant = records.participant_by_id(participant_id)
                if participant is not None:
                    self._erase(records, who, participant, again=True)
                    count += 1
            return count

        return self._run(erase)

    @staticmethod
    def _trials_of(records: Records, participant: Participant) -> list[str]:
        return sorted({s.trial_id for s in records.screenings_of(participant.id or 0)})

    def _erase(
        self, records: Records, who: Principal, participant: Participant, again: bool = False
    ) -> Erasure:
        trials = self._trials_of(records, participant)
        erasure = records.erase_participant(participant)
        records.audit(
            who.actor,
            Action.ERASE,
            "participant",
            participant=erasure.participant,
            screenings=erasure.screenings,
            trials=trials,
            **({"again_after_restore": True} if again else {}),
        )
        if self.on_effects is not None:
            self.on_effects(records, [ReferralClosed(r, "withdrawn") for r in erasure.withdrawn])
        return erasure

    # What is stored, and the audit trail -----------------------------------------------------

    def screenings(self, who: Principal, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every stored screening of `who`'s trials as plain data (`storage.views.screening_view`),
        by id, read `batch` at a time, each batch in a transaction of its own: memory stays the
        same however many there are. Audited (with their number) before the first is read."""
        self._require(who, Action.SCREENINGS)
        trials = None if who.trials is None else sorted(who.trials)

        def count(records: Records) -> None:
            records.audit(who.actor, Action.SCREENINGS, "screenings", count=records.count_screenings(trials))

        self._run(count)

        def stream() -> Iterator[dict[str, Any]]:
            after = 0
            while page := self._run(partial(screenings_page, trial_ids=trials, after=after, size=batch)):
                yield from page
                after = page[-1]["id"]

        return stream()

    def audit_trail(self, who: Principal, batch: int = 500) -> Iterator[AuditEvent]:
        """The whole audit trail, oldest first, read `batch` rows at a time (each batch in a
        transaction of its own: memory stays the same however long it is). Audited first."""
        self._require(who, Action.AUDIT)
        self._run(lambda records: records.audit(who.actor, Action.AUDIT, "audit"))

        def stream() -> Iterator[AuditEvent]:
            after = 0
            while page := self._run(partial(Records.audit_trail, after=after, limit=batch)):
                yield from page
                after = page[-1].id or 0

        return stream()

    def audit_page(
        self, who: Principal, size: int, before: int | None = None
    ) -> tuple[list[AuditEvent], int | None]:
        """The latest `size` rows of the audit trail (older than row `before`, if given), newest
        first, and the key of the page after them (None: no more)."""
        self._require(who, Action.AUDIT)

        def read(records: Records) -> tuple[list[AuditEvent], int | None]:
            events = records.audit_page(size + 1, before)
            records.audit(who.actor, Action.AUDIT, "audit", **({"before": before} if before else {}))
            more = len(events) > size
            return events[:size], events[size - 1].id if more else None

        return self._run(read)
