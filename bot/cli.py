"""The `intake` command.

intake                        run the bot: Telegram when TELEGRAM_BOT_TOKEN is set, else the console
intake telegram               run the Telegram channel (long polling)
intake chat [--lang zh]       talk to the bot in this terminal (or pipe answers in)
intake screenings [--json]    what is stored: every screening, its outcome and answers
intake referrals [--lang]     referral cards, as coordinators read them
intake check-trial FILE       validate a trial definition file
intake i18n status            translation progress and medical review state per catalog
intake audit                  the audit trail: who did what, when
intake new-key                print a new encryption key
intake rotate-keys            re-encrypt everything with the first key of INTAKE_ENCRYPTION_KEY
intake purge [--older-than 180d]  remove personal data past the retention period
intake erase --screening N | --referral ID   erase one person and everything they told us
intake backup FILE            a consistent copy of the database, while the bot runs
intake restore FILE --yes     replace the database with a backup (stop the bot first)
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine as SQLAlchemyEngine
from sqlmodel import Session

from bot.config import Settings
from bot.console import Utf8Lines, chat
from bot.logs import configure_logging
from bot.wiring import build_engine
from dialogs.cards import referral_card
from dialogs.i18n import SOURCE_LOCALE, catalog_status, negotiate
from dialogs.trial import TrialDefinitionError, load_trial
from storage.backup import BackupError, backup, restore
from storage.crypto import EncryptionKeyError, new_key
from storage.database import make_engine, migrate
from storage.models import AuditEvent
from storage.views import all_screenings, screening_view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intake", description="Clinical trial pre-screening bot.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("telegram", help="run the Telegram channel (long polling)")
    chat_parser = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--lang", help="language, e.g. en, zh, zh_Hans, zh-CN")
    chat_parser.add_argument("--source", help="campaign source code, e.g. poster_beijing")
    chat_parser.add_argument("--user", help="who you are to the bot (default: your login name)")
    listing = commands.add_parser("screenings", help="list stored screenings")
    listing.add_argument("--json", action="store_true", help="print JSON")
    cards = commands.add_parser("referrals", help="referral cards, as coordinators read them")
    cards.add_argument("--lang", help="the coordinator's language (default: INTAKE_COORDINATOR_LANGUAGE)")
    check = commands.add_parser("check-trial", help="validate a trial definition file")
    check.add_argument("file", type=Path)
    commands.add_parser("audit", help="print the audit trail")
    commands.add_parser("new-key", help="print a new encryption key")
    purge = commands.add_parser("purge", help="remove personal data past the retention period")
    purge.add_argument("--older-than", type=_days, help="e.g. 180d (default: INTAKE_RETENTION_DAYS)")
    purge.add_argument("--idle", type=_days, help="close unfinished screenings idle this long (e.g. 30d)")
    erase = commands.add_parser("erase", help="erase one person and everything they told us")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--screening", type=int, help="a screening id (intake screenings)")
    who.add_argument("--referral", help="a referral id (as on the coordinator's card)")
    commands.add_parser("rotate-keys", help="re-encrypt everything with the newest key")
    backup_parser = commands.add_parser("backup", help="copy the database consistently while the bot runs")
    backup_parser.add_argument("file", type=Path)
    restore_parser = commands.add_parser("restore", help="replace the database with a backup")
    restore_parser.add_argument("file", type=Path)
    restore_parser.add_argument("--yes", action="store_true", help="yes, replace what is stored now")
    i18n = commands.add_parser("i18n", help="translation catalogs")
    i18n.add_argument("action", choices=["status"])
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level, secrets=[settings.telegram_bot_token or ""])
    try:
        return _command(args, settings)
    except KeyboardInterrupt:
        print("\nstopped (what was answered is kept)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`intake screenings --json | head -1`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UnicodeDecodeError:
        print("error: the input is not UTF-8 text; set your terminal to UTF-8 and try again", file=sys.stderr)
        return 2


def _command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "check-trial":
            trial = load_trial(args.file)
            print(
                f"{args.file}: {trial.registry_id}, {len(trial.questions)} questions, "
                f"{len(trial.criteria)} criteria: OK"
            )
            return 0
        if args.command in ("backup", "restore"):
            return _backup_or_restore(
                settings, args.command, args.file, confirmed=getattr(args, "yes", False)
            )
        if args.command == "purge":
            return _purge(settings, args.older_than, args.idle)
        if args.command == "erase":
            return _erase(settings, args.screening, args.referral)
        if args.command == "new-key":
            print(new_key())
            return 0
        if args.command == "rotate-keys":
            return _rotate_keys(settings)
        if args.command == "audit":
            return _audit(settings)
        if args.command == "i18n":
            return _i18n_status()
        if args.command == "referrals":
            return _referrals(settings, args.lang)
        if args.command == "screenings":
            return _screenings(settings, as_json=args.json)
        if args.command == "telegram" or (args.command in (None, "run") and settings.telegram_bot_token):
            return _telegram(settings)
        if args.command in (None, "run"):
            return _run(settings)
        return _chat(settings, args.lang, args.source, args.user)
    except (TrialDefinitionError, EncryptionKeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _telegram(settings: Settings) -> int:
    from telegram import Update

    from bot.telegram_app import build_application

    if not settings.telegram_bot_token:
        print("error: TELEGRAM_BOT_TOKEN is not set (see the README: Telegram)", file=sys.stderr)
        return 2
    engine = build_engine(settings)
    print(
        f"trial-intake: Telegram channel via {settings.telegram_api_root}, database {settings.database}, "
        f"{len(settings.coordinators)} coordinator chat(s)",
        file=sys.stderr,
    )
    if not settings.coordinators:
        print(
            "warning: INTAKE_COORDINATOR_CHAT_IDS is empty: referrals are stored but sent to nobody "
            "(read them with `intake referrals`)",
            file=sys.stderr,
        )
    build_application(settings, engine).run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def _run(settings: Settings) -> int:
    print(f"trial-intake: console channel, database {settings.database}", file=sys.stderr)
    print(
        "Type your answers; /help lists the commands. Ctrl-D leaves (your answers are kept).\n",
        file=sys.stderr,
    )
    return _chat(settings, None, None, None)


def _chat(settings: Settings, lang: str | None, source: str | None, user: str | None) -> int:
    engine = build_engine(settings)
    chat(
        engine,
        Utf8Lines(sys.stdin.buffer),
        sys.stdout,
        user=user,
        locale=lang,
        hint=os.environ.get("LANG"),
        source=source,
    )
    return 0


def _referrals(settings: Settings, lang: str | None) -> int:
    engine = build_engine(settings)
    locale = negotiate(lang or settings.coordinator_language, engine.locales) or SOURCE_LOCALE
    with engine.store.transaction() as records:
        records.audit(_operator(), "viewed_referrals", "referrals")
        for referral in records.referrals():
            screening = records.screening(referral.screening_id) if referral.screening_id else None
            if screening is None:
                print(f"{referral.id}: {referral.status}\n")
                continue
            view = screening_view(records, screening)
            card = referral_card(
                engine.trial, view, referral.id, referral.created_at, locale, settings.timezone
            )
            print(card.plain() + "\n")
    return 0


def _backup_or_restore(settings: Settings, command: str, file: Path, *, confirmed: bool) -> int:
    database = make_engine(settings.database)
    try:
        if command == "backup":
            backup(database, file)
            _audit_database(database, "backed_up", "database", file=str(file))
            print(f"backed up {settings.database} to {file}")
        elif not confirmed:
            print("error: restoring replaces everything stored now; add --yes", file=sys.stderr)
            return 2
        else:
            restore(database, file)
            migrate(database)  # a backup from an older version is brought up to date
            _audit_database(database, "restored_backup", "database", file=str(file))
            print(f"restored {settings.database} from {file}")
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    return 0


def _operator() -> str:
    """Who runs this command, for the audit trail: the login name on this machine."""
    try:
        return f"operator:{getpass.getuser()}"[:64]
    except OSError:  # no login name (a container with no passwd entry)
        return f"operator:uid-{os.getuid()}"


def _audit_database(database: SQLAlchemyEngine, action: str, subject: str, **detail: str) -> None:
    """An audit row for what works on the database file itself, without the encryption key."""
    with Session(database) as session:
        session.add(AuditEvent(actor=_operator(), action=action, subject=subject, detail=detail))
        session.commit()


def _days(text: str) -> int:
    """`180d` or `180`: a number of days."""
    number = text.removesuffix("d")
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of days, like 180d")
    return int(number)


def _purge(settings: Settings, older_than: int | None, idle: int | None) -> int:
    engine = build_engine(settings)
    now = datetime.now(UTC)
    finished_before = now - timedelta(days=settings.retention_days if older_than is None else older_than)
    idle_before = now - timedelta(days=settings.abandon_after_days if idle is None else idle)
    with engine.store.transaction() as records:
        purged = records.purge(finished_before, idle_before)
        records.audit(_operator(), "purged", "screenings", count=len(purged))
    print(f"removed the personal data of {len(purged)} screening(s)")
    return 0


def _erase(settings: Settings, screening_id: int | None, referral_id: str | None) -> int:
    engine = build_engine(settings)
    with engine.store.transaction() as records:
        if referral_id is not None:
            referral = records.referral(referral_id)
            screening_id = referral.screening_id if referral else None
        screening = records.screening(screening_id) if screening_id is not None else None
        participant = records.participant_by_id(screening.participant_id) if screening else None
        if participant is None:
            print("error: no such person (already erased?)", file=sys.stderr)
            return 2
        erased = records.erase_participant(participant)
        records.audit(_operator(), "participant_erased", "participant", screenings=erased)
    print(f"erased one person and {erased} screening(s); their referrals are cancelled")
    return 0


def _rotate_keys(settings: Settings) -> int:
    engine = build_engine(settings)
    resealed = engine.store.rotate_keys()
    with engine.store.transaction() as records:
        records.audit(_operator(), "rotated_keys", "database", fields=resealed)
    print(f"re-encrypted {resealed} fields with the newest key; the older keys can now be removed")
    return 0


def _audit(settings: Settings) -> int:
    engine = build_engine(settings)
    with engine.store.transaction() as records:
        records.audit(_operator(), "viewed_audit", "audit")
        for event in records.audit_trail():
            detail = json.dumps(event.detail, ensure_ascii=False, sort_keys=True) if event.detail else ""
            print(
                f"{event.at.isoformat(timespec='seconds')}  {event.actor:20} {event.action:20} "
                f"{event.subject:24} {detail}"
            )
    return 0


def _i18n_status() -> int:
    """Print each catalog's progress; fail if a shipped locale is incomplete."""
    rows = catalog_status()
    print(f"{'locale':8} {'domain':12} {'shipped':7} {'done':>5} {'fuzzy':>5} {'missing':>7}  medical review")
    for row in rows:
        total = row.translated + row.fuzzy + row.missing
        done = f"{100 * row.translated // total if total else 100}%"
        print(
            f"{row.locale:8} {row.domain:12} {'yes' if row.shipped else 'no':7} {done:>5} "
            f"{row.fuzzy:>5} {row.missing:>7}  {row.review}"
        )
    return 0 if all(row.complete for row in rows if row.shipped) else 1


def _screenings(settings: Settings, *, as_json: bool) -> int:
    engine = build_engine(settings)
    with engine.store.transaction() as records:
        rows = all_screenings(records)
        records.audit(_operator(), "viewed_screenings", "screenings", count=len(rows))
    if as_json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    heading = ("id", "trial", "language", "source", "status", "state", "outcome", "criteria")
    print("{:>5}  {:11}  {:8} {:16} {:9} {:22} {:16} {}".format(*heading))
    for row in rows:
        print(
            f"{row['id']:>5}  {row['trial']:11}  {row['language'] or '-':8} {row['source'] or '-':16} "
            f"{row['status']:9} {row['state']:22} {row['outcome'] or '-':16} "
            f"{','.join(row['reasons'] or row['uncertain']) or '-'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
