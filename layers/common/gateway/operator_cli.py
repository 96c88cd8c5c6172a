"""gateway-admin's control-plane commands: the runtime catalog (models, prices, providers, channels,
price groups, settings), accounts' price groups, top-up codes and operator keys. Each calls the same
service as the admin API, against the table gateway-admin is pointed at."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.errors import InvalidRequest

COMMANDS = frozenset(
    {"catalog", "model", "provider", "channel", "group", "set-group", "settings", "codes", "redeem-code"}
    | {"create-operator-key", "list-operator-keys", "revoke-operator-key"}
)


def handles(command: str) -> bool:
    return command in COMMANDS


def add_commands(commands: Any) -> None:
    catalog = _group(commands, "catalog", "the runtime catalog as a whole")
    catalog.add_parser("status", help="its version and what it holds")
    catalog.add_parser("seed", help="write the shipped models.yaml into the table, if it holds no catalog yet")
    export = catalog.add_parser("export", help="everything operators manage, as YAML or JSON (no secret)")
    export.add_argument("--out", type=Path, help="write YAML here instead of printing JSON")
    load = catalog.add_parser("import", help="models, providers, channels, groups, settings from a file")
    load.add_argument("file", type=Path)
    load.add_argument("--replace", action="store_true", help="remove whatever the file does not name")

    model = _group(commands, "model", "models and their prices")
    model.add_parser("list")
    for name in ("show", "enable", "disable", "delete"):
        model.add_parser(name).add_argument("id")
    model.add_parser("create", help="a model from a YAML/JSON file").add_argument("--file", type=Path, required=True)
    update = model.add_parser("update", help='JSON merge patch, e.g. --set \'{"pricing": {"input": "0.2"}}\'')
    update.add_argument("id")
    update.add_argument("--set", dest="patch", type=json.loads, required=True)

    provider = _group(commands, "provider", "upstream kinds and their defaults (channels give them keys)")
    provider.add_parser("list")
    put = provider.add_parser("put")
    put.add_argument("name")
    put.add_argument("--kind", required=True, choices=("openai", "anthropic", "gemini"))
    put.add_argument("--default-base-url")
    provider.add_parser("delete").add_argument("name")

    channel = _group(commands, "channel", "upstream channels: several keys and base URLs per provider")
    channel.add_parser("list")
    channel.add_parser("show").add_argument("id")
    channel.add_parser("delete").add_argument("id")
    add = channel.add_parser("add")
    add.add_argument("--id", required=True)
    add.add_argument("--provider", required=True)
    _channel_options(add)
    change = channel.add_parser("update")
    change.add_argument("id")
    _channel_options(change)
    state = change.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)

    group = _group(commands, "group", "price groups (a ratio on every price for their accounts)")
    group.add_parser("list")
    setting = group.add_parser("set")
    setting.add_argument("name")
    setting.add_argument("--ratio", required=True)
    setting.add_argument("--note")
    group.add_parser("delete").add_argument("name")

    assign = commands.add_parser("set-group", help="put an account in a price group")
    assign.add_argument("--account", required=True)
    which = assign.add_mutually_exclusive_group(required=True)
    which.add_argument("--group")
    which.add_argument("--default", action="store_true")

    settings = commands.add_parser("settings", help="show or change the control plane's settings")
    settings.add_argument("--byok-fee-percent", help="what own-key requests pay, as a % of the price")

    codes = _group(commands, "codes", "top-up codes")
    mint = codes.add_parser("mint", help="new codes (printed once)")
    mint.add_argument("--credits", required=True, type=_micro, help="decimal credits each code adds")
    mint.add_argument("--count", type=int, default=1)
    mint.add_argument("--expires-in-days", type=int)
    mint.add_argument("--batch", default="")
    listing = codes.add_parser("list", help="codes, newest first, never their text")
    listing.add_argument("--cursor")
    for name in ("disable", "enable"):
        codes.add_parser(name).add_argument("id")
    redeem = commands.add_parser("redeem-code", help="credit a code to an account (as POST /api/user/topup)")
    redeem.add_argument("--account", required=True)
    redeem.add_argument("--code", help="the code (default: read from stdin)")

    commands.add_parser("create-operator-key", help="a key for the admin API (printed once)").add_argument(
        "--name", required=True
    )
    commands.add_parser("list-operator-keys")
    commands.add_parser("revoke-operator-key").add_argument("--hash", required=True, dest="key_hash")


def run(args: argparse.Namespace) -> Any:
    from gateway.services import catalog_admin, channel_admin, operator_keys, topup_codes

    command, action = args.command, getattr(args, "action", None)
    if command == "catalog":
        return _catalog(args)
    if command == "model":
        return _model(args)
    if command == "provider":
        if action == "list":
            return catalog_admin.list_providers()
        if action == "put":
            spec = {"kind": args.kind, **({"default_base_url": args.default_base_url} if args.default_base_url else {})}
            return catalog_admin.put_provider(args.name, spec)
        catalog_admin.delete_provider(args.name)
        return {"name": args.name, "deleted": True}
    if command == "channel":
        return _channel(args)
    if command == "group":
        if action == "list":
            return channel_admin.list_groups()
        if action == "set":
            return channel_admin.put_group(
                args.name, {"ratio": args.ratio, **({"note": args.note} if args.note else {})}
            )
        channel_admin.delete_group(args.name)
        return {"name": args.name, "deleted": True}
    if command == "set-group":
        return channel_admin.set_account_group(args.account, None if args.default else args.group)
    if command == "settings":
        if args.byok_fee_percent is None:
            return channel_admin.get_control_settings()
        return channel_admin.update_control_settings({"byok_fee_percent": args.byok_fee_percent})
    if command == "codes":
        return _codes(args)
    if command == "redeem-code":
        code = args.code if args.code is not None else sys.stdin.readline().strip()
        return topup_codes.redeem(args.account, code)
    if command == "create-operator-key":
        issued = operator_keys.issue_operator_key(args.name)
        return {"key": issued.key, "hash": issued.record.key_hash, "name": issued.record.name}
    if command == "list-operator-keys":
        return operator_keys.list_operator_keys()
    operator_keys.revoke_operator_key(args.key_hash)
    return {"hash": args.key_hash, "revoked": True}


def _catalog(args: argparse.Namespace) -> Any:
    import yaml

    from gateway.services import catalog_admin

    if args.action == "status":
        return catalog_admin.status()
    if args.action == "seed":
        return catalog_admin.seed()
    if args.action == "export":
        document = catalog_admin.export()
        if args.out is None:
            return document
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise InvalidRequest(f"Cannot write {args.out}: {error.strerror or error}.") from error
        return {"written": str(args.out), "version": document["version"]}
    return catalog_admin.import_document(read_document(args.file), replace=args.replace)


def _model(args: argparse.Namespace) -> Any:
    from gateway.services import catalog_admin

    if args.action == "list":
        return catalog_admin.list_models()
    if args.action == "show":
        return catalog_admin.get_model(args.id)
    if args.action == "create":
        return catalog_admin.create_model(read_document(args.file))
    if args.action == "update":
        return catalog_admin.update_model(args.id, args.patch)
    if args.action in ("enable", "disable"):
        return catalog_admin.update_model(args.id, {"enabled": args.action == "enable"})
    catalog_admin.delete_model(args.id)
    return {"id": args.id, "deleted": True}


def read_document(path: Path) -> Any:
    """A YAML (or JSON) file's content; a file it cannot read or parse is the operator's error (a
    GatewayError: one line, exit 1), not a traceback."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidRequest(f"Cannot read {path}: {error.strerror or error}.") from error
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"{path} is not UTF-8 text.") from error
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise InvalidRequest(f"{path} is not valid YAML{at}.") from error


