"""poeti's shapes: `{"code": 200, "data": ...}` around usage and the trace listing, whose page has
`items`, `total`, `page` and `page_size`. Pages follow cursors (a listing reads a bounded number of
traces per call): `page` is the number of the page a cursor leads to, carried in the cursor; a later
page is reached with the previous page's `next_cursor`, not by its number alone."""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest

OK = 200
MAX_PAGE = 1_000_000


def envelope(data: Any) -> dict[str, Any]:
    return {"code": OK, "data": data}


def page_cursor(cursor: str | None, page: int | None) -> tuple[str | None, int]:
    """(the repository's cursor, the page number) from a listing's `cursor` and `page` parameters."""
    if cursor is None:
        if page not in (None, 1):
            raise InvalidRequest(
                "Pages after the first are reached with the previous page's `next_cursor`.", param="page"
            )
        return None, 1
    number, dot, inner = cursor.partition(".")
    numbered = number.isascii() and number.isdigit() and len(number) <= 7
    if not dot or not inner or not numbered or not 1 < int(number) <= MAX_PAGE:
        raise InvalidRequest("This cursor is not valid for this listing.", param="cursor")
    if page is not None and page != int(number):
        raise InvalidRequest("`page` is not the page this cursor leads to.", param="page")
    return inner, int(number)


def trace_page(listing: dict[str, Any], *, page: int, page_size: int, total: int | None) -> dict[str, Any]:
    """A listing of gateway.services.usage.traces as poeti's page."""
    inner = listing["next_cursor"]
    return envelope(
        {
            "items": listing["data"],
            "total": total,
            "page": page,
            "page_size": page_size,
            "next_cursor": f"{page + 1}.{inner}" if inner else None,
            "has_more": listing["has_more"],
        }
    )
