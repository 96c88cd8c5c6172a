"""Bring your own key: an account registers its own key for a provider; its next requests for that
provider's models go to its key (and only its requests do) and pay only the gateway's fee, held and
charged at the fee; the key is stored encrypted under KMS, bound to its account, and never shown."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.services import keys
from gateway.storage import vault
from gateway.storage.stores import stores
from tests.conftest import ledger_entry
from tests.support.control import AdminApi, chat, eventually, operator, unique
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServerThread

__all__ = ["operator"]
FEE = Decimal("0.05")  # the default byok_fee_percent, 5


class Own:
    """A provider whose upstream accepts the platform's channel key and the customer's own key."""

    def __init__(self) -> None:
        self.platform_key = f"sk-platform-{unique('k')}"
        self.customer_key = f"sk-customer-{unique('k')}-secret-tail"
        self.fake = FakeOpenAI(self.platform_key, self.customer_key)
        self.server = ServerThread(self.fake.app).start()
        self.provider = unique("ops-own")
        self.model = unique("ops/own")

    def last_key(self) -> str:
        with self.fake.lock:
            return self.fake.headers[-1]["authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def own(operator: AdminApi) -> Iterator[Own]:
    made = Own()
    url = f"{made.server.url}/v1"
    operator.put(f"/providers/{made.provider}", {"kind": "openai", "default_base_url": url})
    operator.post("/channels", {"id": unique("ch-own"), "provider": made.provider, "api_key": made.platform_key})
    operator.post(
        "/models",
        {
            "id": made.model, "display_name": "Own", "owned_by": "ops", "context_length": 8192,
            "max_output_tokens": 100, "pricing": {"input": "1", "output": "2"},
            "providers": [{"provider": made.provider, "model": "echo"}],
        },
    )  # fmt: skip
    yield made
    for channel in operator.get("/channels"):
        if channel["provider"] == made.provider:
            operator.delete(f"/channels/{channel['id']}")
    operator.delete(f"/models/{made.model}")
    operator.delete(f"/providers/{made.provider}")
    made.server.stop()


@pytest.fixture
def account(make_tenant: Any) -> tuple[Any, str]:
    """(a tenant with a management key, an inference key of the same account)."""
    owner = make_tenant("10", kind="management")
    return owner, keys.issue_key(owner.account_id, "calls", "inference").key


def cost(entry: dict[str, Any], ratio: Decimal) -> int:
    return math.ceil((entry["prompt_tokens"] * 1 + entry["completion_tokens"] * 2) * ratio)


def register(gateway_url: str, management_key: str, provider: str, key: str) -> httpx.Response:
    return httpx.put(
        f"{gateway_url}/api/v1/provider-keys/{provider}",
        json={"key": key},
        headers={"Authorization": f"Bearer {management_key}"},
    )


def test_an_own_key_serves_the_accounts_next_requests_at_the_fee(gateway_url, own, account, make_tenant):
    owner, inference = account
    before = eventually(lambda: (r := chat(gateway_url, inference, own.model)).status_code == 200 and r)
    full = ledger_entry(before.headers["x-trace-id"])
    assert full is not None
    assert (own.last_key(), full["byok"], full["credits"]) == (own.platform_key, False, cost(full, Decimal(1)))

    registered = register(gateway_url, owner.key, own.provider, own.customer_key)
    assert registered.status_code == 200, registered.text
    assert registered.json()["data"]["key_hint"] == "...tail"
    assert own.customer_key not in registered.text

    answered = chat(gateway_url, inference, own.model)
    assert answered.status_code == 200, answered.text
    assert own.last_key() == own.customer_key
    entry = ledger_entry(answered.headers["x-trace-id"])
    assert entry is not None
    assert (entry["byok"], entry["price_ratio"]) == (True, "0.05")
    assert [attempt["channel"] for attempt in entry["attempts"]] == [f"byok:{own.provider}"]
    assert entry["credits"] == cost(entry, FEE)
    assert entry["reserved"] <= math.ceil(full["reserved"] * FEE)  # the hold covers the fee, not the price

    # another account's requests still use the platform's channel, at the full price
    stranger = make_tenant("10")
    theirs = ledger_entry(chat(gateway_url, stranger.key, own.model).headers["x-trace-id"])
    assert theirs is not None
    assert (own.last_key(), theirs["byok"], theirs["credits"]) == (own.platform_key, False, cost(theirs, Decimal(1)))

    # removing the key sends the account back to the platform at once
    removed = httpx.delete(
        f"{gateway_url}/api/v1/provider-keys/{own.provider}", headers={"Authorization": f"Bearer {owner.key}"}
    )
    assert removed.status_code == 200
    back = ledger_entry(chat(gateway_url, inference, own.model).headers["x-trace-id"])
    assert back is not None
    assert (own.last_key(), back["byok"]) == (own.platform_key, False)


def test_the_fee_is_the_operators_to_set(gateway_url, operator, own, account):
    owner, inference = account
    assert register(gateway_url, owner.key, own.provider, own.customer_key).status_code == 200
    operator.patch("/settings", {"byok_fee_percent": "0"})
    try:

        def free() -> dict[str, Any] | None:
            entry = ledger_entry(chat(gateway_url, inference, own.model).headers["x-trace-id"])
            return entry if entry and entry["price_ratio"] == "0" else None

        assert eventually(free)["credits"] == 0
    finally:
        operator.patch("/settings", {"byok_fee_percent": "5"})


def test_an_own_key_is_encrypted_for_its_account_and_never_shown(gateway_url, own, account):
    owner, _ = account
    assert register(gateway_url, owner.key, own.provider, own.customer_key).status_code == 200
    listed = httpx.get(f"{gateway_url}/api/v1/provider-keys", headers={"Authorization": f"Bearer {owner.key}"})
    assert listed.status_code == 200
    assert [view["provider"] for view in listed.json()["data"]] == [own.provider]
    assert own.customer_key not in listed.text
    stored = stores().profiles.key(owner.account_id, own.provider)
    assert stored is not None
    assert own.customer_key.encode() not in stored.ciphertext
    context = {"account_id": owner.account_id, "provider": own.provider}
    assert vault.decrypt(stored.ciphertext, context) == own.customer_key
    with pytest.raises(vault.VaultError) as refused:  # a copy of it decrypts for no other account
        vault.decrypt(stored.ciphertext, {**context, "account_id": "acct_someone_else"})
    assert own.customer_key not in str(refused.value)


@pytest.mark.parametrize(
    ("provider", "body", "status", "param"),
    [
        ("nowhere-known", {"key": "sk-abcdef"}, 400, "provider"),
        ("fake-bedrock", {"key": "sk-abcdef"}, 400, "provider"),  # Bedrock takes IAM, not a key
        ("fake", {"key": "sk with spaces"}, 400, "key"),
        ("fake", {"key": "sk-abcdef", "base_url": "http://169.254.169.254"}, 400, "base_url"),
        ("fake", {}, 400, "key"),
    ],
)
def test_a_bad_own_key_is_a_400(gateway_url, account, provider, body, status, param):
    owner, _ = account
    refused = httpx.put(
        f"{gateway_url}/api/v1/provider-keys/{provider}", json=body, headers={"Authorization": f"Bearer {owner.key}"}
    )
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["param"] == param


def test_only_management_keys_manage_own_keys(gateway_url, own, account):
    owner, inference = account
    assert register(gateway_url, inference, own.provider, own.customer_key).status_code == 403
    missing = httpx.delete(
        f"{gateway_url}/api/v1/provider-keys/{own.provider}", headers={"Authorization": f"Bearer {owner.key}"}
    )
    assert missing.status_code == 404


def test_a_short_own_key_is_not_shown_whole_in_listings(gateway_url, own, account):
    owner, _ = account
    short = "k9Z2"
    assert register(gateway_url, owner.key, own.provider, short).status_code == 200
    listed = httpx.get(f"{gateway_url}/api/v1/provider-keys", headers={"Authorization": f"Bearer {owner.key}"})
    assert listed.status_code == 200
    assert short not in listed.text
    assert [key["key_hint"] for key in listed.json()["data"]] == ["...****"]
