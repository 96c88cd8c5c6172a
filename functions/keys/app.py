"""Keys and account routes (management keys manage their account's keys and own provider keys; any
key reads its own and redeems top-up codes). PotatoRouter's /api/token and poeti's /api/v1/api-keys
also take the user's own inference key, within its limits (gateway.services.delegation). Buffered:
Mangum adapts API Gateway events to the FastAPI app (gateway.entry)."""

from __future__ import annotations

from typing import Annotated, Any

from gateway.entry import asgi_handler
from gateway.formats.control import ProviderKeyInput, TopUp
from gateway.formats.keys import ApiKeyCreate, KeyCreate, KeyUpdate, TokenCreate
from gateway.http import AnyKey, ManagementKey, create_app, credential_of
from gateway.routes import Routes
from gateway.services import accounts, byok, delegation, key_aliases, keys, topup_codes
from gateway.web import Header, Request

router = Routes()  # OpenAI's error envelope (PotatoRouter's paths)
api_v1_routes = Routes("api_v1")  # the /api/v1 envelope: type equal to code
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _create(principal: Any, spec: KeyCreate, request: Request, idempotency_key: str | None) -> keys.IssuedKey:
    return keys.create_key_once(principal, spec, credential=credential_of(request), idempotency_key=idempotency_key)


@api_v1_routes.post("/api/v1/keys", status_code=201)
def create_key(
    spec: KeyCreate, principal: ManagementKey, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    issued = _create(principal, spec, request, idempotency_key)
    return {"key": issued.key, "data": keys.key_view(issued.record)}


@api_v1_routes.get("/api/v1/keys")
def list_keys(principal: ManagementKey) -> dict[str, Any]:
    return {"data": [keys.key_view(record) for record in keys.list_keys(principal)]}


@api_v1_routes.get("/api/v1/keys/{key_hash}")
def get_key(key_hash: str, principal: ManagementKey) -> dict[str, Any]:
    return {"data": keys.key_view(keys.get_key(principal, key_hash))}


@api_v1_routes.patch("/api/v1/keys/{key_hash}")
def update_key(key_hash: str, patch: KeyUpdate, principal: ManagementKey) -> dict[str, Any]:
    return {"data": keys.key_view(keys.update_key(principal, key_hash, patch))}


@api_v1_routes.delete("/api/v1/keys/{key_hash}")
def delete_key(key_hash: str, principal: ManagementKey) -> dict[str, Any]:
    keys.revoke_key(principal, key_hash)
    return {"data": {"hash": key_hash, "deleted": True}}


@api_v1_routes.get("/api/v1/key")
def current_key(principal: AnyKey) -> dict[str, Any]:
    return keys.own_key(principal)


@router.get("/api/user/self")
def current_account(principal: AnyKey) -> dict[str, Any]:
    return accounts.self_view(principal)


@router.get("/api/user/self/quota")
def current_quota(principal: AnyKey) -> dict[str, Any]:
    return accounts.quota(principal)


@router.post("/api/user/topup")
def redeem_code(body: TopUp, principal: AnyKey) -> dict[str, Any]:
    """new-api's redemption: `data` is the credits the code added."""
    redeemed = topup_codes.redeem(principal.account_id, body.key)
    return {"success": True, "message": "", "data": redeemed["credited"], "account": redeemed["account"]}


# Own provider keys (bring your own key): stored encrypted, never shown again
@api_v1_routes.get("/api/v1/provider-keys")
def list_provider_keys(principal: ManagementKey) -> dict[str, Any]:
    return {"data": byok.list_keys(principal)}


@api_v1_routes.put("/api/v1/provider-keys/{provider}")
def set_provider_key(provider: str, body: ProviderKeyInput, principal: ManagementKey) -> dict[str, Any]:
    return {"data": byok.set_key(principal, provider, body.key)}


@api_v1_routes.delete("/api/v1/provider-keys/{provider}")
def delete_provider_key(provider: str, principal: ManagementKey) -> dict[str, Any]:
    byok.delete_key(principal, provider)
    return {"data": {"provider": provider, "deleted": True}}


def _delegate(
    principal: Any, spec: KeyCreate, request: Request, idempotency_key: str | None, fields: dict[str, str]
) -> keys.IssuedKey:
    credential = credential_of(request)
    return delegation.create(principal, spec, credential=credential, idempotency_key=idempotency_key, fields=fields)


# PotatoRouter / one-api shapes: the user's own key, or a management key
@router.get("/api/token")
def list_tokens(principal: AnyKey) -> dict[str, Any]:
    records = delegation.visible_keys(principal)
    return {"success": True, "message": "", "data": [key_aliases.token_view(keys.key_view(r), r) for r in records]}


@router.post("/api/token")
def create_token(
    body: TokenCreate, principal: AnyKey, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    issued = _delegate(principal, key_aliases.from_token(body), request, idempotency_key, key_aliases.TOKEN_FIELDS)
    view = key_aliases.token_view(keys.key_view(issued.record), issued.record)
    return {"success": True, "message": "", "data": {**view, "key": issued.key}}


@router.delete("/api/token/{token_id}")
def delete_token(token_id: str, principal: AnyKey) -> dict[str, Any]:
    delegation.revoke(principal, token_id)
    return {"success": True, "message": ""}


# poeti shapes: the user's own key, or a management key
@api_v1_routes.get("/api/v1/api-keys")
def list_api_keys(principal: AnyKey) -> dict[str, Any]:
    records = delegation.visible_keys(principal)
    return {"code": 200, "data": [key_aliases.api_key_view(r) for r in records]}


@api_v1_routes.post("/api/v1/api-keys")
def create_api_key(
    body: ApiKeyCreate, principal: AnyKey, request: Request, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    spec = key_aliases.from_api_key(body)
    issued = _delegate(principal, spec, request, idempotency_key, key_aliases.API_KEY_FIELDS)
    view = key_aliases.api_key_view(issued.record)
    return {"code": 200, "data": {**view, "key": issued.key}}


router.include(api_v1_routes)
app = create_app(router, title="AI Gateway: keys")
handler = asgi_handler(app)
