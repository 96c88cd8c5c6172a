"""Upstream channels at runtime: several keys and base URLs per provider, each a fake server of its own
that accepts only its channel's key. Channels added or disabled reach the running gateway within
seconds; traffic is balanced by weight within a priority; a failing channel hands over to the next;
per-channel request and token caps hold; each attempt names its channel; no API shows a secret."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gateway import clock, periods
from gateway.providers import health
from gateway.storage.stores import stores
from tests.conftest import balance_of, ledger_entry
from tests.support.control import AdminApi, Upstream, chat, eventually, operator, unique, upstreams

__all__ = ["operator"]
GRANT = 10_000_000


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Upstream]]:
    yield from upstreams("a", "b", "c")


@pytest.fixture
def lane(operator: AdminApi, servers: dict[str, Upstream], upstream: Any) -> Iterator[Any]:
    """A provider with no key of its own and a model it serves; `lane.add(server, **settings)` gives
    it a channel to one of the fake servers. Everything is removed afterwards."""

    class Lane:
        def __init__(self) -> None:
            self.provider = unique("ops-up")
            self.model = unique("ops/lane")
            self.channels: list[str] = []

        def add(self, server: str, *, id: str | None = None, **settings: Any) -> str:
            channel_id = id or unique(f"ch-{server}")
            body = {"id": channel_id, "provider": self.provider, "base_url": servers[server].url}
            operator.post("/channels", {**body, "api_key": servers[server].key, **settings})
            self.channels.append(channel_id)
            return channel_id

    made = Lane()
    operator.put(f"/providers/{made.provider}", {"kind": "openai"})
    operator.post(
        "/models",
        {
            "id": made.model, "display_name": "Lane", "owned_by": "ops", "context_length": 8192,
            "max_output_tokens": 100, "pricing": {"input": "1", "output": "2"},
            "providers": [{"provider": made.provider, "model": "echo"}],
        },
    )  # fmt: skip
    for server in servers.values():
        server.fake.reset()
    health.reset()
    yield made
    for channel_id in made.channels:
        operator.delete(f"/channels/{channel_id}")
    operator.delete(f"/models/{made.model}")
    operator.delete(f"/providers/{made.provider}")


def served_by(response: Any) -> list[tuple[str, int]]:
    """(channel, http status) of each attempt of the request, from its trace."""
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return [(attempt["channel"], attempt["http_status"]) for attempt in entry["attempts"]]


def fresh_minute(needed: float = 20.0) -> None:
    """Caps count per clock minute: start a capped test with `needed` seconds of the minute left."""
    left = periods.seconds_to_next_window(clock.now())
    if left < needed:
        time.sleep(left + 0.2)


def test_adding_then_disabling_a_channel_reaches_the_gateway(gateway_url, operator, lane, servers, make_tenant):
    tenant = make_tenant("10")
    eventually(lambda: chat(gateway_url, tenant.key, lane.model).status_code == 503)  # the model, and no upstream
    channel = lane.add("a")
    answered = eventually(lambda: (r := chat(gateway_url, tenant.key, lane.model)).status_code == 200 and r)
    assert served_by(answered) == [(channel, 200)]
    assert servers["a"].keys_seen() == {f"Bearer {servers['a'].key}"}  # the channel's own key, to its own URL

    operator.patch(f"/channels/{channel}", {"enabled": False})
    refused = eventually(lambda: (r := chat(gateway_url, tenant.key, lane.model)).status_code == 503 and r)
    assert refused.json()["error"]["code"] == "provider_not_configured"


def test_traffic_is_balanced_by_weight_within_a_priority(gateway_url, lane, servers, make_tenant):
    """Given channels a (weight 1) and b (weight 3) at priority 0, and c (weight 10) at priority -1
    When 240 requests are made
    Then c gets none, and a gets a quarter of them within tolerance (binomial: sd 6.7; 3.7 sd)."""
    tenant = make_tenant("50")
    lane.add("a", weight=1)
    lane.add("b", weight=3)
    lane.add("c", weight=10, priority=-1)
    loaded(lane, 3)
    for server in servers.values():
        server.fake.reset()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: chat(gateway_url, tenant.key, lane.model).status_code, range(240)))
    assert Counter(statuses) == {200: 240}
    counts = {name: server.chats() for name, server in servers.items()}
    assert counts["c"] == 0
    assert counts["a"] + counts["b"] == 240
    assert abs(counts["a"] - 60) <= 25, counts


def test_a_failing_channel_hands_over_to_the_next_and_cools_down(gateway_url, lane, servers, make_tenant):
    tenant = make_tenant("10")
    failing = lane.add("a", priority=10, model_map={lane.model: "fail-500"})
    backup = lane.add("b")
    response = eventually(
        lambda: (r := chat(gateway_url, tenant.key, lane.model)).status_code == 200 and len(served_by(r)) == 2 and r
    )
    assert served_by(response) == [(failing, 502), (backup, 200)]
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["channel"] == backup
    for _ in range(health.FAILURES_TO_COOL):
        chat(gateway_url, tenant.key, lane.model)
    assert health.cooling(failing)
    assert served_by(chat(gateway_url, tenant.key, lane.model)) == [(backup, 200)]  # the cooling channel goes last


def test_a_channels_requests_per_minute_cap_sends_the_rest_elsewhere(gateway_url, lane, make_tenant):
    tenant = make_tenant("10")
    capped = lane.add("a", priority=10, rpm=3)
    spare = lane.add("b")
    loaded(lane, 2)
    fresh_minute()
    used = [served_by(chat(gateway_url, tenant.key, lane.model))[-1][0] for _ in range(6)]
    window = periods.rate_window(clock.now())
    counted = stores().channel_windows.usage(capped, window)[0]
    assert used.count(capped) == counted == 3
    assert used[-1] == spare


def test_a_full_capped_channel_alone_is_a_429_that_costs_nothing(gateway_url, lane, make_tenant):
    tenant = make_tenant("10")
    lane.add("a", rpm=2)
    loaded(lane, 1)
    fresh_minute()
    answers = [chat(gateway_url, tenant.key, lane.model) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[-1]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "provider_rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    spent = GRANT - balance_of(tenant.account_id)
    assert chat(gateway_url, tenant.key, lane.model).status_code == 429
    assert GRANT - balance_of(tenant.account_id) == spent


def test_a_channels_tokens_per_minute_cap(gateway_url, lane, make_tenant):
    """The fake answers 'hello there' with 2 prompt and 3 completion tokens: one request fills a cap of 5."""
    tenant = make_tenant("10")
    capped = lane.add("a", priority=10, tpm=5)
    spare = lane.add("b")
    loaded(lane, 2)
    fresh_minute()
    first = chat(gateway_url, tenant.key, lane.model)
    assert served_by(first) == [(capped, 200)]
    assert stores().channel_windows.usage(capped, periods.rate_window(clock.now()))[1] >= 5
    assert served_by(chat(gateway_url, tenant.key, lane.model)) == [(spare, 200)]


def test_a_fallback_to_a_capped_channel_counts_it_too(gateway_url, lane, make_tenant):
    tenant = make_tenant("10")
    failing = lane.add("a", priority=10, model_map={lane.model: "fail-500"})
    capped = lane.add("b", rpm=1)
    loaded(lane, 2)
    fresh_minute()
    assert served_by(chat(gateway_url, tenant.key, lane.model)) == [(failing, 502), (capped, 200)]
    before = balance_of(tenant.account_id)
    refused = chat(gateway_url, tenant.key, lane.model)
    assert refused.status_code == 429
    assert served_by(refused) == [(failing, 502), (capped, 429)]
    assert balance_of(tenant.account_id) == before


def test_no_api_shows_a_channels_secret(gateway_url, operator, lane, servers, make_tenant):
    channel = lane.add("a")
    secret = servers["a"].key
    shown = [operator.get("/channels"), operator.get(f"/channels/{channel}"), operator.get("/catalog/export")]
    assert all(secret not in str(view) for view in shown)
    assert operator.get(f"/channels/{channel}")["has_secret"] is True
    tenant = make_tenant("10")
    answered = eventually(lambda: (r := chat(gateway_url, tenant.key, lane.model)).status_code == 200 and r)
    assert secret not in answered.text
    assert secret not in str(ledger_entry(answered.headers["x-trace-id"]))
    rotated = operator.patch(f"/channels/{channel}", {"api_key": "sk-rotated-but-wrong"})
    assert "sk-rotated" not in str(rotated)
    eventually(lambda: chat(gateway_url, tenant.key, lane.model).status_code == 502)  # the new key is used
    operator.patch(f"/channels/{channel}", {"api_key": secret})
    eventually(lambda: chat(gateway_url, tenant.key, lane.model).status_code == 200)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"provider": "nowhere-known"}, "provider"),
        ({"provider": "fake-bedrock"}, "provider"),
        ({"models": ["test/echo"]}, "models"),  # not served by this channel's provider
        ({"id": "fake"}, "id"),  # a provider's name
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"weight": -1}, "weight"),
        ({"secret_ref": "arn:aws:secretsmanager:us-east-1:1:secret:elsewhere/key"}, "secret_ref"),
        ({"api_key": "has a space"}, "api_key"),
    ],
)
def test_a_bad_channel_is_a_400(operator, lane, servers, change, param):
    body = {"id": unique("ch-bad"), "provider": lane.provider, "base_url": servers["a"].url, **change}
    refused = operator.post("/channels", body, expect=400)
    assert refused["error"]["param"] == param


def test_a_channel_deleted_then_added_again_with_its_key_serves(gateway_url, operator, lane, make_tenant):
    """Deleting a channel schedules its secret for deletion (restorable for 7 days, when Secrets Manager
    takes no new value under its name): the channel added again under the same id gets a secret of its
    own, and serves; a key given to it later goes into that secret."""
    from gateway.storage import vault

    tenant = make_tenant("10")
    channel = lane.add("a")
    first = operator.get(f"/channels/{channel}")["secret_ref"]
    operator.delete(f"/channels/{channel}")
    lane.channels.remove(channel)

    lane.add("a", id=channel)
    vault.channel_secrets.clear()
    answered = eventually(lambda: (r := chat(gateway_url, tenant.key, lane.model)).status_code == 200 and r)
    assert served_by(answered) == [(channel, 200)]
    second = operator.get(f"/channels/{channel}")["secret_ref"]
    assert second != first
    assert (vault.secret_state(first), vault.secret_state(second)) == ("deleted", "live")
    rotated = operator.patch(f"/channels/{channel}", {"api_key": "sk-rotated"})
    assert rotated["secret_ref"] == second
    assert vault.read_secret(second) == "sk-rotated"


@pytest.mark.parametrize("how", ["create", "patch", "import"])
def test_a_secret_ref_to_a_secret_being_deleted_or_missing_is_a_400(operator, lane, servers, how):
    from gateway.config import get_settings

    gone = lane.add("b")
    deleted = operator.get(f"/channels/{gone}")["secret_ref"]
    operator.delete(f"/channels/{gone}")
    lane.channels.remove(gone)
    existing = lane.add("c")
    version = operator.get("/catalog")["version"]
    for ref in (deleted, f"{get_settings().channel_secret_prefix}{unique('never-made')}"):
        body = {"id": unique("ch-ref"), "provider": lane.provider, "base_url": servers["b"].url, "secret_ref": ref}
        if how == "create":
            refused = operator.post("/channels", body, expect=400)
        elif how == "patch":
            refused = operator.patch(f"/channels/{existing}", {"secret_ref": ref}, expect=400)
        else:
            refused = operator.post("/catalog/import", {"channels": [body]}, expect=400)
        assert refused["error"]["param"] == "secret_ref", refused
    assert operator.get("/catalog")["version"] == version


def loaded(lane: Any, count: int) -> None:
    """Wait until the gateway's catalog (this process's: the dev server runs in it) has the lane's
    `count` channels, without a request (a request would count in a capped channel's minute)."""
    from gateway.catalog import live

    eventually(lambda: len([c for c in live.snapshot().channels if c.provider == lane.provider]) >= count)
