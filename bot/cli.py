"""The `intake` command.

intake                        run the bot: Telegram when TELEGRAM_BOT_TOKEN is set, else the console
intake telegram [--webhook URL]  run the Telegram channel (long polling, or updates posted to URL)
intake web                    run the web chat (a phone browser, from a link or QR code)
intake qr --source X          a QR code for a campaign's web link, and its Telegram link
intake deliver                deliver notifications to the study team, for a deployment without a channel
intake deliveries             notifications not delivered yet, and why (exit 1 when one is failing)
intake migrate                bring the database schema up to date (the long-running commands do it at start)
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
intake restore FILE --yes     replace the database with a backup (refused while the bot runs)

Operator commands read and change data only: they never migrate the schema, and
need no trial file unless they print cards.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy import Engine as SQLAlchemyEngine
from sqlalchemy.exc import ArgumentError, OperationalError

from bot import users
from bot.config import ConfigError, Settings
from bot.console import Utf8Lines, chat
from bot.coordination.permissions import Action, Principal, Role
from bot.coordination.service import Coordination
from bot.destinations import DestinationError
from bot.logs import configure_logging
from bot.notifications import Notifier
from bot.wiring import (
    build_coordination,
    build_engine,
    build_listener,
    build_notifier,
    build_speaker,
    build_web,
    in_background,
    migrate_database,
    open_store,
    operator_store,
)
from dialogs.engine import Engine, Text
from dialogs.i18n import catalog_status, negotiate, pick_locale, shipped_locales
from dialogs.inputs import CAMPAIGN_SOURCE
from dialogs.trial import TrialDefinitionError, load_trial, load_trials
from storage.backup import BackupError, audit_database, backup, erased_participants, restore
from storage.crypto import EncryptionKeyError, new_key
from storage.database import DatabaseInUse, SchemaError, in_use, make_engine, shown_url

# Update ids are kept this long against a redelivery: Telegram retries an update for at most a day.
INPUTS_KEPT_DAYS = 1

if TYPE_CHECKING:  # speech loads PyAV and NumPy: only in the commands that hear or speak
    from bot.speech.listener import Listener
    from bot.speech.speaker import Speaker


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            setting = "INTAKE_" + "_".join(str(part) for part in problem["loc"]).upper()
            print(f"error: {setting}: {problem['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, secrets=[settings.telegram_bot_token or ""])
    try:
        return int(args.run(settings, args))
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
    except ArgumentError:
        # Not SQLAlchemy's words: they quote the URL, password and all.
        print(
            "error: INTAKE_DATABASE_URL is not a database URL the bot can use "
            "(sqlite:///path/intake.db or postgresql+psycopg://user:password@host/db)",
            file=sys.stderr,
        )
        return 2
    except OperationalError as error:
        # Only the driver's own words: SQLAlchemy's would add the statement and its parameters.
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        print(f"error: cannot use the database {shown_url(settings.database)}: {reason}", file=sys.stderr)
        return 2
    except (
        ConfigError,
        TrialDefinitionError,
        EncryptionKeyError,
        SchemaError,
        DatabaseInUse,
        DestinationError,
        BackupError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="Clinical trial pre-screening bot.")
    parser.set_defaults(run=_run)
    commands = parser.add_subparsers(dest="command")

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(run=run)
        return sub

    command("run", _run, "run the bot (the default)")
    telegram = command("telegram", _telegram, "run the Telegram channel (long polling, or by webhook)")
    telegram.add_argument(
        "--webhook",
        metavar="URL",
        help="take updates by webhook at this public https:// address, listening on "
        "INTAKE_TELEGRAM_WEBHOOK_HOST:INTAKE_TELEGRAM_WEBHOOK_PORT (default: long polling)",
    )
    chat_parser = command("chat", _chat, "talk to the bot in this terminal")
    chat_parser.add_argument("--lang", help="language, e.g. en, zh, zh_Hans, zh-CN")
    chat_parser.add_argument("--source", help="campaign source code, e.g. poster_beijing")
    chat_parser.add_argument("--trial", help="the study to be screened for, e.g. nct06079125")
    chat_parser.add_argument("--user", help="who you are to the bot (default: your login name)")
    web = command("web", _web, "run the web chat and the console (INTAKE_WEB_HOST, INTAKE_WEB_PORT)")
    web.add_argument("--host", help="the address to listen on (default: INTAKE_WEB_HOST, 127.0.0.1)")
    web.add_argument("--port", type=int, help="the port to listen on (default: INTAKE_WEB_PORT, 8080)")
    qr = command("qr", _qr, "a QR code for a campaign: the web chat link, and the Telegram link")
    qr.add_argument("--source", required=True, help="the campaign, e.g. poster_beijing")
    qr.add_argument("--trial", help="the study the link is for (default: the first served), e.g. nct06079125")
    qr.add_argument("--lang", help="the language the page opens in, e.g. zh_Hans")
    qr.add_argument("--format", choices=["svg", "png"], default="svg")
    qr.add_argument("--out", type=Path, help="the file to write (default: qr-<source>.<format>)")
    command("deliver", _deliver, "deliver notifications to the study team (without a channel)")
    command("deliveries", _deliveries, "notifications not delivered yet, and why")
    command("migrate", _migrate, "bring the database schema up to date")
    listing = command("screenings", _screenings, "list stored screenings")
    listing.add_argument("--json", action="store_true", help="print JSON")
    cards = command("referrals", _referrals, "referral cards, as coordinators read them")
    cards.add_argument("--lang", help="the coordinator's language (default: INTAKE_COORDINATOR_LANGUAGE)")
    cards.add_argument("--trial", help="one trial's referrals only, e.g. nct06079125")
    check = command("check-trial", _check_trial, "validate a trial definition file")
    check.add_argument("file", type=Path)
    command("audit", _audit, "print the audit trail")
    command("new-key", _new_key, "print a new encryption key")
    purge = command("purge", _purge, "remove personal data past the retention period")
    purge.add_argument("--older-than", type=_days, help="e.g. 180d (default: INTAKE_RETENTION_DAYS)")
    purge.add_argument("--idle", type=_days, help="close unfinished screenings idle this long (e.g. 30d)")
    erase = command("erase", _erase, "erase one person and everything they told us")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--screening", type=int, help="a screening id (intake screenings)")
    who.add_argument("--referral", help="a referral id (as on the coordinator's card)")
    command("rotate-keys", _rotate_keys, "re-encrypt everything with the newest key")
    backup_parser = command("backup", _backup, "copy the database consistently while the bot runs")
    backup_parser.add_argument("file", type=Path)
    restore_parser = command("restore", _restore, "replace the database with a backup (stop the bot first)")
    restore_parser.add_argument("file", type=Path)
    restore_parser.add_argument("--yes", action="store_true", help="yes, replace what is stored now")
    users.add_arguments(command("users", _users, "accounts for the coordinator console"))
    voice = command("voice", _voice_check, "speech-to-text: check the installed model with a recording")
    voice.add_argument("action", choices=["check"])
    voice.add_argument("file", type=Path, help="a recording (OGG/Opus, WAV, WebM, MP3…)")
    voice.add_argument("--lang", default="en", help="the language spoken, e.g. zh_Hans")
    export = command("export", _export, "a trial's referrals as CSV, or every screening as FHIR R4 JSON")
    export.add_argument("--format", choices=["csv", "fhir"], default="csv")
    export.add_argument(
        "--trial", help="the trial, e.g. nct06079125 (CSV: needed when several are served; FHIR: default all)"
    )
    export.add_argument(
        "--kind",
        choices=["contact", "full", "deidentified"],
        default="contact",
        help="CSV: the call list, every answer, or de-identified; FHIR: full or de-identified",
    )
    export.add_argument("--lang", help="the CSV's language (default: INTAKE_COORDINATOR_LANGUAGE)")
    export.add_argument("--out", type=Path, help="the file to write (default: standard output)")
    i18n = command("i18n", _i18n_status, "translation catalogs")
    i18n.add_argument("action", choices=["status"])
    return parser


Command = Callable[[Settings, argparse.Namespace], int]


# Long-running: they bring the schema up to date, and mark the database in use. ----


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token:
        return _telegram(settings, args, web=True)
    print(f"trial-intake: console channel, database {shown_url(settings.database)}", file=sys.stderr)
    print(
        "Type your answers; /help lists the commands. Ctrl-D leaves (your answers are kept).\n",
        file=sys.stderr,
    )
    return _converse(settings, None, None, None, None, web=True)


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    return _converse(settings, args.lang, args.source, args.trial, args.user)


def _converse(
    settings: Settings,
    lang: str | None,
    source: str | None,
    trial: str | None,
    user: str | None,
    *,
    web: bool = False,
) -> int:
    """The console chat, with the notifier beside it (and the web chat, for `make run`)."""
    # Speech first: a wrong setting is an error before anything is created, not at the first voice
    # (the speaker's settings before the listener's models are assembled into the data directory).
    speaker = build_speaker(settings)
    listener = build_listener(settings)  # one speech model in memory for both channels
    engine = build_engine(settings)
    with in_use(engine.store.engine):
        notifier = build_notifier(settings, engine, None)
        stops = [in_background(notifier)]
        if web:
            stops.append(_web_in_background(settings, engine, notifier, listener, speaker))
        try:
            chat(
                engine,
                Utf8Lines(sys.stdin.buffer),
                sys.stdout,
                user=user,
                locale=lang,
                hint=os.environ.get("LANG"),
                source=source,
                trial=trial,
                after_turn=notifier.wake,
                listen=listener.hear,
            )
        finally:
            for stop in reversed(stops):
                stop()
    return 0


def _web_in_background(
    settings: Settings, engine: Engine, notifier: Notifier, listener: Listener, speaker: Speaker
) -> Callable[[], None]:
    """Serve the web chat (and the console) from a thread beside another channel, sharing its
    notifier, its speech model and its cache of questions read aloud."""
    from bot.web.serve import serve_in_background

    web = build_web(settings, engine, notifier, deliver=False, listener=listener, speaker=speaker)
    return serve_in_background(web)


def _telegram(settings: Settings, args: argparse.Namespace, *, web: bool = False) -> int:
    """The Telegram channel (and, for `make run`, the web chat beside it, sharing its notifier)."""
    from telegram import Update

    from bot.telegram_app import build_application
    from bot.telegram_webhook import serve_webhook

    if not settings.telegram_bot_token:
        print("error: TELEGRAM_BOT_TOKEN is not set (see the README: Telegram)", file=sys.stderr)
        return 2
    destinations = settings.destinations
    print(
        f"trial-intake: Telegram channel via {settings.telegram_api_root}, database "
        f"{shown_url(settings.database)}, {len(settings.coordinators)} coordinator chat(s), "
        f"{len(destinations)} notification destination(s)",
        file=sys.stderr,
    )
    if not destinations:
        print(
            "warning: no notification destinations (INTAKE_NOTIFY, INTAKE_COORDINATOR_CHAT_IDS): referrals "
            "are stored but announced to nobody (read them with `intake referrals`)",
            file=sys.stderr,
        )
    webhook = getattr(args, "webhook", None)  # `intake` alone polls
    if webhook:
        print(
            f"trial-intake: Telegram updates by webhook at {webhook}, listening on "
            f"{settings.telegram_webhook_host}:{settings.telegram_webhook_port}",
            file=sys.stderr,
        )
    engine = build_engine(settings)
    with in_use(engine.store.engine):
        application = build_application(settings, engine, webhook=bool(webhook))
        channel = application.bot_data["channel"]
        stop_web = (
            _web_in_background(settings, engine, channel.notifier, channel.listener, channel.speaker)
            if web
            else None
        )
        try:
            if webhook:
                asyncio.run(serve_webhook(application, settings, webhook))
            else:
                application.run_polling(allowed_updates=Update.ALL_TYPES)
        finally:
            if stop_web is not None:
                stop_web()
    return 0


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from bot.web.serve import serve

    if args.host is not None or args.port is not None:  # as uvicorn, Flask and Django take them
        settings = settings.model_copy(
            update={"web_host": args.host or settings.web_host, "web_port": args.port or settings.web_port}
        )
    engine = build_engine(settings)
    notifier = build_notifier(settings, engine, None)
    print(f"trial-intake: database {shown_url(settings.database)}", file=sys.stderr)
    web = build_web(settings, engine, notifier, deliver=True)
    with in_use(engine.store.engine):
        serve(web)
    return 0


def _qr(settings: Settings, args: argparse.Namespace) -> int:
    """A QR code of the web chat's link for a campaign; the Telegram deep link for the same source."""
    import segno

    if not CAMPAIGN_SOURCE.fullmatch(args.source):
        print(
            "error: a source is 1 to 64 letters, digits, _ or - (Telegram links allow no more)",
            file=sys.stderr,
        )
        return 2
    query = {"src": args.source}
    payload = args.source  # Telegram's one start parameter: "<trial>-<source>" names both
    if args.trial:
        trial = settings.load_trials().by_slug(args.trial)
        if trial is None:
            served = ", ".join(t.slug for t in settings.load_trials())
            print(f"error: {args.trial!r} is not a trial served here ({served})", file=sys.stderr)
            return 2
        query = {"trial": trial.slug, **query}
        payload = f"{trial.slug}-{args.source}"
        if len(payload) > 64:
            print(
                "error: the trial and the source together are over Telegram's 64 characters", file=sys.stderr
            )
            return 2
    if args.lang:
        locale = negotiate(args.lang, shipped_locales())
        if locale is None:
            print(
                f"error: {args.lang!r} is not a shipped language ({', '.join(shipped_locales())})",
                file=sys.stderr,
            )
            return 2
        query["lang"] = locale
    base = (settings.public_url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")
    link = f"{base}/?{urlencode(query)}"
    out = args.out or Path(f"qr-{payload}.{args.format}")
    # Error correction M survives a smudged poster; scale 10 prints sharp at A6 and above.
    segno.make(link, error="m").save(out, kind=args.format, scale=10, border=4)
    print(f"web chat:  {link}\nQR code:   {out}")
    if settings.telegram_bot_username:
        print(f"Telegram:  https://t.me/{settings.telegram_bot_username.lstrip('@')}?start={payload}")
    else:
        print("Telegram:  set INTAKE_TELEGRAM_BOT_USERNAME to print the Telegram link for this source")
    if not settings.public_url:
        print("note: INTAKE_PUBLIC_URL is not set: the link points at this machine", file=sys.stderr)
    return 0


def _deliver(settings: Settings, args: argparse.Namespace) -> int:
    engine = build_engine(settings)
    print(
        f"trial-intake: delivering notifications to {len(settings.destinations)} destination(s), "
        f"database {shown_url(settings.database)}",
        file=sys.stderr,
    )

    async def deliver() -> None:
        if not settings.telegram_bot_token:
            await build_notifier(settings, engine, None).run()
            return
        from telegram import Bot

        root = settings.telegram_api_root.rstrip("/")
        async with Bot(settings.telegram_bot_token, base_url=f"{root}/bot") as bot:
            await build_notifier(settings, engine, bot).run()

    with in_use(engine.store.engine):
        asyncio.run(deliver())
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    database = make_engine(settings.database)
    migrate_database(settings, database)
    print(f"{shown_url(database)}: the schema is up to date")
    return 0


# Operator commands: they read and change data, never the schema, and need no trial file. --


def _coordination(settings: Settings, *, served: bool = True) -> Coordination:
    """The study team's service, for an operator's command. With `served` False it knows every
    trial file there is, whatever INTAKE_TRIALS says: reading the audit trail or the screenings
    stored must work when that setting is wrong, or names a trial no longer served."""
    return build_coordination(settings, operator_store(settings), None if served else load_trials())


def _operator_principal() -> Principal:
    """The operator at this command: every action, every trial."""
    return Principal(_operator(), Role.OPERATOR)


def _voice_check(settings: Settings, args: argparse.Namespace) -> int:
    """What the configured model hears in a recording, how sure it is, and how long it took."""
    import time

    locale = pick_locale(args.lang)
    listener = build_listener(settings)
    model = listener.model_for(locale)
    if model is None:
        print(f"error: no speech model for {locale} (INTAKE_SPEECH_MODELS)", file=sys.stderr)
        return 2
    print(f"model: {model}")
    began = time.perf_counter()
    heard = listener.hear(args.file.read_bytes(), locale)
    took = time.perf_counter() - began
    if isinstance(heard, Text):
        print(f"heard: {heard.text}\nconfidence: {heard.confidence}\ntook: {took:.2f} s (with loading)")
        return 0
    print(f"not understood: {heard.kind} (took {took:.2f} s)")
    return 1


def _export(settings: Settings, args: argparse.Namespace) -> int:
    """The same exports as the console and Telegram's /export, audited with the operator's name."""
    if args.format == "fhir" and args.kind == "contact":
        # FHIR holds every screening, in full or de-identified: there is no call-list level.
        print("error: a FHIR export is --kind full or --kind deidentified", file=sys.stderr)
        return 2
    trials = settings.served_trials
    chosen = trials.find(args.trial) if args.trial else None
    served = ", ".join(t.slug for t in trials)
    if args.trial and chosen is None:
        print(f"error: {args.trial!r} is not a trial served here ({served})", file=sys.stderr)
        return 2
    if args.format == "csv" and chosen is None and len(trials) > 1:
        # Each trial asks its own questions: one CSV, one trial.
        print(f"error: name the trial with --trial ({served})", file=sys.stderr)
        return 2
    coordination, who = _coordination(settings), _operator_principal()
    if args.format == "fhir":
        content = coordination.export_fhir(who, [chosen] if chosen else list(trials), args.kind)
    else:
        locale = pick_locale(args.lang or settings.coordinator_language)
        content = coordination.export_csv(who, chosen or trials.first, args.kind, locale)
    if args.out:
        args.out.write_bytes(content)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(content)
    return 0


def _users(settings: Settings, args: argparse.Namespace) -> int:
    return users.run(operator_store(settings), args, _operator(), settings.served_trials)


def _referrals(settings: Settings, args: argparse.Namespace) -> int:
    """Every referral as a card, each worded with its own trial (one trial's with --trial)."""
    trial = settings.served_trials.find(args.trial) if args.trial else None
    if args.trial and trial is None:
        print(f"error: {args.trial!r} is not a trial served here", file=sys.stderr)
        return 2
    who = _operator_principal()
    if trial is not None:
        who = Principal(who.actor, who.role, frozenset({trial.registry_id}))
    locale = pick_locale(args.lang) if args.lang else None
    for referral, card in _coordination(settings).referral_cards(who, locale):
        print((card.plain() if card else f"{referral.id}: {referral.status}") + "\n")
    return 0


def _deliveries(settings: Settings, args: argparse.Namespace) -> int:
    """What has not arrived yet, and why; exits 1 when something is failing (for monitoring)."""
    with operator_store(settings).transaction() as records:
        waiting = records.notifications(("pending", "failing"))
        records.audit(_operator(), "viewed_deliveries", "notifications", count=len(waiting))
    if not waiting:
        print("every notification has been delivered")
        return 0
    print(
        f"{'id':>5}  {'status':8} {'kind':8} {'referral':12} {'tries':>5}  {'next try':25} "
        "destination: problem"
    )
    for n in waiting:
        print(
            f"{n.id:>5}  {n.status:8} {n.kind:8} {n.referral_id or '-':12} {n.attempts:>5}  "
            f"{n.next_attempt_at.isoformat(timespec='seconds'):25} {n.destination}: {n.last_error or '-'}"
        )
    return 1 if any(n.status == "failing" for n in waiting) else 0


def _check_trial(settings: Settings, args: argparse.Namespace) -> int:
    trial = load_trial(args.file)
    print(
        f"{args.file}: {trial.registry_id}, {len(trial.questions)} questions, "
        f"{len(trial.criteria)} criteria: OK"
    )
    return 0


def _new_key(settings: Settings, args: argparse.Namespace) -> int:
    print(new_key())
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    database = make_engine(settings.database)
    try:
        backup(database, args.file)
        audit_database(database, _operator(), "backed_up", "database", file=str(args.file))
    finally:
        database.dispose()
    print(f"backed up {shown_url(database)} to {args.file}")
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    if not args.yes:
        print("error: restoring replaces everything stored now; add --yes", file=sys.stderr)
        return 2
    database = make_engine(settings.database)
    try:
        with in_use(database, exclusive=True):
            erased = erased_participants(database, Action.ERASE)
            restore(database, args.file)
            migrate_database(settings, database)  # a backup from an older version is brought up to date
            reapplied = _erase_again(settings, database, erased)
            audit_database(
                database,
                _operator(),
                "restored_backup",
                "database",
                file=str(args.file),
                erased_again=reapplied,
            )
    finally:
        database.dispose()
    print(f"restored {shown_url(database)} from {args.file}")
    if reapplied:
        print(f"erased again {reapplied} person(s) who had asked for it after the backup was taken")
    return 0


def _erase_again(settings: Settings, database: SQLAlchemyEngine, erased: list[int]) -> int:
    """Erase, in a restored database, the people who had been erased since the backup."""
    if not erased:
        return 0
    coordination = build_coordination(settings, open_store(settings, database))
    return coordination.erase_again(_operator_principal(), erased)


def _operator() -> str:
    """Who runs this command, for the audit trail: the login name on this machine."""
    try:
        return f"operator:{getpass.getuser()}"[:64]
    except OSError:  # no login name (a container with no passwd entry)
        return f"operator:uid-{os.getuid()}"


def _days(text: str) -> int:
    """`180d` or `180`: a number of days."""
    number = text.removesuffix("d")
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of days, like 180d")
    return int(number)


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    older_than = settings.retention_days if args.older_than is None else args.older_than
    idle = settings.abandon_after_days if args.idle is None else args.idle
    with operator_store(settings).transaction() as records:
        purged = records.purge(now - timedelta(days=older_than), now - timedelta(days=idle))
        forgotten = records.forget_inputs(now - timedelta(days=INPUTS_KEPT_DAYS))
        records.audit(_operator(), "purged", "screenings", count=len(purged), inputs=forgotten)
    print(f"removed the personal data of {len(purged)} screening(s); forgot {forgotten} update id(s)")
    return 0


def _erase(settings: Settings, args: argparse.Namespace) -> int:
    erasure = _coordination(settings).erase(
        _operator_principal(), screening_id=args.screening, referral_id=args.referral
    )
    if erasure is None:
        print("error: no such person (already erased?)", file=sys.stderr)
        return 2
    print(f"erased one person and {erasure.screenings} screening(s); their referrals are withdrawn")
    return 0


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    store = operator_store(settings)
    resealed = store.rotate_keys()
    with store.transaction() as records:
        records.audit(_operator(), "rotated_keys", "database", fields=resealed)
    print(f"re-encrypted {resealed} fields with the newest key; the older keys can now be removed")
    return 0


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    for event in _coordination(settings, served=False).audit_trail(_operator_principal()):
        detail = json.dumps(event.detail, ensure_ascii=False, sort_keys=True) if event.detail else ""
        print(
            f"{event.at.isoformat(timespec='seconds')}  {event.actor:20} {event.action:20} "
            f"{event.subject:24} {detail}"
        )
    return 0


def _i18n_status(settings: Settings, args: argparse.Namespace) -> int:
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


def _screenings(settings: Settings, args: argparse.Namespace) -> int:
    rows = _coordination(settings, served=False).screenings(_operator_principal())
    if args.json:
        _json_array(rows, sys.stdout)
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


def _json_array(rows: Iterator[dict[str, Any]], out: TextIO) -> None:
    """The JSON array `json.dump(list(rows), indent=2)` writes, written a row at a time: memory
    stays the same however many rows there are."""
    out.write("[")
    separator = "\n"
    for row in rows:
        item = json.dumps(row, ensure_ascii=False, indent=2)
        out.write(separator + "\n".join("  " + line for line in item.split("\n")))
        separator = ",\n"
    out.write("\n]\n" if separator != "\n" else "]\n")


if __name__ == "__main__":
    sys.exit(main())
