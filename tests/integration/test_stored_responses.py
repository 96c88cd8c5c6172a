"""Who may read, list, continue and delete a stored Responses answer: any key of its account (as
OpenAI's belong to a project: a rotated key goes on with its conversations), but a key another key
created (and handed to an app) only its own; and nobody once its retention has passed, though TTL
deletes the item lazily and its body in the bucket may already be gone."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from gateway import clock
from gateway.services import accounts, keys
from gateway.storage import dynamo, layout
from tests.conftest import TEST_TABLE


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def created_by(url: str, key: str) -> str:
    made = httpx.post(
        f"{url}/api/token", json={"name": "for an app"}, headers={"Authorization": f"Bearer {key}"}, timeout=20
    )
    assert made.status_code == 200, made.text
    return str(made.json()["data"]["key"])


def test_a_key_created_by_another_sees_only_its_own_stored_responses(gateway_url: str, upstream: Any) -> None:
    account = accounts.create_account("stored responses", 10_000_000)
    creator = keys.issue_key(account.account_id, "creator", "inference").key
    rotated = keys.issue_key(account.account_id, "rotated", "inference").key
    made = sdk(gateway_url, creator).responses.create(model="test/responses", input="the creator's prompt")
    app = sdk(gateway_url, created_by(gateway_url, creator))
    for attempt in (
        lambda: app.responses.retrieve(made.id),
        lambda: app.responses.input_items.list(made.id),
        lambda: app.responses.create(model="test/responses", input="repeat it", previous_response_id=made.id),
        lambda: app.responses.delete(made.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    own = app.responses.create(model="test/responses", input="the app's prompt")
    assert app.responses.retrieve(own.id).id == own.id
    assert sdk(gateway_url, creator).responses.retrieve(own.id).id == own.id  # its creator's account's
    going_on = sdk(gateway_url, rotated).responses.create(
        model="test/responses", input="and then?", previous_response_id=made.id
    )
    assert going_on.status == "completed"


def test_a_stored_response_past_its_retention_is_gone(gateway_url: str, upstream: Any) -> None:
    account = accounts.create_account("stored responses expire", 10_000_000)
    client = sdk(gateway_url, keys.issue_key(account.account_id, "k", "inference").key)
    made = client.responses.create(model="test/responses", input="keep me a while")
    assert client.responses.retrieve(made.id).id == made.id
    dynamo.client().update_item(  # its TTL has passed; DynamoDB has not deleted it yet
        TableName=TEST_TABLE,
        Key=layout.response_key(made.id),
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":past": {"N": str(clock.now_epoch() - 1)}},
    )
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="test/responses", input="more", previous_response_id=made.id)
