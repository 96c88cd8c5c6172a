"""Usage totals and request traces (any key: its own traffic; a management key: its account's);
`/api/v1/usage` and `/api/v1/request-traces` in poeti's envelope (services.poeti_views).
Buffered: Mangum adapts API Gateway events to the FastAPI app (gateway.entry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from gateway.entry import asgi_handler
from gateway.http import AnyKey, create_app
from gateway.routes import Routes
from gateway.services import poeti_views as poeti
from gateway.services import usage
from gateway.services.usage import DateRange
from gateway.web import Path, Query

router = Routes()  # OpenAI's error envelope (PotatoRouter's paths)
api_v1_routes = Routes("api_v1")  # the /api/v1 envelope: type equal to code
Day = Annotated[str | None, Query(max_length=10)]
Filter = Annotated[str | None, Query(max_length=256)]
TraceId = Annotated[str, Path(min_length=1, max_length=128)]  # a DynamoDB key holds at most 2,048 bytes


@api_v1_routes.get("/api/v1/usage")
def get_usage(
    principal: AnyKey, date_from: Day = None, date_to: Day = None, model: Filter = None, key: Filter = None
) -> dict[str, Any]:
    return poeti.envelope(usage.usage(principal, DateRange.parse(date_from, date_to), model=model, key=key))


@router.get("/api/usage")
def get_usage_alias(
    principal: AnyKey, start_date: Day = None, end_date: Day = None, model: Filter = None
) -> dict[str, Any]:
    """PotatoRouter's shape of the same totals."""
    return usage.usage(principal, DateRange.parse(start_date, end_date), model=model, key=None)


@api_v1_routes.get("/api/v1/request-traces")
def list_traces(
    principal: AnyKey,
    status: Literal["success", "error", "expired"] | None = None,
    model: Filter = None,
    key: Filter = None,
    date_from: Day = None,
    date_to: Day = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    page: Annotated[int | None, Query(ge=1, le=poeti.MAX_PAGE)] = None,
) -> dict[str, Any]:
    dates = DateRange.parse(date_from, date_to)
    position, number = poeti.page_cursor(cursor, page)
    listing = usage.traces(principal, dates, status=status, model=model, key=key, page_size=page_size, cursor=position)
    total = usage.trace_total(principal, dates, status=status, model=model, key=key)
    return poeti.trace_page(listing, page=number, page_size=page_size, total=total)


@api_v1_routes.get("/api/v1/request-traces/stats")
def trace_stats(principal: AnyKey, date_from: Day = None, date_to: Day = None, key: Filter = None) -> dict[str, Any]:
    return usage.stats(principal, DateRange.parse(date_from, date_to), key=key)


@api_v1_routes.get("/api/v1/request-traces/{trace_id}")
def get_trace(trace_id: TraceId, principal: AnyKey) -> dict[str, Any]:
    return usage.trace(principal, trace_id)


@api_v1_routes.get("/api/v1/generation")
def get_generation(principal: AnyKey, id: Annotated[str, Query(min_length=1, max_length=128)]) -> dict[str, Any]:
    """OpenRouter's shape: one request by its id (our X-Trace-ID)."""
    return usage.trace(principal, id)


router.include(api_v1_routes)
app = create_app(router, title="AI Gateway: usage")
handler = asgi_handler(app)
