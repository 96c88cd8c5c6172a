"""The console's customers: a signed-in Cognito user acts for its account as a management key of that
account would, through the same services (keys, usage, traces). Its first sign-in creates the
account, with the operator's starting credits as its initial grant."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.auth import cognito_standing
from gateway.auth.authenticate import Principal
from gateway.auth.cognito import Identity, verify_id_token
from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.errors import ApiDisabled, Forbidden
from gateway.money import credits_to_micro
from gateway.observability import logger
from gateway.services import accounts, usage
from gateway.services.usage import DateRange
from gateway.storage import dynamo
from gateway.storage.accounts import Account
from gateway.storage.api_keys import ApiKeyRecord
from gateway.storage.stores import stores
from gateway.storage.users import ConsoleUser, UserRepository

SESSION_KEY_PREFIX = "console"  # what a console session's principal shows where a key prefix would be


@dataclass(frozen=True)
class ConsoleSession:
    identity: Identity
    account: Account
    principal: Principal  # the account's management rights, held by no key

    @property
    def operator(self) -> bool:
        return get_settings().console_operator_group in self.identity.groups


def open_session(token: str | None) -> ConsoleSession:
    """The session an ID token opens: its user's account (created on first sign-in)."""
    identity = verify_id_token(token)
    users = stores().users
    user = users.get(identity.sub) or _first_sign_in(identity, users)
    account = accounts.get_account(user.account_id)
    return ConsoleSession(identity, account, acting_for(account.account_id, identity))


def customer(session: ConsoleSession) -> ConsoleSession:
    """The session, when its account may act (an operator disabled it: it may only read who it is)."""
    if session.account.disabled:
        raise ApiDisabled("This account is disabled; contact the operator.")
    return session


def operator(session: ConsoleSession) -> ConsoleSession:
    """The session, when its user is an operator: by its token, and by the user pool now (a user
    removed from the group, or disabled, is no operator within seconds, not when its token expires)."""
    group = get_settings().console_operator_group
    if not session.operator or not cognito_standing.still_operator(session.identity, group):
        raise Forbidden("This page is for operators.")
    return session


def acting_for(account_id: str, identity: Identity) -> Principal:
    """A management principal of the account that no key stands behind: what the services need to
    act for the account, and nothing they could look up or reuse (no key has this hash)."""
    record = ApiKeyRecord(
        key_hash=f"{SESSION_KEY_PREFIX}:{identity.sub}",
        key_prefix=SESSION_KEY_PREFIX,
        account_id=account_id,
        name=f"{SESSION_KEY_PREFIX} session",
        kind="management",
        disabled=False,
        created_at=now_iso(),
    )
    return Principal(record)


def console_account_id(sub: str) -> str:
    """The account a user's first sign-in creates: derived from the user, so two first requests racing
    each other create one account, not two."""
    return f"acct_{hashlib.sha256(f'console:{sub}'.encode()).hexdigest()[:16]}"


def _first_sign_in(identity: Identity, users: UserRepository) -> ConsoleUser:
    account_id = console_account_id(identity.sub)
    starting = credits_to_micro(get_settings().console_starting_credits)
    try:
        accounts.create_account(identity.email, starting, account_id=account_id, email=identity.email)
    except dynamo.DynamoError as error:
        if "ConditionalCheckFailed" not in dynamo.cancellation_codes(error):
            raise
    else:
        logger().info("console account created", extra={"account_id": account_id})
    return users.add(ConsoleUser(identity.sub, account_id, identity.email, now_iso()))


def overview(session: ConsoleSession) -> dict[str, Any]:
    """Who is signed in, the account's balance, and what it spent this month (UTC)."""
    today = date.fromisoformat(DateRange.parse(None, None).end)
    month = usage.usage(
        session.principal, DateRange.parse(today.replace(day=1).isoformat(), today.isoformat()), model=None, key=None
    )
    return {
        "user": {"email": session.identity.email, "operator": session.operator},
        "account": accounts.account_view(session.account),
        "month": {
            name: month[name]
            for name in ("date_from", "date_to", "total_requests", "total_errors", "total_tokens", "total_credits")
        }
        | {"total_cost_usd": month["total_cost_usd"]},
    }


def catalog(session: ConsoleSession) -> dict[str, Any]:
    """Model ids and provider names, for allow-lists and filters."""
    from gateway.catalog.registry import get_catalog  # the catalog and routing: not in a cold start's imports
    from gateway.services import models

    listed = models.list_models(session.principal.key)["data"]
    return {"models": [model["id"] for model in listed], "providers": sorted(get_catalog().providers)}
