"""Admission on the test catalog, the credit store and the key store replaced: what is held, for
which model, and what refuses a request before any upstream is asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import pytest

from gateway.catalog.registry import ModelEntry
from gateway.errors import ApiDisabled, InsufficientCredits, InvalidRequest, RateLimited, ServiceUnavailable
from gateway.providers.capabilities import CHAT, EMBEDDINGS
from gateway.services.admission import ATTEMPTS, MIN_HOLD, Admission, admit
from gateway.services.routing import Route
from gateway.storage import stores
from gateway.storage.credits import KeyGuard
from tests.support.recording_stores import RecordingCredits, RecordingKeys, key_record, principal, recording_stores

pytestmark = pytest.mark.usefixtures("fixture_catalog")


@dataclass
class Store:
    credits: RecordingCredits
    keys: RecordingKeys


@pytest.fixture
def store() -> Iterator[Store]:
    recorded = Store(RecordingCredits(), RecordingKeys())
    stores.use(recording_stores(recorded.credits, recorded.keys))
    yield recorded
    stores.use(None)


def admitted(model: str = "test/multi", cost: int = 1_000, **kwargs: object) -> Admission:
    return admitted_with_headers(model, cost, **kwargs)[0]


def admitted_with_headers(
    model: str = "test/multi", cost: int = 1_000, **kwargs: object
) -> tuple[Admission, dict[str, str]]:
    caller = kwargs.pop("principal", principal())

    async def run() -> tuple[Admission, dict[str, str]]:
        admission = await admit(caller, model, CHAT, lambda _: cost, "gen-1", **kwargs)
        return admission, await admission.headers()

    return anyio.run(run)


def test_the_cost_bound_of_the_routed_model_is_held_for_the_trace(store: Store) -> None:
    admission = admitted("echo", cost=4_200)
    ((reservation, guard, also),) = store.credits.reserved
    assert (reservation.trace_id, reservation.model, reservation.amount) == ("gen-1", "test/echo", 4_200)
    assert (guard, also) == (KeyGuard(), [])  # no limit, no rate limit: nothing but the balance shard
    assert store.credits.gates == [0]  # the account's gate, as read with the key
    assert admission.route.entry.id == "test/echo"
    assert admission.reservation is not None


def test_a_free_model_still_holds_something(store: Store) -> None:
    admitted(cost=0)
    assert store.credits.reserved[0][0].amount == MIN_HOLD


def test_items_named_for_the_route_are_written_with_the_hold(store: Store) -> None:
    def task(route: Route) -> list[dict[str, object]]:
        return [{"Put": {"route": route.entry.id}}]

    admitted("test/echo", also=task)
    assert store.credits.reserved[0][2] == [{"Put": {"route": "test/echo"}}]


def test_a_cost_bound_that_refuses_the_model_holds_nothing(store: Store) -> None:
    def refuse(entry: ModelEntry) -> int:
        raise InvalidRequest(f"`{entry.id}` is not an embedding model.", param="model")

    with pytest.raises(InvalidRequest):
        anyio.run(admit, principal(), "test/echo", EMBEDDINGS, refuse, "gen-2")
    with pytest.raises(InvalidRequest):
        anyio.run(admit, principal(), "test/claude", EMBEDDINGS, lambda _: 1, "gen-3")  # no provider embeds
    assert store.credits.reserved == []


def test_a_key_changed_since_it_was_read_is_read_again_and_its_new_allow_list_routes(store: Store) -> None:
    changed = key_record(version=2, allowed_providers=("fake-anthropic",))
    store.keys.records[changed.key_hash] = changed
    store.credits.refusals = ["key_changed"]
    admission = admitted("test/multi")
    assert store.keys.reads == 1
    assert admission.principal.key.version == 2
    assert [candidate.provider for candidate in admission.route.candidates] == ["fake-anthropic"]
    assert store.credits.gates == [2]  # the gate read again with the key


def test_a_key_disabled_meanwhile_is_refused_when_read_again(store: Store) -> None:
    disabled = key_record(version=2, disabled=True)
    store.keys.records[disabled.key_hash] = disabled
    store.credits.refusals = ["key_changed"]
    with pytest.raises(ApiDisabled):
        admitted()
    assert store.credits.reserved == []


def test_a_key_that_keeps_changing_is_a_503_to_retry(store: Store) -> None:
    store.keys.records[key_record().key_hash] = key_record()
    store.credits.refusals = ["key_changed"] * ATTEMPTS
    with pytest.raises(ServiceUnavailable):
        admitted()


def test_a_refused_hold_is_the_api_error_and_reserves_nothing(store: Store) -> None:
    store.credits.refusals = ["insufficient_credits"]
    with pytest.raises(InsufficientCredits):
        admitted()
    store.credits.refusals = ["rate_limited"]
    with pytest.raises(RateLimited) as limited:
        admitted(principal=principal(rate_limit=5))
    assert limited.value.headers["x-ratelimit-remaining-requests"] == "0"
    assert store.credits.reserved == []


def test_a_rate_limited_key_is_told_its_window_and_others_get_no_headers(store: Store) -> None:
    store.keys.window_requests = 2
    _, headers = admitted_with_headers(principal=principal(rate_limit=5))
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("5", "3")
    assert admitted_with_headers(principal=principal())[1] == {}


def test_the_principal_admitted_is_the_one_the_hold_saw(store: Store) -> None:
    caller = principal()
    assert admitted(principal=caller).principal is caller
