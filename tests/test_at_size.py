"""Flat cost at size: what counts or lists takes a fixed number of statements however many
screenings there are, and shows what it showed when it took one or more per screening.

Small databases filled as `bench.size` fills big ones (bulk insert, stored as the app stores);
the big sizes are the bench's (README, Benchmarks)."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_datetime
from sqlalchemy import event
from sqlalchemy import text as sa_text

from bench.size import Filler
from bot.cli import _json_array
from bot.config import Settings
from bot.coordination import reports
from bot.coordination.cards import (
    LANGUAGE,
    OPEN_STATUSES,
    OUTCOME,
    RECEIVED,
    SOURCE,
    UNCERTAIN,
    contact_of,
    language_name,
    outcome_label,
    status_label,
)
from bot.coordination.permissions import Principal, Role
from bot.coordination.reports import FUNNEL, Funnel, funnel
from bot.coordination.service import Coordination, ReferralFilter, ReferralRow
from bot.web import WebOptions, build_web_app, console
from bot.web.console import ConsoleOptions
from bot.wiring import build_engine
from dialogs.engine import Engine
from dialogs.i18n import shipped_locales, translator
from dialogs.trial import Trial, load_trials
from dialogs.wording import answer_text
from storage.models import AuditEvent
from storage.repository import Records, Store
from storage.views import screening_view
from tests.conftest import LIKELY_B1, Person
from tests.test_console import _account, _client, _sign_in


def _filled(store: Store, trial: Trial, count: int, seed: int = 22) -> Store:
    Filler(store.engine, store.cipher, trial, seed=seed, inputs_per_screening=2).fill(count)
    return store


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements sent to the database while the block runs."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def _statements_at(
    store: Store, trial: Trial, sizes: tuple[int, ...], work: Callable[[], object]
) -> list[int]:
    """How many statements `work` takes with the database filled to each of `sizes`."""
    counts = []
    for size in sizes:
        _filled(store, trial, size)
        with _statements(store) as sent:
            work()
        counts.append(len(sent))
    return counts


def _funnel_one_by_one(records: Records, trial_id: str) -> Funnel:
    """The funnel as it was counted before (issue 22): screening by screening, two queries each."""
    reached = {"contacted", "booked", "enrolled", "not_eligible_after_call"}
    by: dict[str, dict[str, Counter[str]]] = {k: defaultdict(Counter) for k in ("language", "source", "week")}
    for screening in records.screenings(trial_id):
        steps = {"started"}
        if any(c.scope == "storage" and c.granted for c in records.consents(screening.id or 0)):
            steps.add("consented")
        if screening.status == "finished":
            steps.add("completed")
            steps.add(screening.outcome or "")
        referral = records.referral_for(screening.id or 0)
        if referral is not None and referral.status != "cancelled":
            steps.add("referred")
            if referral.status in reached:
                steps.add("contacted")
            if referral.status == "enrolled":
                steps.add("enrolled")
        by["language"][screening.locale or "-"].update(steps)
        by["source"][screening.source or "-"].update(steps)
        year, week, _ = screening.started_at.isocalendar()
        by["week"][f"{year}-W{week:02d}"].update(steps)
    return {k: dict(v) for k, v in by.items()}


def _shown(counts: Funnel) -> dict[str, dict[str, list[int]]]:
    """What a funnel page shows: each group's count at each step."""
    return {
        dimension: {group: [steps.get(step, 0) for step, _ in FUNNEL] for group, steps in groups.items()}
        for dimension, groups in counts.items()
    }


def test_the_funnel_counted_by_the_database_is_the_funnel_counted_one_by_one(
    store: Store, trial: Trial
) -> None:
    _filled(store, trial, 250)
    with store.transaction() as records:
        counted, expected = funnel(records, trial.registry_id), _funnel_one_by_one(records, trial.registry_id)
    assert _shown(counted) == _shown(expected)
    shown = _shown(counted)["language"]
    total = [sum(column) for column in zip(*shown.values(), strict=True)]
    assert total[0] == 250 and all(total), f"every step has someone in this mix: {total}"
    assert len(_shown(counted)["week"]) > 40, "the screenings began over most of a year"
    with store.transaction() as records:
        assert funnel(records, "NCT00000000") == {"language": {}, "source": {}, "week": {}}


