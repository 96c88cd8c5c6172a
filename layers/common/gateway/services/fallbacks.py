"""Chat's route: the candidates of `model`, then of OpenRouter's fallback `models`, in order, each
with what the hold priced for it (its model's prompt bound, output cap and cost), so that the upstream
that answers is capped and charged as its own model.

A request is held for the dearest of its models; the providers of each are tried as routing orders
them (`provider` preferences, the key's allow-lists, health), refined by OpenRouter's `sort` and
`max_price`. Fields only an upstream speaking the client's own format honours leave the other
upstreams out. A model that cannot serve the request (unknown, not allowed, unconfigured, over
`max_price`) is passed over for the next; when none can, the first model's refusal is the answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog.registry import ModelEntry
from gateway.errors import GatewayError, InvalidRequest
from gateway.formats.inbound import NativeOnly
from gateway.providers.capabilities import Capability
from gateway.services.preferences import ranked, within_max_price
from gateway.services.routing import Candidate, Preferences, Route, route_for
from gateway.storage.api_keys import ApiKeyRecord


@dataclass(frozen=True)
class Leg:
    """What the hold priced for the candidates of one model."""

    entry: ModelEntry
    prompt_bound: int  # tokens the prompt can come to on this model
    output_cap: int  # output tokens per choice: what the upstream is told it may produce
    cost_bound: int  # micro-credits: the most a request to this model can cost


@dataclass
class Plan:
    route: Route
    legs: dict[int, Leg] = field(default_factory=dict)  # id(candidate) -> its model's leg

    def leg(self, candidate: Candidate) -> Leg:
        return self.legs[id(candidate)]

    @property
    def cost_bound(self) -> int:
        return max(leg.cost_bound for leg in self.legs.values())


def plan(
    key: ApiKeyRecord,
    names: Sequence[str],
    capability: Capability[Any],
    preferences: Preferences,
    *,
    leg_for: Callable[[ModelEntry, Sequence[Candidate]], Leg],  # a model's leg, for the candidates it has
    native: Callable[[Candidate], bool],
    native_only: Sequence[NativeOnly] = (),
) -> Plan:
    """Raises the first model's refusal when no model of `names` can serve the request."""
    candidates: list[Candidate] = []
    legs: dict[int, Leg] = {}
    first: ModelEntry | None = None
    refusal: GatewayError | None = None
    for position, name in enumerate(names):
        try:
            route = route_for(name, key, capability, preferences)
            if not within_max_price(route.entry, preferences.max_price):
                raise InvalidRequest(
                    f"`{route.entry.id}` costs more than `provider.max_price` allows.", param="provider.max_price"
                )
            served = [c for c in route.candidates if native(c)] if native_only else list(route.candidates)
            if not served:
                first_part = native_only[0]
                raise InvalidRequest(
                    f"{first_part.reason.rstrip('.')}: only a provider that speaks this endpoint's own format takes "
                    f"it, and `{route.entry.id}` has none.",
                    param=first_part.param,
                )
            leg = leg_for(route.entry, served)
        except GatewayError as error:
            if position > 0 and isinstance(error, InvalidRequest) and error.param == "model":
                error.param = f"models[{position - 1}]"
            refusal = refusal or error
            continue
        first = first or route.entry
        for candidate in ranked(served, [c.provider for c in served], preferences.sort):
            candidates.append(candidate)
            legs[id(candidate)] = leg
    if first is None:
        assert refusal is not None
        raise refusal
    return Plan(Route(first, tuple(candidates), preferences.source), legs)
