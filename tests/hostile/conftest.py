from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def hostile_key(gateway_env) -> str:  # type: ignore[no-untyped-def]
    """A management key and an inference key share an account; the inference one drives the calls."""
    from gateway.services import accounts, keys

    account = accounts.create_account("hostile", 1_000_000)
    return keys.issue_key(account.account_id, "fuzz", "inference").key


@pytest.fixture(scope="session")
def hostile_console_token(gateway_env) -> str:  # type: ignore[no-untyped-def]
    """An operator's ID token from the console's user pool: customer and operator routes both answer."""
    from tests.support.console import CognitoPool

    return CognitoPool(gateway_env).sign_up("fuzz-operator@example.com", operator=True).id_token