def test_the_funnel_takes_as_many_statements_for_fifty_screenings_as_for_one(
    store: Store, trial: Trial
) -> None:
    def count() -> None:
        with store.transaction() as records:
            funnel(records, trial.registry_id)

    one, fifty = _statements_at(store, trial, (1, 50), count)
    assert one == fifty, f"{one} statements for one screening, {fifty} for fifty"


def _same_as_counted_one_by_one(store: Store, trial: Trial) -> Funnel:
    with store.transaction() as records:
        kept, expected = funnel(records, trial.registry_id), _funnel_one_by_one(records, trial.registry_id)
    assert _shown(kept) == _shown(expected)
    return kept


def _people(kept: Funnel) -> int:
    return sum(steps["started"] for steps in kept["language"].values())


def test_the_funnel_kept_with_each_turn_is_the_funnel_counted_one_by_one(engine: Engine) -> None:
    """Every change the funnel counts, made through the dialog and the coordinator's steps: a
    start, a language chosen, consent, a finish, a referral and its status, a restart (mid-way,
    and after a finish: a new screening, the earlier referral replaced), an erasure, a purge."""
    store, trial = engine.store, engine.trial
    finished = Person(engine, "finished")
    finished.start(source="radio")
    finished.answer_all(LIKELY_B1)
    midway = Person(engine, "midway", locale=None)
    midway.start()
    midway.say("español")  # the language menu first: counted under the one chosen
    midway.answer_some({k: LIKELY_B1[k] for k in ("consent_storage", "consent_contact", "respondent")})
    midway.command("restart")
    midway.tap("yes")
    again = Person(engine, "again")
    again.start(source="clinic_flyer")
    again.answer_all(LIKELY_B1)
    first_reference = again.stored()["referral"]["id"]
    declined = Person(engine, "declined")
    declined.start()
    declined.tap("no")  # nothing stored: nothing counted
    kept = _same_as_counted_one_by_one(store, trial)
    assert _people(kept) == 3 and kept["language"]["es"]["consented"] == 1

    enrolled = finished.stored()["referral"]["id"]
    with store.transaction() as records:
        for status in ("contacted", "booked"):
            records.set_referral_status(first_reference, status, "console:li")
        records.set_referral_status(enrolled, "enrolled", "console:li")
    kept = _same_as_counted_one_by_one(store, trial)
    assert kept["source"]["radio"]["enrolled"] == 1 and kept["source"]["clinic_flyer"]["contacted"] == 1

    again.command("restart")  # after the finish: a new screening, its referral replaces the first
    again.tap("yes")
    again.answer_all({**LIKELY_B1, "age": "59"})
    with store.transaction() as records:
        assert records.referral(first_reference).status == "replaced"  # type: ignore[union-attr]
    kept = _same_as_counted_one_by_one(store, trial)
    assert _people(kept) == 4 and kept["source"]["clinic_flyer"].get("contacted", 0) == 0

    finished.command("delete")
    finished.tap("yes")
    kept = _same_as_counted_one_by_one(store, trial)
    assert _people(kept) == 3 and "radio" not in kept["source"], "an erased person is counted nowhere"

    cancelled = again.stored()["referral"]["id"]
    with store.transaction() as records:  # retention: de-identified, still counted as they were
        later = datetime.now(UTC) + timedelta(days=1)
        assert len(records.purge(later, later)) == 3
    assert _same_as_counted_one_by_one(store, trial) == kept
    with store.transaction() as records:
        records.set_referral_status(cancelled, "cancelled", "console:li")
    # Their first referral, replaced, still counts; the cancelled one no longer does.
    assert _same_as_counted_one_by_one(store, trial)["source"]["clinic_flyer"]["referred"] == 1


