"""One coordinator side for a deployment serving both Xuanwu trials.

The console, the Telegram coordinator commands and the `intake` command call one service
(`bot.coordination`): one permission table, one audit vocabulary, one export policy. A
coordinator of one trial never sees, exports or receives another trial's people, on any
surface; every card, CSV row and FHIR response is worded with its own referral's trial.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from bot.config import ConfigError, Settings
from bot.coordination.audit import LABELS
from bot.coordination.permissions import EXPORTS, PERMISSIONS, Action, NotAllowed, Principal, Role
from bot.coordination.service import Coordination, ReferralFilter
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.telegram_harness import running, settings_for
from bot.web import WebOptions, build_web_app
from bot.web.console import ConsoleOptions
from bot.wiring import build_engine
from dialogs.engine import Engine
from dialogs.machine import SUMMARY
from storage.models import AuditEvent
from tests.conftest import LIKELY_B1, NEVER_OPERATED, Person
from tests.test_console import _account, _client, _sign_in
from tests.test_processes import intake
from tests.test_second_trial import adult

FIRST, SECOND = "NCT07295067", "NCT06079125"
BOTH = "nct07295067,nct06079125"
# A likely candidate for NCT06079125, typed: Chiari and a syrinx, never operated, MRI to share.
SECOND_LIKELY = {
    **{question: str(value) for question, value in adult().items()},
    "respondent": "1",
    "contact_name": "Wang Fang",
    "contact_phone": "139 8765 4321",
}
FIRST_NAME, FIRST_PHONE = "Li Wei", "+8613812345678"
SECOND_NAME, SECOND_PHONE = "Wang Fang", "+8613987654321"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {"data_dir": tmp_path, "trials": BOTH, "coordinator_language": "en", "timezone": "UTC"}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return build_engine(_settings(tmp_path))


def refer(engine: Engine, slug: str, answers: dict[str, str], who: str) -> str:
    """A whole screening for the trial `slug`, to its referral; its reference."""
    person = Person(engine, who)
    person.command("start", slug)
    person.answer_some(answers)
    assert person.prompt == SUMMARY, person.texts
    person.tap("confirm")
    stored = person.stored()
    assert stored["trial"] == slug.upper() and stored["referral"], stored
    return str(stored["referral"]["id"])


@pytest.fixture
def referred(engine: Engine) -> dict[str, str]:
    """One referral per trial: {registry id: reference}."""
    return {
        FIRST: refer(engine, "nct07295067", LIKELY_B1, "first"),
        SECOND: refer(engine, "nct06079125", SECOND_LIKELY, "second"),
    }


def _service(engine: Engine) -> Coordination:
    return Coordination(engine.store, engine.trials, engine.locales, locale="en", timezone="UTC")


def _audit(engine: Engine) -> list[AuditEvent]:
    with engine.store.transaction() as records:
        return records.audit_trail()


def _status(engine: Engine, reference: str) -> str:
    with engine.store.transaction() as records:
        referral = records.referral(reference)
        assert referral is not None
        return referral.status


# The table, the vocabulary and the policy -----------------------------------------------------


def test_one_permission_table_for_every_role() -> None:
    first_only = Principal("console:li.na", Role.COORDINATOR, frozenset({FIRST}))
    assert first_only.may(Action.CARD, FIRST) and not first_only.may(Action.CARD, SECOND)
    assert not first_only.may(Action.ERASE) and not first_only.may(Action.AUDIT)
    monitor = Principal("console:m", Role.MONITOR)
    assert monitor.may(Action.LIST) and not monitor.identified and not monitor.may(Action.STATUS)
    operator = Principal("operator:wang", Role.OPERATOR)
    assert all(operator.may(action, SECOND) for action in Action)
    assert set(PERMISSIONS) == set(Role) == set(EXPORTS)


def test_one_export_policy_the_least_each_role_needs() -> None:
    assert Principal("telegram:1", Role.COORDINATOR).exports("csv") == ("contact",)
    assert Principal("telegram:1", Role.COORDINATOR).exports("fhir") == ()
    assert Principal("console:m", Role.MONITOR).exports("csv") == ("deidentified",)
    assert Principal("console:m", Role.MONITOR).exports("fhir") == ("deidentified",)
    assert Principal("operator:o", Role.OPERATOR).exports("csv") == ("contact", "full", "deidentified")


def test_one_audit_vocabulary_names_every_action_in_words() -> None:
    assert {str(a) for a in Action} <= set(LABELS)


# The service: each trial's people to its own coordinators only ---------------------------------


def test_a_coordinator_of_one_trial_sees_only_its_people_through_the_service(
    engine: Engine, referred: dict[str, str]
) -> None:
    service = _service(engine)
    first = Principal("console:first", Role.COORDINATOR, frozenset({FIRST}))
    rows = service.referrals(first, with_contact=True).rows
    assert [(r.reference, r.trial_id, r.contact) for r in rows] == [
        (referred[FIRST], FIRST, f"{FIRST_NAME}, {FIRST_PHONE}")
    ]
    assert service.card(first, referred[SECOND]) is None, "another trial's referral is not there"
    assert service.set_status(first, referred[SECOND], "contacted") is None
    assert _status(engine, referred[SECOND]) == "pending"
    due, _ = service.calls(first)
    assert [reference for reference, _ in due] == [referred[FIRST]]
    assert [t.registry_id for t in service.visible_trials(first)] == [FIRST]
    second_trial = engine.trials.by_id(SECOND)
    for refused in (
        lambda: service.funnel(first, second_trial),
        lambda: service.export_csv(first, second_trial, "contact"),
        lambda: service.export_fhir(first, [second_trial], "deidentified"),
    ):
        with pytest.raises(NotAllowed):
            refused()
    tries = [(e.subject, e.detail.get("trial")) for e in _audit(engine) if e.action == "refused"]
    assert (f"referral:{referred[SECOND]}", SECOND) in tries, "a try at another trial's person is audited"
    assert ("funnel", SECOND) in tries and ("referrals", SECOND) in tries


def test_every_card_is_worded_with_its_own_trial(engine: Engine, referred: dict[str, str]) -> None:
    service = _service(engine)
    operator = Principal("operator:wang", Role.OPERATOR)
    second = service.card(operator, referred[SECOND])
    assert second is not None and second.card is not None
    assert second.card.title == f"Referral {referred[SECOND]} · {SECOND}"
    labels = dict(second.card.answers)
    assert labels["Diagnosed with a Chiari malformation"] == "Yes", "the second trial's own questions"
    assert "Diabetes" not in labels
    first = service.card(operator, referred[FIRST])
    assert first is not None and first.card is not None and "Diabetes" in dict(first.card.answers)
    viewed = [e for e in _audit(engine) if e.action == "viewed_referral"]
    assert [e.detail["trial"] for e in viewed] == [SECOND, FIRST], "audit rows carry their trial"


def test_status_changes_and_notes_are_audited_with_their_trial(
    engine: Engine, referred: dict[str, str]
) -> None:
    service = _service(engine)
    second = Principal("telegram:9002", Role.COORDINATOR, frozenset({SECOND}))
    card = service.set_status(second, referred[SECOND], "booked", "  Tuesday   9:00 ")
    assert card is not None and card.title.endswith(SECOND)
    [event] = [e for e in _audit(engine) if e.action == "referral_status"]
    assert event.detail == {"trial": SECOND, "previous": "pending", "status": "booked", "note": True}
    page = service.card(Principal("console:x", Role.OPERATOR), referred[SECOND])
    assert page is not None
    assert [(e.actor, e.status, note) for e, note in page.history] == [
        ("telegram:9002", "booked", "Tuesday 9:00")
    ]


def test_each_trial_has_its_own_funnel(engine: Engine, referred: dict[str, str]) -> None:
    service = _service(engine)
    operator = Principal("operator:wang", Role.OPERATOR)
    for trial_id in (FIRST, SECOND):
        counts = service.funnel(operator, engine.trials.by_id(trial_id))
        [steps] = counts["language"].values()
        assert steps["started"] == 1 and steps["referred"] == 1, trial_id


def test_erasure_concerns_the_persons_trials(engine: Engine, referred: dict[str, str]) -> None:
    service = _service(engine)
    scoped = Principal("operator:first-only", Role.OPERATOR, frozenset({FIRST}))
    with pytest.raises(NotAllowed):
        service.erase(scoped, referral_id=referred[SECOND])
    erasure = service.erase(Principal("operator:wang", Role.OPERATOR), referral_id=referred[SECOND])
    assert erasure is not None and erasure.withdrawn == [referred[SECOND]]
    [erased] = [e for e in _audit(engine) if e.action == "participant_erased"]
    assert erased.detail["trials"] == [SECOND]


# The console ---------------------------------------------------------------------------------


@pytest.fixture
async def console(engine: Engine) -> AsyncIterator[object]:
    yield build_web_app(
        engine, options=WebOptions(tap_settle=0, console=ConsoleOptions(locale="en", timezone="UTC"))
    )


async def test_the_console_shows_a_coordinator_their_trials_people_only(
    console: object, engine: Engine, referred: dict[str, str]
) -> None:
    _account(engine, "wang.second", "coordinator", ["nct06079125"])  # a slug names the trial too
    mine, theirs = referred[SECOND], referred[FIRST]
    async with _client(console) as browser:
        assert (await _sign_in(browser, "wang.second")).status_code == 303
        listing = (await browser.get("/coordinator/")).text
        assert mine in listing and theirs not in listing
        assert (await browser.get(f"/coordinator/referrals/{theirs}")).status_code == 404
        card = await browser.get(f"/coordinator/referrals/{mine}")
        assert (
            card.status_code == 200
            and SECOND_NAME in card.text
            and "Diagnosed with a Chiari malformation" in card.text
        )
        calls = (await browser.get("/coordinator/calls")).text
        assert mine in calls and theirs not in calls and FIRST_NAME not in calls
        funnel = (await browser.get("/coordinator/funnel")).text
        assert SECOND in funnel and FIRST not in funnel
        exports = (await browser.get("/coordinator/exports")).text
        assert "/coordinator/exports/nct06079125/contact.csv" in exports and "nct07295067" not in exports
        assert "fhir" not in exports and "full.csv" not in exports, "the call list only"
        assert (await browser.get("/coordinator/exports/nct07295067/contact.csv")).status_code == 403
        assert (await browser.get("/coordinator/exports/nct06079125/full.csv")).status_code == 403
        export = await browser.get("/coordinator/exports/nct06079125/contact.csv")
        assert SECOND_NAME in export.text and FIRST_NAME not in export.text and theirs not in export.text
        assert (await browser.get("/coordinator/audit")).status_code == 403
    assert _status(engine, theirs) == "pending"


async def test_the_consoles_operator_sees_every_trial_each_card_in_its_own_words(
    console: object, engine: Engine, referred: dict[str, str]
) -> None:
    _account(engine, "zhao", "operator")
    async with _client(console) as browser:
        await _sign_in(browser, "zhao")
        listing = (await browser.get("/coordinator/")).text
        assert referred[FIRST] in listing and referred[SECOND] in listing
        only_second = (await browser.get("/coordinator/?trial=nct06079125")).text
        assert referred[SECOND] in only_second and referred[FIRST] not in only_second
        first = (await browser.get(f"/coordinator/referrals/{referred[FIRST]}")).text
        assert "Diabetes" in first and "Diagnosed with a Chiari malformation" not in first
        funnel = (await browser.get("/coordinator/funnel")).text
        assert FIRST in funnel and SECOND in funnel
        fhir = await browser.get("/coordinator/exports/nct06079125/fhir-full.json")
        bundle = json.loads(fhir.content)
        responses = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
        ]
        assert [r["identifier"]["value"] for r in responses] == [referred[SECOND]]


# Telegram ------------------------------------------------------------------------------------

FIRST_CHAT, SECOND_CHAT = 9001, 9002


@pytest.fixture
async def telegram(tmp_path: Path) -> AsyncIterator[tuple[FakeTelegram, Engine]]:
    chats = f"nct07295067={FIRST_CHAT}, nct06079125={SECOND_CHAT}"
    async with (
        FakeTelegram() as tg,
        running(settings_for(tg, tmp_path, trials=BOTH, coordinator_chat_ids=chats)) as (_, engine),
    ):
        yield tg, engine


async def test_telegram_chats_receive_list_export_and_count_their_trials_people_only(
    telegram: tuple[FakeTelegram, Engine],
) -> None:
    import asyncio

    tg, engine = telegram
    first = await asyncio.to_thread(refer, engine, "nct07295067", LIKELY_B1, "first")
    second = await asyncio.to_thread(refer, engine, "nct06079125", SECOND_LIKELY, "second")
    # Notifications go to each trial's chat only.
    [first_card] = await tg.wait_for_messages(FIRST_CHAT, 1)
    [second_card] = await tg.wait_for_messages(SECOND_CHAT, 1)
    assert (
        first in first_card["text"]
        and FIRST_NAME in first_card["text"]
        and SECOND_NAME not in first_card["text"]
    )
    assert second in second_card["text"] and "Diagnosed with a Chiari malformation" in second_card["text"]

    tg.send_command(SECOND_CHAT, "referrals")
    listing = (await tg.wait_for_messages(SECOND_CHAT, 2))[-1]["text"]
    assert (
        second in listing and SECOND_PHONE in listing and first not in listing and FIRST_PHONE not in listing
    )

    tg.send_command(SECOND_CHAT, "export")
    await tg.wait_for(lambda: tg.documents_to(SECOND_CHAT), what="the CSV")
    [(filename, content)] = tg.documents_to(SECOND_CHAT)
    text = content.decode("utf-8-sig")
    assert filename.startswith("referrals-nct06079125-contact-") and second in text and first not in text
    assert SECOND_PHONE in text and FIRST_NAME not in text

    tg.send_command(SECOND_CHAT, "stats")
    stats = (await tg.wait_for_messages(SECOND_CHAT, 4))[-1]["text"]
    assert stats.startswith(SECOND) and FIRST not in stats

    # A button for another trial's referral (forged into the first trial's chat) changes nothing.
    tg.tap(FIRST_CHAT, first_card["message_id"], f"ref:{second}:enrolled")
    tg.tap(FIRST_CHAT, first_card["message_id"], f"ref:{first}:contacted")
    await tg.wait_for(lambda: "Status: Contacted" in tg.messages_to(FIRST_CHAT)[0]["text"], what="status")
    assert _status(engine, second) == "pending" and _status(engine, first) == "contacted"
    refused = [(e.actor, e.subject) for e in _audit(engine) if e.action == "refused"]
    assert (f"telegram:{FIRST_CHAT}", f"referral:{second}") in refused


# The command line ------------------------------------------------------------------------------


def test_intake_export_is_per_trial_and_fhir_bundles_each_trial(tmp_path: Path) -> None:
    engine = build_engine(_settings(tmp_path))
    first = refer(engine, "nct07295067", LIKELY_B1, "first")
    second = refer(engine, "nct06079125", SECOND_LIKELY, "second")
    env = {"INTAKE_TRIALS": BOTH}
    unnamed = intake(tmp_path, "export", "--kind", "full", env=env)
    assert unnamed.returncode == 2 and "--trial" in unnamed.stderr, "each trial asks its own questions"
    exported = intake(tmp_path, "export", "--trial", "nct06079125", "--kind", "full", "--lang", "en", env=env)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout.lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [second] and "Diagnosed with a Chiari malformation" in rows[0]
    assert first not in exported.stdout and FIRST_NAME not in exported.stdout
    fhir = intake(tmp_path, "export", "--format", "fhir", "--kind", "full", env=env)
    bundle = Bundle.model_validate_json(fhir.stdout)
    questionnaires = [
        e.resource.url for e in bundle.entry if e.resource.get_resource_type() == "Questionnaire"
    ]
    assert questionnaires == [
        f"urn:trial-intake:questionnaire:{FIRST}",
        f"urn:trial-intake:questionnaire:{SECOND}",
    ]
    cards = intake(tmp_path, "referrals", "--trial", "nct06079125", "--lang", "en", env=env)
    assert (
        second in cards.stdout
        and "Diagnosed with a Chiari malformation" in cards.stdout
        and first not in cards.stdout
    )
    assert intake(tmp_path, "export", "--trial", "nct00000000", env=env).returncode == 2


def test_settings_name_trials_by_slug_or_id_and_refuse_others(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        coordinator_chat_ids="1, nct06079125=2, NCT07295067=2",
        notify="NCT06079125=telegram:5 mailto:team@example.org",
    )
    assert settings.coordinator_trials == {1: None, 2: frozenset({FIRST, SECOND})}
    assert [(d.name, d.trial) for d in settings.destinations] == [
        ("telegram:5", SECOND),
        ("mailto:team@example.org", None),
    ]
    with pytest.raises(ConfigError, match="INTAKE_NOTIFY: 'nct00000000' is not a trial served here"):
        _ = _settings(tmp_path, notify="nct00000000=telegram:5").destinations
    with pytest.raises(ConfigError, match="INTAKE_COORDINATOR_CHAT_IDS"):
        _ = _settings(tmp_path, coordinator_chat_ids="nct00000000=5").coordinator_trials


def test_intake_users_keeps_trials_by_their_registry_id(tmp_path: Path) -> None:
    env = {"INTAKE_TRIALS": BOTH}
    assert intake(tmp_path, "migrate", env=env).returncode == 0
    added = intake(
        tmp_path, "users", "add", "wang", "--role", "coordinator", "--trial", "nct06079125", env=env
    )
    assert added.returncode == 0, added.stderr
    assert "wang\tcoordinator\tNCT06079125\t" in intake(tmp_path, "users", "list", env=env).stdout
    unknown = intake(tmp_path, "users", "add", "li", "--role", "coordinator", "--trial", "nct0", env=env)
    assert unknown.returncode == 2 and "not served" in unknown.stderr


def test_a_referral_filter_is_audited_as_asked(engine: Engine, referred: dict[str, str]) -> None:
    service = _service(engine)
    service.referrals(Principal("console:m", Role.MONITOR), ReferralFilter(trial=SECOND, source="x"))
    [listed] = [e for e in _audit(engine) if e.action == "viewed_referrals"]
    assert listed.detail == {"shown": 0, "trial": SECOND, "source": "x"}


# Other studies -------------------------------------------------------------------------------


def not_eligible(engine: Engine, who: str, answers: dict[str, str], news: str = "yes") -> Person:
    """Someone the first trial finds probably not eligible, who answers `news` to hearing about
    other studies and does not go on to another study now."""
    person = Person(engine, who)
    person.command("start", "nct07295067")
    person.answer_some(answers)
    assert person.prompt == "not_eligible", person.texts
    person.tap(news)
    if person.prompt == "_offer":
        person.tap("no")
    return person


def pregnant_after_giving_contact(engine: Engine, who: str) -> Person:
    """Every answer to the first trial, contact details too; then, back at the pregnancy question,
    "yes": probably not eligible, with a name and a number stored."""
    person = Person(engine, who)
    person.command("start", "nct07295067")
    person.answer_some({**LIKELY_B1, "contact_name": "Zhao Min", "contact_phone": "13700001111"})
    while person.prompt != "pregnancy":
        person.command("back")
    person.say("yes")
    assert person.prompt == "not_eligible"
    person.tap("yes")
    person.tap("no")  # not now: the other study is not begun
    return person


def test_people_who_would_hear_of_other_studies_are_listed_with_the_trials_they_may_fit(
    engine: Engine,
) -> None:
    people = {
        "never operated": not_eligible(engine, "never-operated", NEVER_OPERATED),
        "no news": not_eligible(engine, "no-news", NEVER_OPERATED, news="no"),
        "twelve": not_eligible(engine, "too-young", {**NEVER_OPERATED, "age": "12"}),
        "pregnant": pregnant_after_giving_contact(engine, "pregnant"),
        "no call": not_eligible(engine, "no-call", {**NEVER_OPERATED, "consent_contact": "no"}),
    }
    ids = {who: person.stored()["id"] for who, person in people.items()}
    service = _service(engine)
    listed = {
        c.screening_id: c
        for c in service.other_studies(Principal("c:1", Role.COORDINATOR, frozenset({FIRST})))
    }
    assert set(listed) == {ids[who] for who in ("never operated", "twelve", "pregnant", "no call")}, (
        "everyone who would hear of other studies, not who would not"
    )
    never = listed[ids["never operated"]]
    assert never.reasons == ("B1", "B2") and never.trial.registry_id == FIRST
    assert [(f.trial.registry_id, f.outcome) for f in never.fits] == [(SECOND, "needs_review")]
    assert never.contact is None, "agreed to a call, but gave no details before the study stopped"
    pregnant = listed[ids["pregnant"]]
    assert pregnant.reasons == ("E9",) and pregnant.contact == "Zhao Min, +8613700001111"
    assert [f.trial.registry_id for f in pregnant.fits] == [SECOND]
    assert listed[ids["twelve"]].fits == (), "12 is under the second trial's age too: nothing here fits"
    assert listed[ids["no call"]].contact is None
    # Only the first trial's team holds them; the second's sees none of them.
    assert service.other_studies(Principal("c:2", Role.COORDINATOR, frozenset({SECOND}))) == []
    with pytest.raises(NotAllowed):
        service.other_studies(Principal("console:m", Role.MONITOR))
    fitting = service.other_studies(Principal("operator:o", Role.OPERATOR), fits=engine.trials.by_id(SECOND))
    assert {c.screening_id for c in fitting} == {ids[w] for w in ("never operated", "pregnant", "no call")}
    viewed = [e.detail for e in _audit(engine) if e.action == "viewed_other_studies"]
    assert viewed[0] == {"trials": [FIRST], "shown": 4}


def test_a_trial_added_later_shows_at_once_who_may_fit_it(tmp_path: Path) -> None:
    """Screened while only the first trial was served; the second trial file added (a restart with
    both): the console lists them as people who may fit it, by the answers they gave before."""
    alone = build_engine(_settings(tmp_path, trials="nct07295067"))
    person = not_eligible(alone, "early", NEVER_OPERATED)
    assert person.prompt is None, "nothing to offer: one trial served"
    both = build_engine(_settings(tmp_path))
    [candidate] = _service(both).other_studies(Principal("operator:o", Role.OPERATOR))
    assert [(f.trial.registry_id, f.outcome) for f in candidate.fits] == [(SECOND, "needs_review")]


async def test_the_console_lists_other_studies_per_trial(tmp_path: Path) -> None:
    engine = build_engine(_settings(tmp_path))
    pregnant_after_giving_contact(engine, "pregnant")
    app = build_web_app(
        engine, options=WebOptions(tap_settle=0, console=ConsoleOptions(locale="en", timezone="UTC"))
    )
    _account(engine, "first", "coordinator", [FIRST])
    _account(engine, "second", "coordinator", [SECOND])
    _account(engine, "auditor", "monitor")
    async with _client(app) as first, _client(app) as second, _client(app) as monitor:
        await _sign_in(first, "first")
        page = (await first.get("/coordinator/other-studies")).text
        assert "Zhao Min, +8613700001111" in page and f"{SECOND} (Needs review)" in page and "E9" in page
        assert ">Other studies<" in (await first.get("/coordinator/")).text, "in the menu"
        await _sign_in(second, "second")
        assert "Zhao Min" not in (await second.get("/coordinator/other-studies")).text
        await _sign_in(monitor, "auditor")
        assert (await monitor.get("/coordinator/other-studies")).status_code == 403


# Due for re-screening ---------------------------------------------------------------------------


def excluded_for_now(engine: Engine, who: str, channel: str = "test") -> Person:
    """Someone excluded from the first trial only until a year after their last study (E7), on
    2026-12-07, who asks to be reminded."""
    from tests.test_trials import LIKELY, _on

    with pytest.MonkeyPatch.context() as clock:
        _on(clock, "2026-12-07")
        person = Person(engine, who)
        person.address = replace(person.address, channel=channel)
        person.command("start", "nct07295067")
        person.answer_some({**LIKELY, "recent_study": "no", "surgery_year_ago": "no"})
        assert person.prompt == "_remind", person.texts
        person.tap("yes")
    return person


async def test_the_console_lists_who_is_due_for_re_screening_per_trial(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web user's reminder has no bot to send it: on its day the person is on the console's list,
    for their trial's coordinators only; a Telegram user's is sent by the bot, and is not listed."""
    import bot.coordination.service

    web = excluded_for_now(engine, "web-person")
    excluded_for_now(engine, "telegram-person", channel="telegram")
    service = _service(engine)
    first = Principal("c:1", Role.COORDINATOR, frozenset({FIRST}))
    assert service.due_for_rescreening(first, today=date(2027, 12, 6)) == [], "not before its day"
    [due] = service.due_for_rescreening(first, today=date(2027, 12, 7))
    assert (due.screening_id, due.trial.registry_id, due.due_on) == (
        web.stored()["id"],
        FIRST,
        date(2027, 12, 7),
    )
    assert due.contact is None, "no contact details given before the study stopped"
    second = Principal("c:2", Role.COORDINATOR, frozenset({SECOND}))
    assert service.due_for_rescreening(second, today=date(2027, 12, 7)) == []
    with pytest.raises(NotAllowed):
        service.due_for_rescreening(Principal("console:m", Role.MONITOR))
    viewed = [e.detail for e in _audit(engine) if e.action == "viewed_rescreening"]
    assert viewed[-1] == {"trials": [SECOND], "shown": 0}

    # The console's clock on the day (the test moves it; nothing sleeps).
    moment = datetime(2027, 12, 7, 9, tzinfo=UTC)
    monkeypatch.setattr(bot.coordination.service, "utcnow", lambda: moment)
    app = build_web_app(
        engine, options=WebOptions(tap_settle=0, console=ConsoleOptions(locale="en", timezone="UTC"))
    )
    _account(engine, "first", "coordinator", [FIRST])
    _account(engine, "second", "coordinator", [SECOND])
    async with _client(app) as mine, _client(app) as theirs:
        await _sign_in(mine, "first")
        assert ">Due for re-screening<" in (await mine.get("/coordinator/")).text, "in the menu"
        page = (await mine.get("/coordinator/rescreening")).text
        row = f"<td>{web.stored()['id']}</td><td>{FIRST}</td>"
        assert row in page and "Dec 7, 2027" in page and "no contact details shared" in page
        await _sign_in(theirs, "second")
        assert "Nobody yet." in (await theirs.get("/coordinator/rescreening")).text
