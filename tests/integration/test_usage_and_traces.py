"""Usage totals and request traces over HTTP, after a mixed run on two accounts: they equal the
ledger to the micro-credit, page through every request exactly once, and never cross accounts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.services import accounts, keys
from tests.conftest import aggregated, ledger_entry
from tests.integration.test_routing_fallback import chat as pinned_chat
from tests.support.keys_api import chat


@dataclass
class Run:
    """Who made which requests, and the ledger entry of each."""

    account: str
    management: str
    inference: dict[str, str] = field(default_factory=dict)  # name -> key
    hashes: dict[str, str] = field(default_factory=dict)  # name -> key hash
    entries: dict[str, list[dict]] = field(default_factory=dict)  # name -> ledger entries

    def all_entries(self) -> list[dict]:
        return [entry for entries in self.entries.values() for entry in entries]


def make_run(gateway_url: str, plan: dict[str, list[tuple[str, bool]]], limits: dict[str, int] | None = None) -> Run:
    account = accounts.create_account("usage", 50_000_000)
    run = Run(account.account_id, keys.issue_key(account.account_id, "ops", "management").key)
    for name, calls in plan.items():
        issued = keys.issue_key(
            account.account_id, name, "inference", **({"limit": limits[name]} if limits and name in limits else {})
        )
        run.inference[name], run.hashes[name] = issued.key, issued.record.key_hash
        run.entries[name] = []
        for model, stream in calls:
            response = chat(gateway_url, issued.key, model, stream=stream)
            if stream:
                response.read()
            entry = ledger_entry(response.headers["x-trace-id"])
            if entry is not None:  # refused before the reservation: no ledger entry
                run.entries[name].append(entry)
    return run


@pytest.fixture(scope="module")
def mixed(gateway_url, fake_upstream):  # type: ignore[no-untyped-def]
    fake_upstream.reset()
    first = make_run(
        gateway_url,
        {
            "alpha": [("test/echo", False)] * 3 + [("test/fail-500", False), ("test/no-usage", False)],
            "beta": [("test/echo", True), ("test/cut-stream", True), ("test/no-usage", False)],
            "capped": [("test/echo", False)],  # 402 on its key limit: no ledger entry
        },
        limits={"capped": 1},
    )
    second = make_run(gateway_url, {"gamma": [("test/echo", False)] * 2})
    aggregated()  # usage is added from the ledger's stream
    return first, second


def get(gateway_url: str, api_key: str, path: str, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_key}"}
    return httpx.get(f"{gateway_url}{path}", params=params, headers=headers, timeout=30)


def test_the_mixed_run_left_what_it_should_in_the_ledger(mixed):
    first, second = mixed
    assert len(first.entries["alpha"]) == 5
    assert len(first.entries["beta"]) == 3
    assert first.entries["capped"] == []
    assert {e["status"] for e in first.all_entries()} == {"success", "error"}
    assert len(second.all_entries()) == 2


def test_usage_totals_equal_the_ledger_to_the_micro_credit(gateway_url, mixed):
    first, _ = mixed
    answer = get(gateway_url, first.management, "/api/v1/usage").json()["data"]
    entries = first.all_entries()
    assert answer["total_requests"] == len(entries)
    assert answer["total_errors"] == sum(e["status"] != "success" for e in entries)
    assert answer["total_credits_micro"] == sum(e["credits"] for e in entries)
    assert answer["total_prompt_tokens"] == sum(e["prompt_tokens"] for e in entries)
    assert answer["total_completion_tokens"] == sum(e["completion_tokens"] for e in entries)
    assert answer["total_tokens"] == answer["total_prompt_tokens"] + answer["total_completion_tokens"]
    by_model = {row["model"]: row for row in answer["by_model"]}
    for model in {e["model"] for e in entries}:
        mine = [e for e in entries if e["model"] == model]
        assert by_model[model]["requests"] == len(mine)
        assert by_model[model]["credits_micro"] == sum(e["credits"] for e in mine)
    (day,) = answer["by_day"]
    assert day["date"] == entries[0]["day"]
    assert day["credits_micro"] == answer["total_credits_micro"]
    assert answer["total_cost_usd"] == pytest.approx(answer["total_credits_micro"] / 1_000_000)


def test_usage_filters_by_model_and_key_and_the_alias_agrees(gateway_url, mixed):
    first, _ = mixed
    by_key = get(gateway_url, first.management, "/api/v1/usage", key=first.hashes["beta"]).json()["data"]
    assert by_key["total_credits_micro"] == sum(e["credits"] for e in first.entries["beta"])
    by_model = get(gateway_url, first.management, "/api/v1/usage", model="test/echo").json()["data"]
    echo = [e for e in first.all_entries() if e["model"] == "test/echo"]
    assert by_model["total_requests"] == len(echo)
    alias = get(gateway_url, first.management, "/api/usage", model="test/echo").json()
    assert alias["total_credits_micro"] == by_model["total_credits_micro"]


def test_an_inference_key_sees_only_its_own_usage(gateway_url, mixed):
    first, _ = mixed
    own = get(gateway_url, first.inference["alpha"], "/api/v1/usage").json()["data"]
    assert own["total_requests"] == len(first.entries["alpha"])
    assert own["total_credits_micro"] == sum(e["credits"] for e in first.entries["alpha"])
    other = get(gateway_url, first.inference["alpha"], "/api/v1/usage", key=first.hashes["beta"])
    assert other.status_code == 404


def test_traces_page_through_every_request_exactly_once_newest_first(gateway_url, mixed):
    first, _ = mixed
    seen: list[dict] = []
    cursor = None
    while True:
        params = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = get(gateway_url, first.management, "/api/v1/request-traces", **params).json()["data"]
        assert len(page["items"]) <= 2
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(t["trace_id"] for t in seen) == sorted(e["trace_id"] for e in first.all_entries())
    assert [t["created_at"] for t in seen] == sorted((t["created_at"] for t in seen), reverse=True)
    one = seen[0]
    assert set(one) >= {
        "trace_id",
        "model",
        "provider",
        "status",
        "http_status",
        "error_code",
        "prompt_tokens",
        "completion_tokens",
        "credits",
        "cost_usd",
        "latency_ms",
        "upstream_latency_ms",
        "ttft_ms",
        "key_prefix",
        "created_at",
    }


def test_trace_filters(gateway_url, mixed):
    first, _ = mixed

    def ids(**params: object) -> set[str]:
        return {
            t["trace_id"]
            for t in get(gateway_url, first.management, "/api/v1/request-traces", page_size=100, **params).json()[
                "data"
            ]["items"]
        }

    entries = first.all_entries()
    assert ids(status="error") == {e["trace_id"] for e in entries if e["status"] == "error"}
    assert ids(model="test/no-usage") == {e["trace_id"] for e in entries if e["model"] == "test/no-usage"}
    assert ids(key=first.hashes["beta"]) == {e["trace_id"] for e in first.entries["beta"]}
    assert ids(key=first.hashes["beta"], status="success") == {
        e["trace_id"] for e in first.entries["beta"] if e["status"] == "success"
    }
    listing = get(gateway_url, first.inference["beta"], "/api/v1/request-traces").json()["data"]
    own = {t["trace_id"] for t in listing["items"]}
    assert own == {e["trace_id"] for e in first.entries["beta"]}


def test_trace_stats_are_right(gateway_url, mixed):
    first, _ = mixed
    stats = get(gateway_url, first.management, "/api/v1/request-traces/stats").json()
    entries = first.all_entries()
    latencies = sorted(e["latency_ms"] for e in entries)
    assert stats["total_requests"] == len(entries)
    assert stats["success_count"] == sum(e["status"] == "success" for e in entries)
    assert stats["error_count"] == len(entries) - stats["success_count"]
    assert stats["total_tokens"] == sum(e["prompt_tokens"] + e["completion_tokens"] for e in entries)
    assert stats["total_credits"] == pytest.approx(sum(e["credits"] for e in entries) / 1_000_000)
    assert stats["p50_latency_ms"] == latencies[math.ceil(0.5 * len(latencies)) - 1]
    assert stats["p95_latency_ms"] == latencies[math.ceil(0.95 * len(latencies)) - 1]
    assert stats["avg_latency_ms"] == round(sum(latencies) / len(latencies))


def test_one_trace_with_its_attempts_by_id_and_as_a_generation(gateway_url, mixed):
    first, _ = mixed
    failed = next(e for e in first.entries["alpha"] if e["status"] == "error")
    trace = get(gateway_url, first.management, f"/api/v1/request-traces/{failed['trace_id']}").json()["data"]
    assert (trace["status"], trace["error_code"], trace["credits"]) == ("error", "provider_error", 0)
    (attempt,) = trace["attempts"]
    assert (attempt["provider"], attempt["http_status"], attempt["error_code"]) == ("fake", 502, "provider_error")
    generation = get(gateway_url, first.inference["alpha"], "/api/v1/generation", id=failed["trace_id"]).json()
    assert generation["data"]["trace_id"] == failed["trace_id"]
    # another key of the same account does not see it
    assert get(gateway_url, first.inference["beta"], "/api/v1/generation", id=failed["trace_id"]).status_code == 404


def test_no_account_sees_another_accounts_usage_or_traces(gateway_url, mixed):
    first, second = mixed
    theirs = second.all_entries()[0]["trace_id"]
    assert get(gateway_url, first.management, f"/api/v1/request-traces/{theirs}").status_code == 404
    assert get(gateway_url, first.management, "/api/v1/generation", id=theirs).status_code == 404
    assert get(gateway_url, first.management, "/api/v1/usage", key=second.hashes["gamma"]).status_code == 404
    assert get(gateway_url, first.management, "/api/v1/request-traces", key=second.hashes["gamma"]).status_code == 404
    listed = {
        t["trace_id"]
        for t in get(gateway_url, second.management, "/api/v1/request-traces", page_size=100).json()["data"]["items"]
    }
    assert listed == {e["trace_id"] for e in second.all_entries()}
    usage = get(gateway_url, second.management, "/api/v1/usage").json()["data"]
    assert usage["total_requests"] == 2
    # a cursor made for one account is refused for another
    cursor = get(gateway_url, first.management, "/api/v1/request-traces", page_size=1).json()["data"]["next_cursor"]
    stolen = get(gateway_url, second.management, "/api/v1/request-traces", cursor=cursor)
    assert stolen.status_code == 400
    assert stolen.json()["error"]["param"] == "cursor"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "date_from"),
        ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, "date_from"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1000}, "page_size"),
        ({"status": "weird"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_ranges_and_parameters_are_400(gateway_url, mixed, params, param):
    first, _ = mixed
    response = get(gateway_url, first.management, "/api/v1/request-traces", **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_usage_and_traces_answer_in_poetis_envelope(gateway_url, mixed):
    """poeti: `{"code": 200, "data": ...}` around usage and the listing, whose page has items, total,
    page and page_size, and items their routing_strategy; stats have avg_cost_per_request."""
    first, _ = mixed
    entries = first.all_entries()
    usage = get(gateway_url, first.management, "/api/v1/usage").json()
    assert usage["code"] == 200
    assert set(usage["data"]) >= {
        "total_requests", "total_prompt_tokens", "total_completion_tokens", "total_tokens", "total_cost_usd", "by_model"
    }  # fmt: skip
    for row in usage["data"]["by_model"]:
        assert set(row) >= {"model", "requests", "tokens", "cost_usd"}
    listing = get(gateway_url, first.management, "/api/v1/request-traces", page_size=3).json()
    assert listing["code"] == 200
    page = listing["data"]
    assert (page["total"], page["page"], page["page_size"], len(page["items"])) == (len(entries), 1, 3, 3)
    assert {item["routing_strategy"] for item in page["items"]} == {"auto"}
    following = get(gateway_url, first.management, "/api/v1/request-traces", page_size=3, cursor=page["next_cursor"])
    assert (following.json()["data"]["page"], following.json()["data"]["total"]) == (2, len(entries))
    errors = get(gateway_url, first.management, "/api/v1/request-traces", status="error").json()["data"]
    assert errors["total"] == sum(e["status"] == "error" for e in entries)
    stats = get(gateway_url, first.management, "/api/v1/request-traces/stats").json()
    assert stats["avg_cost_per_request"] == pytest.approx(stats["total_cost_usd"] / stats["total_requests"])


def test_a_page_after_the_first_is_reached_by_its_cursor(gateway_url, mixed):
    first, _ = mixed
    cursor = get(gateway_url, first.management, "/api/v1/request-traces", page_size=1).json()["data"]["next_cursor"]
    assert get(gateway_url, first.management, "/api/v1/request-traces", page=1).status_code == 200
    assert get(gateway_url, first.management, "/api/v1/request-traces", cursor=cursor, page=2).status_code == 200
    for params in ({"page": 2}, {"cursor": cursor, "page": 3}, {"cursor": "1." + cursor.partition(".")[2]}):
        refused = get(gateway_url, first.management, "/api/v1/request-traces", **params)
        assert refused.status_code == 400, params
        assert refused.json()["error"]["param"] in ("page", "cursor")


def test_a_model_filter_counts_the_model_by_any_of_its_names(gateway_url, mixed):
    """`model=gpt-4o` counts `openai/gpt-4o`: here `echo` is test/echo's alias."""
    first, _ = mixed
    echo = [e for e in first.all_entries() if e["model"] == "test/echo"]
    for path in ("/api/usage", "/api/v1/usage"):
        answer = get(gateway_url, first.management, path, model="echo").json()
        totals = answer.get("data", answer)
        assert (totals["total_requests"], totals["total_credits_micro"]) == (len(echo), sum(e["credits"] for e in echo))
    traced = get(gateway_url, first.management, "/api/v1/request-traces", model="echo", page_size=100).json()["data"]
    assert {t["trace_id"] for t in traced["items"]} == {e["trace_id"] for e in echo}
    assert traced["total"] == len(echo)


def test_each_trace_says_what_ordered_its_providers(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    ordered = {
        "auto": chat(gateway_url, tenant.key, "test/multi"),
        "vendor": pinned_chat(gateway_url, tenant.key, "test/multi", headers={"vendor": "fake"}),
        "provider_preferences": chat(gateway_url, tenant.key, "test/multi", provider={"order": ["fake-anthropic"]}),
    }
    for strategy, response in ordered.items():
        trace = get(gateway_url, tenant.key, f"/api/v1/request-traces/{response.headers['x-trace-id']}").json()
        assert trace["data"]["routing_strategy"] == strategy