def test_turns_at_once_lose_no_count(engine: Engine) -> None:
    """Many people start and consent at the same moment, in the same cell (trial, language,
    source, day): each count moves by an atomic n = n + 1, none is lost to another's write."""
    people = [Person(engine, f"at-once-{n}") for n in range(8)]
    ready, errors = threading.Barrier(len(people)), []

    def begin(person: Person) -> None:
        try:
            ready.wait()
            person.start(source="radio")
            person.say("yes")
        except BaseException as error:  # any failure at all is what this test looks for
            errors.append(error)

    threads = [threading.Thread(target=begin, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    kept = _same_as_counted_one_by_one(engine.store, engine.trial)
    assert kept["source"]["radio"]["started"] == kept["source"]["radio"]["consented"] == len(people)


def test_the_bench_multiplies_its_screenings_in_sql_with_every_table_and_count_in_step(
    store: Store, trial: Trial
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("bench.size multiplies in PostgreSQL's SQL (SQLite fills from Python)")
    filler = Filler(store.engine, store.cipher, trial, seed=5, inputs_per_screening=2)
    filler.fill(40)
    tables = ("participant", "screening", "answer", "consent", "referral", "referral_event", "audit_event")

    def rows() -> dict[str, int]:
        with store.engine.connect() as connection:
            counted = {
                t: connection.execute(sa_text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
            }
            counted["processed_input"] = connection.execute(
                sa_text("SELECT count(*) FROM processed_input")
            ).scalar_one()
        return counted

    before = rows()
    with store.transaction() as records:
        once = funnel(records, trial.registry_id)
    filler.multiply(120)
    assert rows() == {t: 3 * n for t, n in before.items()}
    tripled = _same_as_counted_one_by_one(store, trial)
    assert _shown(tripled) == {
        d: {g: [3 * n for n in counts] for g, counts in groups.items()} for d, groups in _shown(once).items()
    }
    with store.transaction() as records:  # each copy a screening of its own, readable as the app reads it
        assert len({r.id for r in records.referrals()}) == 3 * before["referral"]
        assert all(records.answers(s.id or 0) for s in records.screenings(trial.registry_id)[-3:])
    filler.multiply(240)  # a second round copies the first's copies too
    assert rows() == {t: 6 * n for t, n in before.items()}
    _same_as_counted_one_by_one(store, trial)
    filler.fill(250)  # a fill after the copies goes on from them
    assert rows()["screening"] == 250


# The referral list, the call list, the exports -------------------------------------------------

TRIALS = load_trials(["nct07295067", "nct06079125"])
FIRST, SECOND = (t.registry_id for t in TRIALS)
OPERATOR = Principal("operator:wang", Role.OPERATOR)
SECOND_ONLY = Principal("console:li", Role.COORDINATOR, frozenset({SECOND}))
MONITOR = Principal("console:m", Role.MONITOR)


@pytest.fixture
def service(store: Store) -> Coordination:
    """Two trials' screenings, a fifth of them referred, and the service that lists them."""
    first, second = TRIALS
    Filler(store.engine, store.cipher, first, seed=1, inputs_per_screening=0).fill(100)
    Filler(store.engine, store.cipher, second, seed=2, inputs_per_screening=0).fill(250)
    return Coordination(store, TRIALS, shipped_locales(), locale="en", timezone="Asia/Shanghai")


def _listed_one_by_one(
    service: Coordination, who: Principal, f: ReferralFilter, with_contact: bool = False
) -> list[ReferralRow]:
    """The list as it was made before (issue 22): every referral read, filtered in Python."""
    zone, identified = ZoneInfo(service.timezone), who.identified
    shown = []
    with service.store.transaction() as records:
        for referral in records.referrals():
            trial = service.trials.find(referral.trial_id)
            if trial is None or not who.works_on(trial.registry_id):
                continue
            screening = records.screening(referral.screening_id) if referral.screening_id else None
            received = referral.created_at.astimezone(zone).date()
            language = (screening.locale if screening else None) or ""
            source = (screening.source if screening else None) or ""
            if (
                (f.open_only and (referral.status not in OPEN_STATUSES or screening is None))
                or (f.status and referral.status != f.status)
                or (f.outcome and referral.outcome != f.outcome)
                or (f.language and language != f.language)
                or (f.source and source != f.source)
                or (f.trial and referral.trial_id != f.trial)
                or (f.reference and (not identified or f.reference.lower() not in referral.id.lower()))
                or (f.start and received < f.start)
                or (f.end and received > f.end)
            ):
                continue
            contact = None
            if with_contact and identified and screening is not None:
                contact = contact_of(trial, records.answers(screening.id or 0))
            shown.append(
                ReferralRow(
                    referral.id if identified else None,
                    referral.trial_id,
                    referral.status,
                    referral.outcome,
                    referral.created_at,
                    language,
                    source,
                    contact,
                )
            )
    return list(reversed(shown))


def _paged(service: Coordination, who: Principal, f: ReferralFilter, size: int) -> list[ReferralRow]:
    rows, after, pages = [], None, 0
    while True:
        page = service.referrals(who, f, size=size, after=after)
        assert len(page.rows) <= size
        rows += page.rows
        pages += 1
        if page.next is None:
            return rows
        assert page.rows, "a next page only after a page with rows"
        after = page.next


def test_the_referral_list_filters_in_the_database_and_pages_by_key(service: Coordination) -> None:
    with service.store.transaction() as records:
        referrals = records.referrals()
    assert len(referrals) > 50
    some = referrals[len(referrals) // 2]
    middle = some.created_at.astimezone(ZoneInfo(service.timezone)).date()
    filters = [
        ReferralFilter(),
        ReferralFilter(status="contacted"),
        ReferralFilter(outcome="needs_review", language="ru"),
        ReferralFilter(source="radio"),
        ReferralFilter(trial=FIRST),
        ReferralFilter(reference=some.id[3:8].upper()),
        ReferralFilter(start=middle),
        ReferralFilter(end=middle, status="pending"),
        ReferralFilter(start=middle, end=middle + timedelta(days=40)),
        ReferralFilter(open_only=True),
        ReferralFilter(open_only=True, status="enrolled"),
    ]
    for who, f in [(OPERATOR, f) for f in filters] + [
        (who, f) for who in (SECOND_ONLY, MONITOR) for f in (filters[0], filters[4], filters[5], filters[9])
    ]:
        expected = _listed_one_by_one(service, who, f)
        assert service.referrals(who, f).rows == expected, (who, f)
        if f in (filters[0], filters[1], filters[6]):  # a page at a time, key to key: the same list
            assert _paged(service, who, f, size=9) == expected, (who, f)
    assert {row.trial_id for row in service.referrals(SECOND_ONLY).rows} == {SECOND}, "their trial only"
    assert not service.referrals(MONITOR, ReferralFilter(reference=some.id)).rows, "no references"
    contacts = _listed_one_by_one(service, SECOND_ONLY, ReferralFilter(open_only=True), with_contact=True)
    listed = service.referrals(SECOND_ONLY, ReferralFilter(open_only=True), with_contact=True).rows
    assert listed == contacts and all(row.contact for row in listed)


def test_a_page_token_is_no_reference_and_a_forged_one_is_the_first_page(service: Coordination) -> None:
    first = service.referrals(MONITOR, size=5)
    assert first.next is not None
    with service.store.transaction() as records:
        assert not any(r.id in first.next for r in records.referrals()), "a monitor reads no reference"
    assert service.referrals(MONITOR, size=5, after="forged").rows == first.rows


def test_the_call_list_pages_by_key_oldest_first(service: Coordination) -> None:
    everything, _ = service.calls(SECOND_ONLY)
    with service.store.transaction() as records:
        due = [
            r.id
            for r in records.referrals()
            if r.trial_id == SECOND and r.status in ("pending", "unreachable") and r.screening_id
        ]
    assert [reference for reference, _ in everything] == due and due
    paged, after = [], None
    while True:
        page, after = service.calls(SECOND_ONLY, size=4, after=after)
        paged += page
        if after is None:
            break
    assert paged == everything


def test_listing_and_exporting_take_as_many_statements_for_many_screenings_as_for_few(
    store: Store, trial: Trial
) -> None:
    service = Coordination(store, TRIALS, shipped_locales(), locale="en", timezone="UTC")
    work = {
        "list": lambda: service.referrals(OPERATOR, size=100, with_contact=True),
        "filtered": lambda: service.referrals(
            OPERATOR, ReferralFilter(language="en", open_only=True), size=100
        ),
        "calls": lambda: service.calls(OPERATOR, size=50),
        "csv": lambda: service.export_csv(OPERATOR, TRIALS.first, "full"),
        "screenings": lambda: list(service.screenings(OPERATOR)),
        "audit": lambda: service.audit_page(OPERATOR, 500),
        "fhir": lambda: service.export_fhir(OPERATOR, [TRIALS.first], "full"),
    }
    counts: dict[str, list[int]] = {name: [] for name in work}
    for size in (20, 150):
        _filled(store, trial, size)
        for name, run in work.items():
            with _statements(store) as sent:
                run()
            counts[name].append(len(sent))
    assert all(few == many for few, many in counts.values()), counts


def _csv_one_by_one(records: Records, trial: Trial, locale: str, timezone: str, kind: str) -> bytes:
    """The CSV export as it was made before (issue 22): every referral, three queries each."""
    t = translator(locale, (trial.domain,))
    zone = ZoneInfo(timezone)
    questions = [q for q in trial.questions if q.scope != "storage" and reports._exported(q, kind)]
    labels = (RECEIVED, reports.STATUS, OUTCOME, UNCERTAIN, LANGUAGE, SOURCE)
    header = [t(label) for label in labels]
    header = header if kind == "deidentified" else [t(reports.REFERRAL_ID), *header]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([reports.neutralise(h) for h in [*header, *(t(q.label) for q in questions)]])
    when = "yyyy-MM" if kind == "deidentified" else "yyyy-MM-dd HH:mm"
    for referral in records.referrals():
        screening = records.screening(referral.screening_id) if referral.screening_id else None
        if screening is None or referral.trial_id != trial.registry_id:
            continue
        view = screening_view(records, screening)
        row = [
            format_datetime(referral.created_at, when, tzinfo=zone, locale=locale),
            status_label(referral.status, t),
            outcome_label(referral.outcome, t),
            " ".join(view["uncertain"]),
            language_name(view["language"], locale),
            view["source"] or "",
        ]
        cells = [reports.neutralise(str(c)) for c in (row if kind == "deidentified" else [referral.id, *row])]
        for question in questions:
            value = view["answers"].get(question.id)
            text = "" if value is None else answer_text(question, value, t)
            phone = question.kind == "phone" and reports._E164.fullmatch(text)
            cells.append(text if phone else reports.neutralise(text))
        writer.writerow(cells)
    return buffer.getvalue().encode("utf-8-sig")


def test_the_streamed_csv_is_the_csv_made_one_by_one(service: Coordination) -> None:
    second = TRIALS.by_id(SECOND)
    for kind, locale in (("full", "zh_Hans"), ("contact", "en"), ("deidentified", "ru")):
        parts = list(
            reports.referrals_csv_parts(service.store.run, second, locale, "Asia/Shanghai", kind, batch=9)
        )
        with service.store.transaction() as records:
            expected = _csv_one_by_one(records, second, locale, "Asia/Shanghai", kind)
        assert b"".join(parts) == expected, kind
        assert len(parts) > 3, "made a batch at a time"
    assert service.export_csv(OPERATOR, second, "full", "zh_Hans") == b"".join(
        reports.referrals_csv_parts(service.store.run, second, "zh_Hans", "Asia/Shanghai", "full")
    )
    exports = [e for e in _audit(service.store) if e.action == "exported"]
    assert [e.detail for e in exports] == [{"trial": SECOND, "format": "csv", "kind": "full"}]


def _audit(store: Store) -> list[AuditEvent]:
    with store.transaction() as records:
        return records.audit_trail()


def test_intake_screenings_json_is_written_a_row_at_a_time_as_one_array() -> None:
    for rows in (
        [],
        [{"id": 1, "answers": {"name": "李伟", "age": 42}}],
        [{"id": 1}, {"id": 2, "x": [1, {}]}],
    ):
        out = io.StringIO()
        _json_array(iter(rows), out)
        assert out.getvalue() == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def test_the_screenings_are_read_a_batch_at_a_time_and_audited_with_their_number(
    service: Coordination,
) -> None:
    streamed = list(
        service.screenings(Principal("operator:li", Role.OPERATOR, frozenset({SECOND})), batch=40)
    )
    with service.store.transaction() as records:
        expected = [screening_view(records, s) for s in records.screenings(SECOND)]
    assert streamed == expected and len(expected) == 150
    [audited] = [e for e in _audit(service.store) if e.action == "viewed_screenings"]
    assert audited.detail == {"count": 150}


def test_intake_referrals_and_audit_are_read_a_batch_at_a_time_in_order(service: Coordination) -> None:
    """`intake referrals` and `intake audit` print everything, but hold a batch at a time: the
    same rows, in the same order, as read at once; each view audited before the first row."""
    with service.store.transaction() as records:
        every_referral = [r.id for r, _ in records.referral_list(None, oldest_first=True)]
    cards = list(service.referral_cards(OPERATOR, batch=7))
    assert [r.id for r, _ in cards] == every_referral and len(every_referral) > 7
    assert all(card is not None for _, card in cards)
    [listed] = [e for e in _audit(service.store) if e.action == "viewed_referrals" and e.detail.get("cards")]
    assert listed.detail["shown"] == len(every_referral)
    trail = [e.id for e in service.audit_trail(OPERATOR, batch=7)]
    assert trail == [e.id for e in _audit(service.store)] and len(trail) > 7


# The console: a page at a time, links that keep the filters, the export as it is made --------


async def test_the_console_pages_its_lists_with_next_links_that_keep_the_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build_engine(Settings(_env_file=None, data_dir=tmp_path, trials="nct07295067"))  # type: ignore[call-arg]
    Filler(engine.store.engine, engine.store.cipher, engine.trials.first, inputs_per_screening=0).fill(200)
    monkeypatch.setattr(console, "LIST_PAGE", 4)
    monkeypatch.setattr(console, "CALLS_PAGE", 3)
    monkeypatch.setattr(console, "AUDIT_PAGE", 10)
    app = build_web_app(engine, options=WebOptions(console=ConsoleOptions(locale="en", timezone="UTC")))
    _account(engine, "zhao", "operator")
    service = Coordination(engine.store, engine.trials, engine.locales, locale="en", timezone="UTC")

    async def follow(client: httpx.AsyncClient, url: str, pattern: str) -> tuple[list[str], list[str]]:
        """Every page from `url` on by its next links: what `pattern` finds on them, and the links."""
        found, links = [], []
        while True:
            page = (await client.get(url)).text
            found += re.findall(pattern, page)
            link = re.search(r'<a rel="next" href="([^"]+)"', page)
            if link is None:
                return found, links
            url = unescape(link[1])
            links.append(url)

    async with _client(app) as operator:
        assert (await _sign_in(operator, "zhao")).status_code == 303
        references = r'<td><a href="/coordinator/referrals/(\w+)">'
        listed, links = await follow(operator, "/coordinator/?status=pending&from=2020-01-01", references)
        asked = ReferralFilter(status="pending", start=date(2020, 1, 1))
        assert listed == [row.reference for row in service.referrals(OPERATOR, asked).rows]
        assert len(links) > 2 and all("status=pending" in u and "from=2020-01-01" in u for u in links)
        cards, links = await follow(
            operator, "/coordinator/calls", r'<h3><a href="/coordinator/referrals/(\w+)">'
        )
        assert cards == [reference for reference, _ in service.calls(OPERATOR)[0]] and len(links) > 2
        rows, links = await follow(operator, "/coordinator/audit", r"<tr><td>")
        with engine.store.transaction() as records:
            # Every row once, but those the visits added (each audited after what it shows).
            assert len(rows) == len(records.audit_trail()) - len(links) - 1
        assert len(links) > 10
        export = await operator.get("/coordinator/exports/nct07295067/full.csv")
        assert export.headers["content-disposition"].startswith("attachment")
        assert export.content == service.export_csv(OPERATOR, engine.trials.first, "full", "en")
