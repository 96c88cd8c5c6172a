"""The console: its page and assets (static/), and its API for signed-in Cognito users (a user acts for
its account as a management key would; operators, a Cognito group, act across accounts).
Buffered: Mangum adapts API Gateway events to the FastAPI app (gateway.entry)."""

from __future__ import annotations

from functools import cache
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import anyio

from gateway.assets import StaticSite, security_headers
from gateway.auth.cognito import pool
from gateway.config import get_settings
from gateway.entry import asgi_handler
from gateway.errors import GatewayError, NotFound
from gateway.formats.console import AccountSwitch, TopUp
from gateway.formats.control import CodeMint, CodeUpdate, GroupAssignment, channel_input
from gateway.formats.control import TopUp as CodeRedemption
from gateway.formats.keys import KeyCreate, KeyUpdate
from gateway.formats.wire import JsonObject
from gateway.http import create_app, trace_id_of
from gateway.money import credits_to_micro, display
from gateway.routes import Routes
from gateway.services import console, console_admin, keys, operators, topup_codes, usage
from gateway.services.console import ConsoleSession
from gateway.services.console_admin import Action
from gateway.services.usage import DateRange
from gateway.web import Body, Depends, Header, Path, Query, Request, Response

STATIC = FilePath(__file__).resolve().parent / "static"
Day = Annotated[str | None, Query(max_length=10)]
Filter = Annotated[str | None, Query(max_length=256)]
Cursor = Annotated[str | None, Query(max_length=2048)]
AccountId = Annotated[str, Path(max_length=128)]
TraceId = Annotated[str, Path(max_length=128)]
CodeId = Annotated[str, Path(max_length=64)]
ModelId = Annotated[str, Path(max_length=256)]
Name = Annotated[str, Path(max_length=64)]  # a channel's id, a price group's name
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)]
Json = Annotated[JsonObject, Body()]


@cache
def site() -> StaticSite:
    return StaticSite(STATIC, prefix="console/assets/")  # relative to the page, /<stage>/console


def _headers() -> dict[str, str]:
    try:
        return security_headers((pool().endpoint,))
    except GatewayError:  # no user pool configured: the page says so, and connects nowhere else
        return security_headers()


async def _no_store(response: Response) -> None:
    """Console API answers hold account data (and a new key, once): never kept by any cache."""
    response.headers["Cache-Control"] = "no-store"


async def _session(request: Request) -> ConsoleSession:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    return await anyio.to_thread.run_sync(console.open_session, bearer)


async def _customer(session: Annotated[ConsoleSession, Depends(_session)]) -> ConsoleSession:
    return console.customer(session)


async def _operator(session: Annotated[ConsoleSession, Depends(_session)]) -> ConsoleSession:
    return console.operator(session)


async def _action(
    session: Annotated[ConsoleSession, Depends(_operator)], request: Request, idempotency_key: IdempotencyKey = None
) -> Action:
    """An operator's change: who makes it, its Idempotency-Key (done once) and its trace id (logged)."""
    return Action(session.identity, idempotency_key, trace_id_of(request))


Session = Annotated[ConsoleSession, Depends(_session)]
Customer = Annotated[ConsoleSession, Depends(_customer)]
Operator = Annotated[ConsoleSession, Depends(_operator)]
Acting = Annotated[Action, Depends(_action)]

pages = Routes()
api = Routes(prefix="/console/api", dependencies=[Depends(_no_store)])


@pages.get("/console")
def page(request: Request) -> Response:
    return site().page(_headers(), request.headers.get("if-none-match"))


@pages.get("/console/assets/{name}")
def asset(name: str) -> Response:
    found = site().asset(name, _headers())
    if found is None:
        raise NotFound("No such asset.")
    return found


@api.get("/config")
def config() -> dict[str, Any]:
    """What the page needs before anyone signs in: where to sign in."""
    settings, where = get_settings(), pool()
    return {
        "cognito": {"endpoint": where.endpoint, "region": where.region, "client_id": where.client_id},
        "self_sign_up": settings.console_self_sign_up,
        "starting_credits": display(credits_to_micro(settings.console_starting_credits)),
    }


@api.get("/me")
def me(session: Session) -> dict[str, Any]:
    return console.overview(session)


@api.get("/catalog")
def catalog(session: Customer) -> dict[str, Any]:
    return console.catalog(session)


@api.get("/keys")
def list_keys(session: Customer) -> dict[str, Any]:
    return {"data": [keys.key_view(record) for record in keys.list_keys(session.principal)]}


@api.post("/keys", status_code=201)
def create_key(spec: KeyCreate, session: Customer) -> dict[str, Any]:
    issued = keys.create_key(session.principal, spec)
    return {"key": issued.key, "data": keys.key_view(issued.record)}


@api.patch("/keys/{key_hash}")
def update_key(key_hash: str, patch: KeyUpdate, session: Customer) -> dict[str, Any]:
    return {"data": keys.key_view(keys.update_key(session.principal, key_hash, patch))}


@api.delete("/keys/{key_hash}")
def revoke_key(key_hash: str, session: Customer) -> dict[str, Any]:
    keys.revoke_key(session.principal, key_hash)
    return {"data": {"hash": key_hash, "deleted": True}}


