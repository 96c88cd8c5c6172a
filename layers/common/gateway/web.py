"""FastAPI's names, as the gateway's modules and functions import them: FastAPI is imported here with
the build of its own pydantic models (its OpenAPI document's ~45 classes) deferred to their first
use. The functions serve no OpenAPI (the dev server and the tests make it), so a cold start no
longer spends ~60 ms building them. Only FastAPI's models are deferred; the gateway's build as
they are defined."""

from __future__ import annotations

from pydantic import BaseModel


def _import_fastapi_with_deferred_models() -> None:
    config = BaseModel.model_config  # where every model's config starts (pydantic's inheritance)
    kept = config.copy()
    config["defer_build"] = True
    try:
        import fastapi  # noqa: F401
    finally:
        config.pop("defer_build")
        config.update(kept)


_import_fastapi_with_deferred_models()

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request, Response  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, StreamingResponse  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402

__all__ = [
    "APIRoute",
    "APIRouter",
    "Body",
    "Depends",
    "FastAPI",
    "Header",
    "JSONResponse",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "Response",
    "StreamingResponse",
]
