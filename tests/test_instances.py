"""Two `intake web` and two `intake telegram --webhook` processes on one PostgreSQL, behind
round-robin proxies (bot/testing/instances.py): consecutive requests of one person reach
different instances, and one of each is killed (SIGKILL) while patients are answering.

Needs INTAKE_TEST_POSTGRES_URL (CI sets it), as the other PostgreSQL tests do.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.testing.instances import (
    COORDINATOR,
    QUESTIONS,
    TEAM,
    Cluster,
    WebPatient,
    fresh_database,
    telegram_patient,
)
from dialogs.engine import Engine
from storage.models import Notification, Participant, Referral
from tests.conftest import POSTGRES

pytestmark = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL: set INTAKE_TEST_POSTGRES_URL (CI does)")

SETTLE = 2.0  # long enough that a tap posted at once surely comes inside it, on a busy machine
WEB_PATIENTS = 12
TELEGRAM_PATIENTS = 4
TELEGRAM_IDS = range(70001, 70001 + TELEGRAM_PATIENTS)


def _field(html: str, name: str) -> str:
    found = re.findall(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return found[-1]


def _asks(html: str) -> str:
    return re.findall(r'data-asks="([^"]*)"', html)[-1]


def _participants(engine: Engine) -> int:
    return len(_rows(engine, Participant))


async def _one_person_across_instances(cluster: Cluster, engine: Engine) -> None:
    """Each request of one person to the other instance: the state before consent, the tap-settle
    clock and a resume link hold all the same."""
    a, b = (f"http://127.0.0.1:{i.port}" for i in cluster.of("web"))
    async with httpx.AsyncClient(timeout=30) as phone:
        await phone.get(f"{a}/?lang=en")  # a link's choices, then on to the page
        page = (await phone.get(f"{a}/")).text
        assert _asks(page) == "consent_storage"
        # Before consent: what the bot says to a muddled answer, posted to B, is shown by A.
        muddled = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "text": "hmm?"}
        said = await phone.post(f"{b}/say", data=muddled)
        assert said.status_code == 303
        page = (await phone.get(f"{a}/")).text
        assert 'class="message problem"' in page, "the bot's answer to it, carried to the other instance"
        assert _participants(engine) == 0, "nothing stored before consent"
        # A tap on B within the settling time of the page A made: not used.
        tap = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "shown": _field(page, "shown")}
        made = time.time()
        await phone.post(f"{b}/say", data={**tap, "value": "yes"})
        assert time.time() - made < SETTLE, "the machine was too slow to tap in time"
        page = (await phone.get(f"{b}/")).text
        assert _asks(page) == "consent_storage" and _participants(engine) == 0
        # Read, then tapped on A: used.
        await asyncio.sleep(SETTLE)
        tap = {"csrf": _field(page, "csrf"), "prompt": _field(page, "prompt"), "shown": _field(page, "shown")}
        await phone.post(f"{a}/say", data={**tap, "value": "yes"})
        page = (await phone.get(f"{b}/")).text
        assert _asks(page) == "consent_contact" and _participants(engine) == 1
        # A resume link made on B opens on A, in another browser, and goes on on B.
        made_link = (await phone.post(f"{b}/resume-link", data={"csrf": _field(page, "csrf")})).text
        token = re.search(r"/resume/([A-Za-z0-9_-]+)", made_link)
        assert token
    async with httpx.AsyncClient(timeout=30) as laptop:
        offer = (await laptop.get(f"{a}/resume/{token[1]}")).text
        await laptop.post(f"{a}/resume/{token[1]}", data={"csrf": _field(offer, "csrf")})
        assert _asks((await laptop.get(f"{b}/")).text) == "consent_contact"


def _history(engine: Engine, channel: str, external_id: str) -> list[str]:
    with engine.store.transaction() as records:
        participant = records.participant(channel, external_id)
        assert participant is not None, f"nothing stored for a {channel} patient"
        screening = records.latest_screening(participant.id or 0)
        assert screening is not None
        return [a.question_id for a in records.answer_history(screening.id or 0)]


def _rows(engine: Engine, table: type) -> list[Any]:
    with engine.store.transaction() as records:
        return list(records.session.exec(select(table)))


async def test_two_instances_of_each_one_of_each_killed_nothing_lost_or_sent_twice(tmp_path: Path) -> None:
    assert POSTGRES
    with fresh_database(POSTGRES) as url:
        cluster = Cluster(url, tmp_path, settle=SETTLE)
        async with cluster.running():
            engine = cluster.engine()
            await _one_person_across_instances(cluster, engine)

            web = [WebPatient(cluster.web.url) for _ in range(WEB_PATIENTS)]
            tasks = [asyncio.create_task(p.run()) for p in web]
            tasks += [asyncio.create_task(telegram_patient(cluster.tg, uid)) for uid in TELEGRAM_IDS]
            # Mid-load, with cards on their way: one web and one webhook instance die at once.
            answered = WEB_PATIENTS * len(QUESTIONS) * 0.4
            failed = lambda: any(t.done() and t.exception() for t in tasks)  # noqa: E731
            await cluster.tg.wait_for(
                lambda: sum(len(p.acked) for p in web) >= answered or failed(), timeout=60
            )
            assert not failed(), [t.exception() for t in tasks if t.done()]
            await cluster.tg.wait_for(lambda: bool(_rows(engine, Referral)), timeout=30, what="a referral")
            killed_web, killed_hook = cluster.of("web")[0], cluster.of("telegram")[0]
            killed_web.kill()
            killed_hook.kill()
            survivor = cluster.of("web")[1].port
            served_before = cluster.web.connections[survivor]
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)

            referrals = _rows(engine, Referral)
            assert len(referrals) == WEB_PATIENTS + TELEGRAM_PATIENTS, "every patient referred"

            def delivered() -> bool:
                return all(n.status == "sent" for n in _rows(engine, Notification))

            # What the dead held is taken over once its lease runs out (INTAKE_DELIVERY_LEASE=10).
            await cluster.tg.wait_for(delivered, timeout=40, what="every notification sent")
            cards = cluster.tg.messages_to(COORDINATOR)
            mails = cluster.inbox.messages

        # No patient stuck; every acknowledged answer stored once, in order.
        assert all(p.finished for p in web), [p.acked[-3:] for p in web if not p.finished]
        for p in web:
            history = _history(engine, "web", p.session)
            assert history == QUESTIONS, history
            assert set(p.acked) - {"_confirm", "summary"} <= set(history)
        for uid in TELEGRAM_IDS:
            assert _history(engine, "telegram", str(uid)) == QUESTIONS
        # Each referral's card and notice at least once, and again only if a killed instance was
        # sending it when it died: sent but not yet recorded, it is sent again once its lease runs
        # out (a Telegram chat or an inbox has no way to say "already got it"). An instance sends
        # one notification at a time to each destination, so that is at most one per destination
        # per killed instance: the killed webhook instance's card, either killed instance's mail.
        card_counts = [sum(f"Referral {r.id}" in c["text"] for c in cards) for r in referrals]
        to_team = [str(m["Subject"]) for m in mails if TEAM in str(m["To"])]
        mail_counts = [sum(r.id in subject for subject in to_team) for r in referrals]
        assert min(card_counts) >= 1 and min(mail_counts) >= 1, "every card and notice arrived"
        assert sum(n - 1 for n in card_counts) <= 1, card_counts
        assert sum(n - 1 for n in mail_counts) <= 2, mail_counts
        assert served_before > 0 and cluster.web.connections[survivor] > served_before, "the survivor served"
        assert len({p.session for p in web}) == WEB_PATIENTS
        engine.store.engine.dispose()