@api.get("/usage")
def get_usage(
    session: Customer, date_from: Day = None, date_to: Day = None, model: Filter = None, key: Filter = None
) -> dict[str, Any]:
    return usage.usage(session.principal, DateRange.parse(date_from, date_to), model=model, key=key)


@api.get("/traces")
def list_traces(
    session: Customer,
    status: Literal["success", "error", "expired"] | None = None,
    model: Filter = None,
    key: Filter = None,
    date_from: Day = None,
    date_to: Day = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    dates = DateRange.parse(date_from, date_to)
    return usage.traces(
        session.principal, dates, status=status, model=model, key=key, page_size=page_size, cursor=cursor
    )


@api.get("/traces/{trace_id}")
def get_trace(trace_id: TraceId, session: Customer) -> dict[str, Any]:
    return usage.trace(session.principal, trace_id)


@api.post("/topup")
def redeem_code(body: CodeRedemption, session: Customer) -> dict[str, Any]:
    """A top-up code, credited to the session's account once (as `POST /api/user/topup`)."""
    return topup_codes.redeem(session.account.account_id, body.key)


@api.get("/admin/accounts")
def search_accounts(
    session: Operator, q: Annotated[str, Query(max_length=200)] = "", cursor: Cursor = None
) -> dict[str, Any]:
    return operators.search_accounts(q, cursor)


@api.get("/admin/accounts/{account_id}")
def account_detail(account_id: AccountId, session: Operator) -> dict[str, Any]:
    return operators.account_detail(account_id)


@api.post("/admin/accounts/{account_id}/top-up")
def top_up(
    account_id: AccountId, body: TopUp, session: Operator, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    return operators.top_up(
        session.identity, account_id, body.credits, body.note, idempotency_key, trace_id_of(request)
    )


@api.post("/admin/accounts/{account_id}/status")
def account_status(
    account_id: AccountId,
    body: AccountSwitch,
    session: Operator,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return operators.set_disabled(
        session.identity, account_id, body.disabled, body.note, idempotency_key, trace_id_of(request)
    )


@api.put("/admin/accounts/{account_id}/group")
def account_group(account_id: AccountId, body: GroupAssignment, act: Acting) -> dict[str, Any]:
    return console_admin.set_account_group(act, account_id, body.group)


@api.get("/admin/totals")
def platform_totals(session: Operator, date_from: Day = None, date_to: Day = None) -> dict[str, Any]:
    return operators.platform_totals(DateRange.parse(date_from, date_to))


@api.get("/admin/log")
def operator_log(
    session: Operator, account: Annotated[str | None, Query(max_length=128)] = None, cursor: Cursor = None
) -> dict[str, Any]:
    return operators.operator_log(account, cursor)


@api.get("/admin/codes")
def list_codes(session: Operator, cursor: Cursor = None) -> dict[str, Any]:
    return topup_codes.list_codes(cursor)


@api.post("/admin/codes", status_code=201)
def mint_codes(body: CodeMint, act: Acting) -> dict[str, Any]:
    return console_admin.mint_codes(act, body)


@api.patch("/admin/codes/{code_id}")
def update_code(code_id: CodeId, body: CodeUpdate, act: Acting) -> dict[str, Any]:
    return console_admin.set_code_disabled(act, code_id, body.disabled)


@api.get("/admin/models")
def list_models(session: Operator) -> dict[str, Any]:
    return console_admin.models()


@api.post("/admin/models", status_code=201)
def create_model(spec: Json, act: Acting) -> dict[str, Any]:
    return console_admin.create_model(act, spec)


@api.get("/admin/models/{model_id:path}")
def get_model(model_id: ModelId, session: Operator) -> dict[str, Any]:
    return console_admin.model(model_id)


@api.patch("/admin/models/{model_id:path}")
def update_model(model_id: ModelId, patch: Json, act: Acting) -> dict[str, Any]:
    return console_admin.update_model(act, model_id, patch)


@api.get("/admin/channels")
def list_channels(session: Operator) -> dict[str, Any]:
    return console_admin.channels()


@api.get("/admin/channels/health")
def channel_health(session: Operator) -> dict[str, Any]:
    return console_admin.health()


@api.post("/admin/channels", status_code=201)
def create_channel(body: Json, act: Acting) -> dict[str, Any]:
    return console_admin.create_channel(act, *channel_input(body))


@api.patch("/admin/channels/{channel_id}")
def update_channel(channel_id: Name, body: Json, act: Acting) -> dict[str, Any]:
    return console_admin.update_channel(act, channel_id, *channel_input(body))


@api.get("/admin/groups")
def list_groups(session: Operator) -> dict[str, Any]:
    return console_admin.groups()


@api.put("/admin/groups/{name}")
def put_group(name: Name, spec: Json, act: Acting) -> dict[str, Any]:
    return console_admin.put_group(act, name, spec)


router = Routes()
router.include(pages)
router.include(api)
app = create_app(router, title="AI Gateway: console")
handler = asgi_handler(app)
