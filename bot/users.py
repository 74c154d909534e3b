"""`intake users`: the operator's accounts for the coordinator console.

A new password is printed once, never stored in the clear; with --totp a second
factor is set up and required, and its otpauth:// link is printed with a QR code
for an authenticator app. Every change is audited with the operator's login name.
"""

from __future__ import annotations

import argparse
import sys

import segno

from bot.accounts import ROLES, hash_password, new_password, new_totp_secret, totp_uri
from dialogs.trial import Trials
from storage.models import Account
from storage.repository import Records, Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new account; prints its password once")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument(
        "--trial",
        action="append",
        default=[],
        help="a trial it works on, e.g. nct06079125 (default: every trial)",
    )
    add.add_argument("--totp", action="store_true", help="set up and require a second factor")
    actions.add_parser("list", help="every account, its role, trials and state")
    disable = actions.add_parser("disable", help="no more sign-ins; its sessions end")
    disable.add_argument("name")
    reset = actions.add_parser("reset", help="a new password (printed once); its sessions end")
    reset.add_argument("name")
    reset.add_argument("--totp", action="store_true", help="a new second factor, required from now on")


def run(store: Store, args: argparse.Namespace, operator: str, trials: Trials) -> int:
    with store.transaction() as records:
        if args.action == "list":
            return _list(records)
        if args.action == "add":
            return _add(records, args, operator, trials)
        account = records.account(args.name)
        if account is None:
            print(f"error: no account named {args.name!r} (intake users list)", file=sys.stderr)
            return 2
        records.end_console_sessions(account.id or 0)  # either way, every open session ends now
        if args.action == "disable":
            account.disabled = True
            records.save_account(account)
            records.audit(operator, "account_disabled", f"account:{account.name}")
            print(f"{account.name}: disabled; its sessions have ended")
            return 0
        password = new_password()
        account.password_hash, account.disabled = hash_password(password), False
        records.save_account(account)
        _hand_over(records, account, password, args.totp)
        records.audit(operator, "account_reset", f"account:{account.name}", totp=bool(args.totp))
        return 0


def _add(records: Records, args: argparse.Namespace, operator: str, trials: Trials) -> int:
    name = args.name.strip()
    found = [trials.find(trial) for trial in args.trial]
    if None in found:
        served = ", ".join(t.slug for t in trials)
        print(f"error: --trial names a trial not served here (served: {served})", file=sys.stderr)
        return 2
    # Kept by registry id, whichever way it was named: what referrals and screenings carry.
    works_on = [trial.registry_id for trial in found if trial is not None]
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        print("error: a name is 1 to 64 characters without spaces", file=sys.stderr)
        return 2
    if records.account(name) is not None:
        print(f"error: {name!r} exists already (intake users reset {name})", file=sys.stderr)
        return 2
    password = new_password()
    account = Account(name=name, role=args.role, trials=works_on, password_hash=hash_password(password))
    records.save_account(account)
    _hand_over(records, account, password, args.totp)
    records.audit(operator, "account_added", f"account:{name}", role=args.role, trials=works_on)
    return 0


def _hand_over(records: Records, account: Account, password: str, totp: bool) -> None:
    """Print what the person needs to sign in, once."""
    print(f"account:  {account.name} ({account.role})")
    print(f"password: {password}")
    if totp:
        secret = new_totp_secret()
        records.set_totp_secret(account, secret)
        account.totp_required = True
        records.save_account(account)
        uri = totp_uri(account.name, secret)
        print(f"second factor (scan it with an authenticator app, or type the key {secret}):")
        print(uri)
        segno.make(uri, error="m").terminal(compact=True)
    print("Give these to the person by a safe route; they are not shown again.")


def _list(records: Records) -> int:
    for account in records.accounts():
        state = "disabled" if account.disabled else "active"
        trials = ",".join(account.trials) or "every trial"
        factor = "TOTP" if account.totp_sealed else "password only"
        print(f"{account.name}\t{account.role}\t{trials}\t{factor}\t{state}")
    return 0
