from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def hostile_key(gateway_env) -> str:  # type: ignore[no-untyped-def]
    """A management key and an inference key share an account; the inference one drives the calls."""
    from gateway.services import accounts, keys

    account = accounts.create_account("hostile", 1_000_000)
    return keys.issue_key(account.account_id, "fuzz", "inference").key


@pytest.fixture(scope="module", autouse=True)
def no_task_left_behind(gateway_env, aws_local) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Fuzzed image requests may ask for tasks (`async`, or the credits platform's route) that no worker
    runs here: afterwards their messages leave the queue and the sweeper ends them (failed, refunded),
    so later tests find an empty queue and no hold but their own."""
    yield
    import boto3

    from gateway.billing.sweeper import sweep_expired

    sqs = boto3.client("sqs", endpoint_url=aws_local["AWS_ENDPOINT_URL_SQS"], region_name="us-east-1")
    sqs.purge_queue(QueueUrl=aws_local["IMAGE_TASKS_QUEUE_URL"])
    sweep_expired(now=2**31)


@pytest.fixture(scope="session")
def hostile_console_token(gateway_env) -> str:  # type: ignore[no-untyped-def]
    """An operator's ID token from the console's user pool: customer and operator routes both answer."""
    from tests.support.console import CognitoPool

    return CognitoPool(gateway_env).sign_up("fuzz-operator@example.com", operator=True).id_token
