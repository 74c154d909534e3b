"""What operators and coordinators read: referral cards, `intake referrals`, `intake i18n status`."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.coordination.cards import referral_card
from bot.coordination.reports import referrals_csv
from dialogs.engine import Engine
from dialogs.i18n import catalog_status, translator
from dialogs.trial import Trial
from dialogs.wording import answer_text
from tests.conftest import LIKELY_B1, Person
from tests.test_processes import intake

RECEIVED = datetime(2026, 11, 25, 13, 40, tzinfo=UTC)


@pytest.fixture
def referred(engine: Engine) -> Person:
    person = Person(engine, "card", locale="zh_Hans")
    person.start(source="poster_beijing")
    person.answer_all({**LIKELY_B1, "serology": "not sure", "contact_name": "O'Brien <Ann> & Co"})
    return person


def test_the_card_has_what_a_coordinator_needs_to_call_back(engine: Engine, referred: Person) -> None:
    stored = referred.stored()
    card = referral_card(engine.trial, stored, stored["referral"]["id"], RECEIVED, "en", "Asia/Shanghai")
    text = card.plain()
    assert card.title == f"Referral {stored['referral']['id']} · NCT07295067"
    assert "Outcome: Needs review" in text
    assert "To check: E10 — Positive serology: HBsAg, anti-HCV, anti-HIV or TP-Ab" in text
    assert "Contact: O'Brien <Ann> & Co, +8613812345678" in text
    assert "Language: Chinese (Simplified)" in text
    assert "Source: poster_beijing" in text
    assert "Received: Nov 25, 2026, 9:40:00\u202fPM" in text, "Beijing time, English (CLDR) format"
    travel = ("Can come to Beijing for the treatment and the follow-up visits", "Yes, coming is possible")
    assert travel in card.answers
    assert all(label != "Name" for label, _ in card.answers), "contact details appear once, as contact"


def test_the_card_follows_the_coordinators_locale(engine: Engine, referred: Person) -> None:
    stored = referred.stored()
    zh = referral_card(engine.trial, stored, "r1", RECEIVED, "zh_Hans", "Asia/Shanghai")
    assert "2026年11月25日 21:40:00" in zh.plain()
    assert ("年龄", "42") in zh.answers
    assert ("糖尿病", "否") in zh.answers
    ru = referral_card(engine.trial, stored, "r1", RECEIVED, "ru", "Europe/Moscow")
    assert "25 нояб. 2026\u202fг., 16:40:00" in ru.plain()


def test_answers_are_worded_and_numbers_written_the_readers_way(trial: Trial) -> None:
    age, serology = trial.question("age"), trial.question("serology")
    assert answer_text(age, 1234, translator("en")) == "1,234"
    assert answer_text(age, 1234, translator("ru")) == "1\xa0234"
    assert answer_text(age, 42, translator("ar")) == "42"
    assert answer_text(serology, "dont_know", translator("zh_Hans", (trial.domain,))) == "没查过，或记不清"


def test_intake_referrals_prints_the_cards(tmp_path: Path) -> None:
    answers = "".join(v + "\n" for v in LIKELY_B1.values()) + "1\n"
    assert intake(tmp_path, "chat", "--lang", "en", stdin=answers).returncode == 0
    result = intake(tmp_path, "referrals", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "Outcome: May be a candidate" in result.stdout
    assert "Contact: Li Wei, +8613812345678" in result.stdout


def test_i18n_status_counts_and_shows_the_review_state(tmp_path: Path) -> None:
    result = intake(tmp_path, "i18n", "status")
    assert result.returncode == 0, result.stdout
    rows = {tuple(line.split()[:3]): line for line in result.stdout.splitlines()[1:]}
    assert "100%" in rows[("zh_Hans", "intake", "yes")]
    assert "pending" in rows[("zh_Hans", "intake", "yes")]


def test_i18n_status_sees_missing_and_fuzzy_messages(tmp_path: Path) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "intake.po").write_text(
        '# French.\n# Medical review: reviewed by Dr A. Martin, 2026-11-20\nmsgid ""\nmsgstr ""\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Yes"\nmsgstr "Oui"\n\n#, fuzzy\nmsgid "No"\nmsgstr "Non"\n\nmsgid "Maybe"\nmsgstr ""\n',
        encoding="utf-8",
    )
    (tmp_path / "LINGUAS").write_text("fr\n", encoding="utf-8")
    (status,) = catalog_status(tmp_path)
    assert (status.translated, status.fuzzy, status.missing) == (1, 1, 1)
    assert status.review == "reviewed by Dr A. Martin, 2026-11-20"
    assert status.shipped and not status.complete


def _export(engine: Engine, kind: str) -> list[list[str]]:
    with engine.store.transaction() as records:
        content = referrals_csv(records, engine.trial, "en", "Asia/Shanghai", kind)
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_default_export_is_only_what_it_takes_to_call_back(engine: Engine, referred: Person) -> None:
    header, row = _export(engine, "contact")
    assert header == [
        "Referral",
        "Received",
        "Status",
        "Outcome",
        "To check",
        "Language",
        "Source",
        "Name",
        "Phone",
    ]
    assert row[2] == "New", "the status in words"
    assert row[0] == referred.stored()["referral"]["id"]
    assert row[-2:] == ["O'Brien <Ann> & Co", "+8613812345678"], "a phone stored as E.164 is shown as it is"
    assert "Diabetes" not in header, "no health answers in a call list"


def test_the_export_is_worded_in_the_coordinators_language(engine: Engine, referred: Person) -> None:
    referral_id = referred.stored()["referral"]["id"]
    with engine.store.transaction() as records:
        records.set_referral_status(referral_id, "booked", "test")
        content = referrals_csv(records, engine.trial, "zh_Hans", "Asia/Shanghai", "full")
    header, row = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert header[:7] == ["转介编号", "收到时间", "状态", "结果", "待核实", "语言", "来源"]
    assert row[header.index("状态")] == "已预约筛选访视"
    assert row[header.index("语言")] == "中文 (简体)" and row[header.index("糖尿病")] == "否"


def test_the_full_export_has_every_answer(engine: Engine, referred: Person) -> None:
    header, row = _export(engine, "full")
    assert {"Diabetes", "Age", "Name", "Phone"} <= set(header)
    assert row[header.index("Diabetes")] == "No" and row[header.index("Age")] == "42"


def test_the_deidentified_export_drops_identifiers_and_free_text(engine: Engine, referred: Person) -> None:
    header, row = _export(engine, "deidentified")
    assert "Referral" not in header and "Name" not in header and "Phone" not in header
    assert row[header.index("Diabetes")] == "No" and row[header.index("Age")] == "42"
    assert re.fullmatch(r"\d{4}-\d{2}", row[0]), "only the month received"
    joined = ",".join(row)
    assert referred.stored()["referral"]["id"] not in joined and "O'Brien" not in joined
