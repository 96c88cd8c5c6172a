"""Images routes (to come). The function is deployed so its routes can be added without new plumbing."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.entry import asgi_handler
from gateway.http import create_app

router = APIRouter()

app = create_app(router, title="AI Gateway: images")
handler = asgi_handler(app)
