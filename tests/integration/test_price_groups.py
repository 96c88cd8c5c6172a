"""Price groups: an account in a group pays the catalog's prices times the group's ratio, held and
charged alike. A change made by another process (the admin function, the console) reaches the very
next request: its reservation's transaction finds the account's profile changed and it is priced again,
with no read of the account on requests whose profile did not change."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.services import profiles
from gateway.storage.stores import stores
from tests.conftest import ledger_entry
from tests.support.control import AdminApi, chat, eventually, operator, unique

__all__ = ["operator"]


@pytest.fixture(scope="module")
def groups(operator: AdminApi) -> Iterator[dict[str, str]]:
    made = {"half": unique("half"), "double": unique("double")}
    operator.put(f"/groups/{made['half']}", {"ratio": "0.5", "note": "resellers"})
    operator.put(f"/groups/{made['double']}", {"ratio": "2"})
    yield made
    for name in made.values():
        operator.delete(f"/groups/{name}")


@pytest.fixture
def priced_model(operator: AdminApi, upstream: Any) -> Iterator[str]:
    model_id = unique("ops/grouped")
    operator.post(
        "/models",
        {
            "id": model_id, "display_name": "Grouped", "owned_by": "ops", "context_length": 8192,
            "max_output_tokens": 100, "pricing": {"input": "3", "output": "7"},
            "providers": [{"provider": "fake", "model": "hold"}],
        },
    )  # fmt: skip
    upstream.release()  # `hold` answers at once until a test holds it
    yield model_id
    operator.delete(f"/models/{model_id}")


def cost(entry: dict[str, Any], ratio: str) -> int:
    return math.ceil((entry["prompt_tokens"] * 3 + entry["completion_tokens"] * 7) * Decimal(ratio))


def served(gateway_url: str, key: str, model: str) -> dict[str, Any]:
    response = chat(gateway_url, key, model)
    assert response.status_code == 200, response.text
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return entry


def ratio_of(gateway_url: str, key: str, model: str) -> str | None:
    """The price ratio a request was charged at (None when it was not served)."""
    response = chat(gateway_url, key, model)
    entry = ledger_entry(response.headers["x-trace-id"]) if response.status_code == 200 else None
    return entry["price_ratio"] if entry else None


def test_an_accounts_group_prices_its_hold_and_its_charge(gateway_url, operator, groups, priced_model, make_tenant):
    tenant = make_tenant("10")
    eventually(lambda: chat(gateway_url, tenant.key, priced_model).status_code == 200)
    plain = served(gateway_url, tenant.key, priced_model)
    assert (plain["price_ratio"], plain["credits"]) == ("1", cost(plain, "1"))

    view = operator.put(f"/accounts/{tenant.account_id}/group", {"group": groups["half"]})
    assert view["group"] == groups["half"]
    half = served(gateway_url, tenant.key, priced_model)
    assert (half["price_ratio"], half["credits"]) == ("0.5", cost(half, "0.5"))
    assert half["reserved"] <= math.ceil(plain["reserved"] * Decimal("0.5"))

    operator.put(f"/accounts/{tenant.account_id}/group", {"group": None})
    assert served(gateway_url, tenant.key, priced_model)["price_ratio"] == "1"


def test_a_group_changed_elsewhere_prices_the_very_next_request(gateway_url, groups, priced_model, make_tenant):
    """Given this process remembers the account's profile (no group)
    When another process puts the account in the doubling group (straight to the table)
    Then the next request's reservation is refused for the stale profile, priced again, and charged x2."""
    tenant = make_tenant("10")
    eventually(lambda: chat(gateway_url, tenant.key, priced_model).status_code == 200)
    assert profiles.known(tenant.account_id) is not None
    assert stores().profiles.set_group(tenant.account_id, groups["double"]) is not None
    assert profiles.known(tenant.account_id).group is None  # type: ignore[union-attr]  # stale here, on purpose
    doubled = served(gateway_url, tenant.key, priced_model)
    assert (doubled["price_ratio"], doubled["credits"]) == ("2", cost(doubled, "2"))
    assert profiles.known(tenant.account_id).group == groups["double"]  # type: ignore[union-attr]


def test_a_request_in_flight_keeps_the_ratio_it_was_held_at(
    gateway_url, operator, groups, priced_model, make_tenant, upstream
):
    tenant = make_tenant("10")
    operator.put(f"/accounts/{tenant.account_id}/group", {"group": groups["half"]})
    eventually(lambda: chat(gateway_url, tenant.key, priced_model).status_code == 200)
    upstream.reset()  # `hold` now waits for release()
    answers: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answers.append(chat(gateway_url, tenant.key, priced_model)))
    caller.start()
    eventually(lambda: upstream.held >= 1)
    operator.put(f"/accounts/{tenant.account_id}/group", {"group": groups["double"]})
    upstream.release()
    caller.join(timeout=30)
    entry = ledger_entry(answers[0].headers["x-trace-id"])
    assert entry is not None
    assert (entry["price_ratio"], entry["credits"]) == ("0.5", cost(entry, "0.5"))
    assert served(gateway_url, tenant.key, priced_model)["price_ratio"] == "2"


def test_a_deleted_group_leaves_its_accounts_at_the_default_price(gateway_url, operator, priced_model, make_tenant):
    tenant = make_tenant("10")
    short_lived = unique("gone")
    operator.put(f"/groups/{short_lived}", {"ratio": "0.1"})
    operator.put(f"/accounts/{tenant.account_id}/group", {"group": short_lived})
    eventually(lambda: ratio_of(gateway_url, tenant.key, priced_model) == "0.1")
    operator.delete(f"/groups/{short_lived}")
    eventually(lambda: ratio_of(gateway_url, tenant.key, priced_model) == "1")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/accounts/{account}/group", {"group": "no-such-group"}, 400),
        ("/accounts/acct_nobody/group", {"group": None}, 404),
        ("/accounts/{account}/group", {}, 400),
        ("/groups/Bad Name", {"ratio": "1"}, 400),
        ("/groups/{group}", {"ratio": "-0.5"}, 400),
        ("/groups/{group}", {"ratio": "1e3"}, 400),
    ],
)
def test_bad_group_changes_are_refused(operator, make_tenant, path, body, status):
    tenant = make_tenant("1")
    target = path.format(account=tenant.account_id, group=unique("g"))
    assert operator.call("PUT", target, json=body, expect=status)["error"]["code"] in ("invalid_request", "not_found")


def test_a_fallback_model_is_held_and_charged_at_the_accounts_ratio_of_its_own_price(
    gateway_url, operator, groups, make_tenant, upstream
):
    """OpenRouter's `models`: the first model fails, the fallback answers; every model of the plan is
    priced at the account's group ratio, so the one that answers is charged half its own price."""
    tenant = make_tenant("10")
    operator.put(f"/accounts/{tenant.account_id}/group", {"group": groups["half"]})

    def answered() -> dict[str, Any] | None:
        response = chat(gateway_url, tenant.key, "test/fail-500", models=["test/dearer-echo"])
        entry = ledger_entry(response.headers["x-trace-id"]) if response.status_code == 200 else None
        return entry if entry and entry["price_ratio"] == "0.5" else None

    entry = eventually(answered)
    assert (entry["model"], entry["status"]) == ("test/dearer-echo", "success")
    exact = (entry["prompt_tokens"] * 2 + entry["completion_tokens"] * 3) * Decimal("0.5")
    assert entry["credits"] == math.ceil(exact)
