from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def hostile_key(gateway_env) -> str:  # type: ignore[no-untyped-def]
    """A management key and an inference key share an account; the inference one drives the calls."""
    from gateway.services import accounts, keys

    account = accounts.create_account("hostile", 1_000_000)
    return keys.issue_key(account.account_id, "fuzz", "inference").key