def _channel(args: argparse.Namespace) -> Any:
    from gateway.services import channel_admin

    if args.action == "list":
        return channel_admin.list_channels()
    if args.action == "show":
        return channel_admin.get_channel(args.id)
    if args.action == "delete":
        channel_admin.delete_channel(args.id)
        return {"id": args.id, "deleted": True}
    fields = {
        name: value
        for name, value in {
            "base_url": args.base_url,
            "secret_ref": args.secret_ref,
            "models": args.models.split(",") if args.models else None,
            "priority": args.priority,
            "weight": args.weight,
            "rpm": args.rpm,
            "tpm": args.tpm,
            "note": args.note,
            "enabled": getattr(args, "enabled", None),
        }.items()
        if value is not None
    }
    api_key = sys.stdin.readline().strip() if args.api_key_stdin else None
    if args.action == "add":
        return channel_admin.create_channel({"id": args.id, "provider": args.provider, **fields}, api_key)
    return channel_admin.update_channel(args.id, fields, api_key)


def _codes(args: argparse.Namespace) -> Any:
    from gateway.clock import now_epoch
    from gateway.services import topup_codes

    if args.action == "mint":
        expires = now_epoch() + args.expires_in_days * 86_400 if args.expires_in_days is not None else None
        return topup_codes.mint(args.credits, args.count, expires_at=expires, batch=args.batch)
    if args.action == "list":
        return topup_codes.list_codes(args.cursor)
    return topup_codes.set_disabled(args.id, args.action == "disable")


def _channel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--secret-ref", help="a Secrets Manager secret under the channel prefix")
    secret.add_argument("--api-key-stdin", action="store_true", help="read the key from stdin; stored as a secret")
    parser.add_argument("--models", help="comma-separated catalog ids it serves (default: all of its provider's)")
    parser.add_argument("--priority", type=int)
    parser.add_argument("--weight", type=int)
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--note")


def _micro(value: str) -> int:
    from gateway.money import credits_to_micro

    try:
        return credits_to_micro(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _group(commands: Any, name: str, help_text: str) -> Any:
    parser = commands.add_parser(name, help=help_text)
    return parser.add_subparsers(dest="action", required=True)
