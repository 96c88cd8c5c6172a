"""`gateway-admin`: bootstrap accounts, keys and credits, and run the control plane (operator_cli.py:
models, prices, channels, price groups, top-up codes, operator keys), against AWS or DynamoDB Local.

Uses boto3's standard configuration (profile, region, AWS_ENDPOINT_URL_DYNAMODB) and the table
named by --table or GATEWAY_TABLE. Every command prints one JSON object; `audit` exits with
DRIFT_EXIT_CODE when a balance disagrees with its ledger entries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from gateway import operator_cli
from gateway.money import credits_to_micro

DRIFT_EXIT_CODE = 3
# Who the operator log names for this tool's top-ups (a Cognito sub is a UUID: never this)
CLI_OPERATOR = "gateway-admin"


def _credits(value: str) -> int:
    try:
        return credits_to_micro(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-admin", description=__doc__.splitlines()[0])
    parser.add_argument("--table", help="DynamoDB table (default: $GATEWAY_TABLE or ai-gateway)")
    parser.add_argument(
        "--idempotency-table", help="idempotency table (default: $IDEMPOTENCY_TABLE or ai-gateway-idempotency)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-account", help="create an account with an initial grant")
    create.add_argument("--name", required=True)
    create.add_argument("--credits", type=_credits, default=0, help="decimal credits, up to 6 places")
    create.add_argument("--email", help="the account holder's address (shown by /api/user/self)")

    key = commands.add_parser("create-key", help="issue an API key (printed once)")
    key.add_argument("--account", required=True)
    key.add_argument("--name", required=True)
    key.add_argument("--management", action="store_true", help="a key that manages keys and cannot call models")

    top_up = commands.add_parser("top-up", help="add credits to an account")
    top_up.add_argument("--account", required=True)
    top_up.add_argument("--credits", type=_credits, required=True)
    top_up.add_argument("--idempotency-key", help="a retried top-up with the same key adds the credits once")

    show = commands.add_parser("show-account", help="balance and grant of an account")
    show.add_argument("--account", required=True)

    audit = commands.add_parser(
        "audit", help="recompute balances from their ledger entries and report any drift (exit 3 on drift)"
    )
    audit.add_argument("--account", help="one account (default: every account, by scanning the table)")

    opening = commands.add_parser(
        "record-opening-grants",
        help="once, after upgrading: record the initial credits of accounts created before grants had entries",
    )
    opening.add_argument("--account", help="one account (default: every account, by scanning the table)")

    shard = commands.add_parser(
        "shard-balances",
        help="once, after upgrading (with no request of the previous version in flight): move balances "
        "kept on account items onto balance shards",
    )
    shard.add_argument("--account", help="one account (default: every account, by scanning the table)")

    more = commands.add_parser("add-shards", help="more balance shards for a busy account (its holds spread wider)")
    more.add_argument("--account", required=True)
    more.add_argument("--shards", type=int, required=True, help="the account's new number of shards (at most 64)")
    commands.add_parser(
        "index-accounts",
        help="once, after upgrading: list accounts created before the console in its operators' search",
    )

    for name, disabled in (("disable-key", True), ("enable-key", False)):
        toggle = commands.add_parser(name, help=f"{name.split('-')[0]} a key by its hash")
        toggle.add_argument("--hash", required=True, dest="key_hash")
        toggle.set_defaults(disabled=disabled)
    operator_cli.add_commands(commands)
    return parser


def run(args: argparse.Namespace) -> Any:
    from gateway.services import accounts, keys

    if operator_cli.handles(args.command):
        return operator_cli.run(args)
    if args.command == "create-account":
        return accounts.account_view(accounts.create_account(args.name, args.credits, email=args.email))
    if args.command == "create-key":
        issued = keys.issue_key(args.account, args.name, "management" if args.management else "inference")
        return {"key": issued.key, **keys.key_view(issued.record)}
    if args.command == "top-up":
        from gateway.auth.cognito import Identity
        from gateway.ids import new_trace_id
        from gateway.services import operators

        cli = Identity(sub=CLI_OPERATOR, email=f"{CLI_OPERATOR} (CLI)", groups=())
        topped = operators.credit(cli, args.account, args.credits, "", args.idempotency_key, new_trace_id())
        return topped["account"]
    if args.command == "show-account":
        return accounts.account_view(accounts.get_account(args.account))
    if args.command == "audit":
        from gateway.billing import audit

        return audit.audit_account(args.account).view() if args.account else audit.audit_all().view()
    if args.command == "record-opening-grants":
        from gateway.billing import audit

        return audit.record_opening_grants(args.account)
    if args.command == "shard-balances":
        return accounts.shard_balances(args.account)
    if args.command == "add-shards":
        return accounts.account_view(accounts.add_shards(args.account, args.shards))
    if args.command == "index-accounts":
        from gateway.services import operators

        return operators.index_accounts()
    keys.set_key_disabled(args.key_hash, args.disabled)
    return {"hash": args.key_hash, "disabled": args.disabled}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.table:
        os.environ["GATEWAY_TABLE"] = args.table
    if args.idempotency_table:
        os.environ["IDEMPOTENCY_TABLE"] = args.idempotency_table
    from gateway.config import get_settings
    from gateway.errors import GatewayError
    from gateway.storage.dynamo import DynamoError
    from gateway.storage.errors import StorageUnavailable

    get_settings.cache_clear()
    try:
        result = run(args)
    except GatewayError as error:
        print(json.dumps({"error": error.message}), file=sys.stderr)
        return 1
    except (DynamoError, StorageUnavailable) as error:
        print(json.dumps({"error": f"DynamoDB: {error}"}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return DRIFT_EXIT_CODE if args.command == "audit" and not result["balanced"] else 0


if __name__ == "__main__":
    sys.exit(main())
