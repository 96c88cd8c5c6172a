"""The admin API: operators (operator keys, `sk-gwo-...`, made by gateway-admin) change models,
prices, providers, upstream channels, price groups and settings at runtime, put accounts in price
groups, and mint top-up codes. Buffered: Mangum adapts API Gateway events to the FastAPI app."""

from __future__ import annotations

from typing import Annotated, Any

from gateway.entry import asgi_handler
from gateway.formats.control import CodeMint, CodeUpdate, GroupAssignment, channel_input
from gateway.formats.wire import JsonObject
from gateway.http import OperatorKey, create_app
from gateway.routes import Routes
from gateway.services import catalog_admin, channel_admin, topup_codes
from gateway.web import Body, Query

router = Routes(prefix="/api/admin")
Json = Annotated[JsonObject, Body()]
Cursor = Annotated[str | None, Query(max_length=64)]


# ---------------------------------------------------------------- the catalog


@router.get("/catalog")
def catalog_status(operator: OperatorKey) -> dict[str, Any]:
    return {"data": catalog_admin.status()}


@router.post("/catalog/seed")
def seed_catalog(operator: OperatorKey) -> dict[str, Any]:
    return {"data": catalog_admin.seed()}


@router.get("/catalog/export")
def export_catalog(operator: OperatorKey) -> dict[str, Any]:
    return {"data": catalog_admin.export()}


@router.post("/catalog/import")
def import_catalog(operator: OperatorKey, document: Json, replace: bool = False) -> dict[str, Any]:
    return {"data": catalog_admin.import_document(document, replace=replace)}


@router.get("/models")
def list_models(operator: OperatorKey) -> dict[str, Any]:
    return {"data": catalog_admin.list_models()}


@router.post("/models", status_code=201)
def create_model(operator: OperatorKey, spec: Json) -> dict[str, Any]:
    return {"data": catalog_admin.create_model(spec)}


@router.get("/models/{model_id:path}")
def get_model(operator: OperatorKey, model_id: str) -> dict[str, Any]:
    return {"data": catalog_admin.get_model(model_id)}


@router.patch("/models/{model_id:path}")
def update_model(operator: OperatorKey, model_id: str, patch: Json) -> dict[str, Any]:
    return {"data": catalog_admin.update_model(model_id, patch)}


@router.delete("/models/{model_id:path}")
def delete_model(operator: OperatorKey, model_id: str) -> dict[str, Any]:
    catalog_admin.delete_model(model_id)
    return {"data": {"id": model_id, "deleted": True}}


@router.get("/providers")
def list_providers(operator: OperatorKey) -> dict[str, Any]:
    return {"data": catalog_admin.list_providers()}


@router.put("/providers/{name}")
def put_provider(operator: OperatorKey, name: str, spec: Json) -> dict[str, Any]:
    return {"data": catalog_admin.put_provider(name, spec)}


@router.delete("/providers/{name}")
def delete_provider(operator: OperatorKey, name: str) -> dict[str, Any]:
    catalog_admin.delete_provider(name)
    return {"data": {"name": name, "deleted": True}}


# ---------------------------------------------------------------- channels, groups, settings


@router.get("/channels")
def list_channels(operator: OperatorKey) -> dict[str, Any]:
    return {"data": channel_admin.list_channels()}


@router.post("/channels", status_code=201)
def create_channel(operator: OperatorKey, body: Json) -> dict[str, Any]:
    return {"data": channel_admin.create_channel(*channel_input(body))}


@router.get("/channels/{channel_id}")
def get_channel(operator: OperatorKey, channel_id: str) -> dict[str, Any]:
    return {"data": channel_admin.get_channel(channel_id)}


@router.patch("/channels/{channel_id}")
def update_channel(operator: OperatorKey, channel_id: str, body: Json) -> dict[str, Any]:
    return {"data": channel_admin.update_channel(channel_id, *channel_input(body))}


@router.delete("/channels/{channel_id}")
def delete_channel(operator: OperatorKey, channel_id: str) -> dict[str, Any]:
    channel_admin.delete_channel(channel_id)
    return {"data": {"id": channel_id, "deleted": True}}


@router.get("/groups")
def list_groups(operator: OperatorKey) -> dict[str, Any]:
    return {"data": channel_admin.list_groups()}


@router.put("/groups/{name}")
def put_group(operator: OperatorKey, name: str, spec: Json) -> dict[str, Any]:
    return {"data": channel_admin.put_group(name, spec)}


@router.delete("/groups/{name}")
def delete_group(operator: OperatorKey, name: str) -> dict[str, Any]:
    channel_admin.delete_group(name)
    return {"data": {"name": name, "deleted": True}}


@router.get("/accounts/{account_id}")
def get_account_profile(operator: OperatorKey, account_id: str) -> dict[str, Any]:
    return {"data": channel_admin.account_profile(account_id)}


@router.put("/accounts/{account_id}/group")
def set_account_group(operator: OperatorKey, account_id: str, body: GroupAssignment) -> dict[str, Any]:
    return {"data": channel_admin.set_account_group(account_id, body.group)}


@router.get("/settings")
def get_settings(operator: OperatorKey) -> dict[str, Any]:
    return {"data": channel_admin.get_control_settings()}


@router.patch("/settings")
def update_settings(operator: OperatorKey, patch: Json) -> dict[str, Any]:
    return {"data": channel_admin.update_control_settings(patch)}


# ---------------------------------------------------------------- top-up codes


@router.post("/codes", status_code=201)
def mint_codes(operator: OperatorKey, body: CodeMint) -> dict[str, Any]:
    return topup_codes.mint(body.amount_micro(), body.count, expires_at=body.expiry(), batch=body.batch)


@router.get("/codes")
def list_codes(
    operator: OperatorKey, cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=100)] = 100
) -> dict[str, Any]:
    return topup_codes.list_codes(cursor, limit)


@router.patch("/codes/{code_id}")
def update_code(operator: OperatorKey, code_id: str, body: CodeUpdate) -> dict[str, Any]:
    return {"data": topup_codes.set_disabled(code_id, body.disabled)}


app = create_app(router, title="AI Gateway: admin")
handler = asgi_handler(app)
