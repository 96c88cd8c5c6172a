"""The terms one request is admitted on: the catalog snapshot it was routed on and the account's
profile (price group, own keys). While admission routes a request, they are the context every route
is made in (`applied`): `routing.route_for` routes to the account's own keys and prices the model at
the account's ratio, whoever calls it (chat's fallback models plan several routes), so the hold and
the charge of every candidate come from the same prices."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.catalog.runtime import PriceBasis, Snapshot, priced
from gateway.storage.profiles import AccountProfile

if TYPE_CHECKING:
    from gateway.services.routing import Route

_current: contextvars.ContextVar[Terms | None] = contextvars.ContextVar("admission_terms", default=None)


@dataclass(frozen=True)
class Terms:
    snapshot: Snapshot
    profile: AccountProfile

    def ratio(self, own_key: bool) -> Decimal:
        """The account's price group's ratio, times the own-key fee for its own keys."""
        fee = self.snapshot.byok_ratio() if own_key else Decimal(1)
        return self.snapshot.group_ratio(self.profile.group) * fee

    def price(self, route: Route) -> Route:
        """The route with its model at this account's prices (its own keys' fee when it goes to them:
        then every candidate does)."""
        return replace(route, entry=priced(route.entry, self.ratio(route.first.own_key)))

    def basis(self, route: Route) -> PriceBasis:
        """What the reservation records, and checks (the profile's version)."""
        own_key = route.first.own_key
        return PriceBasis(self.snapshot.version, self.ratio(own_key), own_key, self.profile.version)


def current() -> Terms | None:
    return _current.get()


@contextmanager
def applied(terms: Terms) -> Iterator[Terms]:
    token = _current.set(terms)
    try:
        yield terms
    finally:
        _current.reset(token)
