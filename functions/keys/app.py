"""Key and account routes. Buffered: Mangum adapts API Gateway events to the FastAPI app (gateway.entry)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.entry import asgi_handler
from gateway.http import AnyKey, create_app
from gateway.services import accounts

router = APIRouter()


@router.get("/api/v1/key")
def current_key(principal: AnyKey) -> dict[str, Any]:
    return accounts.own_key(principal)


@router.get("/api/user/self")
def current_account(principal: AnyKey) -> dict[str, Any]:
    return accounts.self_view(principal)


@router.get("/api/user/self/quota")
def current_quota(principal: AnyKey) -> dict[str, Any]:
    return accounts.quota(principal)


app = create_app(router, title="AI Gateway: keys")
handler = asgi_handler(app)
