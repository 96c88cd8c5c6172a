"""A function's routes, declared as on FastAPI's APIRouter (`@routes.get(path)`, `include`) and added
to the app that serves them (http.create_app), where each is built when a request first reaches its
path. FastAPI builds a route as it is declared (parsing its signature, making pydantic validators for
its parameters and answer), and builds an included router's routes again for the app: ~1 ms a route,
twice, in every cold start, of which a function's first request needs one or two. Errors are
answered in the envelope of `format` (an inbound format's name: `anthropic`, `api_v1`, ...)."""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from gateway.web import APIRoute, APIRouter, FastAPI

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class Routes:
    """Routes declared in one error envelope, `format`; `include` places another set among them."""

    def __init__(self, format: str = "openai", *, prefix: str = "", dependencies: Sequence[Any] = ()) -> None:
        self.format = format
        self.prefix = prefix
        self.dependencies = list(dependencies)  # after the app's own, before each route's
        self.entries: list[_Declared | Routes] = []  # in the order they are matched

    def get(self, path: str, *, status_code: int | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._declare("GET", path, status_code)

    def post(self, path: str, *, status_code: int | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._declare("POST", path, status_code)

    def put(self, path: str, *, status_code: int | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._declare("PUT", path, status_code)

    def patch(self, path: str, *, status_code: int | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._declare("PATCH", path, status_code)

    def delete(self, path: str, *, status_code: int | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._declare("DELETE", path, status_code)

    def include(self, routes: Routes) -> None:
        self.entries.append(routes)

    def add_to(self, app: FastAPI) -> None:
        """Each route in its place among the app's, built as the app's router would build it."""
        builder = copy.copy(app.router)  # the app router's settings (its dependencies first), its own list
        builder.routes = []
        self._add(app, builder, "", [])

    def _add(self, app: FastAPI, builder: APIRouter, prefix: str, dependencies: list[Any]) -> None:
        prefix, dependencies = prefix + self.prefix, [*dependencies, *self.dependencies]
        for entry in self.entries:
            if isinstance(entry, Routes):
                entry._add(app, builder, prefix, dependencies)
            else:
                build = functools.partial(
                    builder.add_api_route,
                    prefix + entry.path,
                    entry.endpoint,
                    methods=[entry.method],
                    status_code=entry.status_code,
                    dependencies=dependencies,
                    route_class_override=_route_class(self.format),
                )
                app.router.routes.append(LazyRoute(prefix + entry.path, entry, builder, build))

    def _declare(self, method: str, path: str, status_code: int | None) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self.entries.append(_Declared(method, path, endpoint, status_code))
            return endpoint

        return declare


@dataclass(frozen=True)
class _Declared:
    method: str
    path: str
    endpoint: Callable[..., Any]
    status_code: int | None


class LazyRoute(BaseRoute):
    """A route that is built (FastAPI's APIRoute) when a request first reaches its path, and then
    matches and answers as that route. A path it does not match needs nothing built to say so."""

    _building = threading.Lock()

    def __init__(self, path: str, declared: _Declared, builder: APIRouter, build: Callable[[], None]) -> None:
        self._path_only = Route(path, declared.endpoint)  # Starlette's matching, which APIRoute's extends
        self.path, self.path_format, self.methods = path, self._path_only.path_format, {declared.method}
        self._builder = builder
        self._build = build
        self._built: BaseRoute | None = None

    def built(self) -> BaseRoute:
        with self._building:
            if self._built is None:
                self._build()  # onto the builder's own list, from where it is taken
                self._built = self._builder.routes.pop()
            return self._built

    def is_built(self) -> bool:
        return self._built is not None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._path_only.matches(scope)[0] is Match.NONE:
            return Match.NONE, {}
        return self.built().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.built().handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        return self.built().url_path_for(name, **path_params)


def build_all(app: FastAPI) -> None:
    """Every route of `app` built, in its place: what reads the app's routes as FastAPI's (its OpenAPI
    document) sees them all."""
    app.router.routes[:] = [route.built() if isinstance(route, LazyRoute) else route for route in app.router.routes]


@functools.cache
def _route_class(format_name: str) -> type[APIRoute]:
    """Routes whose errors are answered in the envelope of `format_name` (read by http._error_response)."""
    return type(f"{format_name.title()}Route", (APIRoute,), {"format": format_name})
