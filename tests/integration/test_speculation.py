"""The first token waits for no DynamoDB round trip: a request whose key was read with its account's
gate, and whose shard this process knows holds its hold many times over, starts its upstream call
while the hold is written. What that may cost when the hold is refused is bounded: requests in
flight when their key is revoked elsewhere, or their balance runs out, each reach the upstream once,
are cancelled before anything reaches the client, and cost the operator at most their prompt; the
next ones do not reach the upstream at all.

The gateway here talks to DynamoDB Local through the fault proxy (on loopback), which counts the
calls it answered and can hold one back: so round trips are counted, not timed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from gateway import clock, periods
from gateway.auth.keys import hash_key
from gateway.config import get_settings
from gateway.services import accounts, keys
from gateway.storage.api_keys import ApiKeyRepository
from gateway.storage.connections import Connections
from gateway.storage.credits import CreditRepository, KeyGuard, Reservation
from tests.conftest import balance_of, holds_of, ledger_entry, settled
from tests.support.dynamo_faults import Fault, FaultProxy
from tests.support.fake_openai import words

CREDITS = 1_000_000_000  # a thousand credits: every shard holds any test hold many times over


@dataclass
class Gateway:
    url: str
    proxy: FaultProxy


@pytest.fixture(scope="module")
def gateway(proxied_gateway: tuple[str, FaultProxy]) -> Gateway:
    return Gateway(*proxied_gateway)


def chat(url: str, key: str, model: str = "test/echo", prompt: str = "hold it", stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def funded(url: str, **settings: object) -> tuple[str, str]:
    """(account id, key) of a rich account whose key this process has read, and whose shards it knows."""
    account = accounts.create_account("speculation", CREDITS)
    key = keys.issue_key(account.account_id, "k", "inference", **settings)
    assert chat(url, key.key).status_code == 200
    settled()  # its settlement, written after the answer, is not counted as the next request's
    return account.account_id, key.key


def wait_for(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_the_upstream_is_called_before_any_dynamodb_round_trip_of_a_known_key(gateway, upstream, stream):
    # Given a key this process has read, on an account whose shards it knows to be rich
    _, key = funded(gateway.url)
    # When its next request's hold is held back at DynamoDB
    gateway.proxy.arm(Fault("UpdateItem", 1, 1, "pause"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(chat, gateway.url, key, "test/hold", "speculate please", stream)
        # Then the upstream gets the request while the hold is still unanswered: no round trip before it
        assert wait_for(lambda: upstream.held == 1), "the upstream call waited for the hold"
        assert wait_for(gateway.proxy.paused.is_set)  # the hold, sent alongside (a thread: it may come second)
        assert gateway.proxy.answered - gateway.proxy.catalog_reads == 0
        # And nothing reaches the client until the hold is written
        upstream.release()
        time.sleep(0.2)
        assert not pending.done()
        gateway.proxy.resume()
        response = pending.result()
    gateway.proxy.disarm()
    assert response.status_code == 200, response.text
    assert ledger_entry(response.headers["x-trace-id"]) is not None


def hold_of(url: str) -> int:
    """The hold of one `test/hold` request like the tests' (micro-credits), from a rich key's ledger entry."""
    _, key = funded(url)
    answer = chat(url, key)
    settled()
    return int(ledger_entry(answer.headers["x-trace-id"])["reserved"])


def test_only_the_key_reads_of_a_new_key_and_the_hold_of_a_tight_or_rate_limited_key_come_before_the_upstream(
    gateway, upstream, make_tenant
):
    # Given a key this process has not read yet; a key with a credit limit it knows to be far from
    # spent; one whose limit leaves room for only a few more holds; and one with a rate limit (each
    # read, with its first request, just before its turn: well within the key cache's 30 s)
    hold = hold_of(gateway.url)
    keys_in_turn = (
        (lambda: make_tenant("1000").key, 2, "UpdateItem", 0),
        (lambda: funded(gateway.url, limit=1_000 * hold)[1], 0, "TransactWriteItems", 0),
        (lambda: funded(gateway.url, limit=5 * hold)[1], 1, None, 0),
        (lambda: funded(gateway.url, rate_limit=100)[1], 1, None, 1),
    )
    # (a speculative hold is held back at DynamoDB: sent alongside the upstream call, it could otherwise
    # be answered before or after the upstream saw the request; a limited key's hold is a transaction)
    # (a rate-limited request reads its window's count for its x-ratelimit headers alongside the
    # upstream call: that read may be answered before the upstream sees the request, or after)
    for make_key, before, held_back, alongside in keys_in_turn:
        key = make_key()
        speculative = held_back is not None
        gateway.proxy.arm(Fault(held_back, 1, 1, "pause") if held_back else None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(chat, gateway.url, key, "test/hold")
            assert wait_for(lambda: upstream.held == 1)
            # Then the calls answered before the upstream saw it: the key, then the key with its gate
            # and shards (a new key: its hold is written alongside); the hold's transaction (a key with
            # a limit it may reach soon, or a rate limit); none for a key whose limit is known far away
            answered = gateway.proxy.answered - gateway.proxy.catalog_reads  # the catalog's: in the background
            assert before <= answered <= before + alongside, [call.operation for call in gateway.proxy.calls]
            if speculative:
                assert wait_for(gateway.proxy.paused.is_set)
                gateway.proxy.resume()
            operations = [call.operation for call in gateway.proxy.calls]
            assert operations.count("TransactWriteItems") + operations.count("UpdateItem") == 1, operations  # its hold
            upstream.release()
            assert pending.result().status_code == 200
            settled()
        upstream.reset()
    gateway.proxy.disarm()


def test_a_request_whose_key_limit_was_spent_elsewhere_is_cancelled_and_refused(gateway, upstream):
    # Given a key whose credit limit this process saw far from spent, then spent by another process
    hold = hold_of(gateway.url)
    account_id, key = funded(gateway.url, limit=1_000 * hold)
    spend_elsewhere(hash_key(key), periods.LIFETIME, 1_000 * hold)
    balance = balance_of(account_id)
    # When a request arrives (its upstream holds every answer back; its hold is held back at DynamoDB)
    gateway.proxy.arm(Fault("TransactWriteItems", 1, 1, "pause"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(chat, gateway.url, key, "test/hold", "one more please")
        # Then it reached the upstream while its hold was being written (it was speculative)
        assert wait_for(lambda: upstream.held == 1), "the upstream call waited for the hold"
        assert wait_for(gateway.proxy.paused.is_set)
        gateway.proxy.resume()
        # And once the hold is refused for the limit, the client has its refusal while the upstream still
        # holds its answer back (the call was cancelled, not waited for); nothing was charged
        answer = pending.result(timeout=20)
    gateway.proxy.disarm()
    assert answer.status_code == 402, answer.text
    assert "credit limit" in answer.json()["error"]["message"]
    assert len(upstream.calls("hold")) == 1
    assert ledger_entry(answer.headers["x-trace-id"]) is None
    assert (balance_of(account_id), holds_of(account_id)) == (balance, 0)
    # And the next request, refused too, does not reach the upstream (the key and its counter read again)
    assert chat(gateway.url, key, "test/hold").status_code == 402
    assert len(upstream.calls("hold")) == 1
    upstream.release()
    upstream.reset()
    # And when the limit has room again (the other process's requests settled for less), this process
    # still writes the key's hold before it calls the upstream, for a minute after the refusal
    spend_elsewhere(hash_key(key), periods.LIFETIME, -1_000 * hold)
    assert_hold_written_first(gateway, upstream, key, "TransactWriteItems")


def assert_hold_written_first(gateway: Gateway, upstream, key: str, hold: str) -> None:  # type: ignore[no-untyped-def]
    """The key's next request is not speculative: its hold (`hold`, held back at DynamoDB) is answered
    before the upstream sees the request, which then succeeds."""
    gateway.proxy.arm(Fault(hold, 1, 1, "pause"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(chat, gateway.url, key, "test/hold")
        assert wait_for(gateway.proxy.paused.is_set)
        time.sleep(0.3)
        assert upstream.held == 0, "the upstream was called while the hold was being written"
        gateway.proxy.resume()
        assert wait_for(lambda: upstream.held == 1)
        upstream.release()
        assert pending.result(timeout=20).status_code == 200
    gateway.proxy.disarm()


def spend_elsewhere(key_hash: str, period: str, amount: int) -> None:
    """Another process's requests counted `amount` against the key's limit in `period`."""
    from gateway.storage import dynamo, layout

    dynamo.client().update_item(
        TableName=get_settings().table_name,
        Key=layout.key_limit_key(key_hash, period),
        UpdateExpression="ADD used :amount",
        ExpressionAttributeValues={":amount": {"N": str(amount)}},
    )


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "stream"])
def test_holds_and_settlements_are_written_on_the_event_loop_not_in_worker_threads(
    gateway, upstream, monkeypatch, stream
):
    # Given a speculative key and one admitted first (its rate limit needs the counter in the hold's transaction)
    _, known = funded(gateway.url)
    _, limited = funded(gateway.url, rate_limit=100)
    blocking: list[tuple[str, bytes]] = []  # every call through http.client, by anyone in this process
    post = Connections.post

    def recorded(self, path, body, headers):  # type: ignore[no-untyped-def]
        blocking.append((headers["x-amz-target"].rpartition(".")[2], body))
        return post(self, path, body, headers)

    monkeypatch.setattr(Connections, "post", recorded)
    # When each makes a request
    traces = []
    for key in (known, limited):
        response = chat(gateway.url, key, stream=stream)
        assert response.status_code == 200, response.text
        traces.append(response.headers["x-trace-id"])
        settled()
        assert ledger_entry(traces[-1]) is not None
    # Then neither its hold nor its settlement (each names its trace) went through http.client in a
    # worker thread (the suite's aggregator, in this process too, writes through it meanwhile)
    theirs = [
        operation
        for operation, body in blocking
        if operation in ("UpdateItem", "TransactWriteItems") and any(trace.encode() in body for trace in traces)
    ]
    assert not theirs, theirs


def test_requests_in_flight_when_their_key_is_revoked_elsewhere_cost_at_most_their_prompts(gateway, upstream):
    # Given a key this process read (its hold will be speculative), revoked by another function's process
    account_id, key = funded(gateway.url)
    ApiKeyRepository(get_settings().table_name).revoke(hash_key(key), account_id, clock.now_epoch(), clock.now_iso())
    prompts = [f"in flight {n} " + "word " * (n + 1) for n in range(4)]
    # When requests arrive before this process knows (their upstream holds every answer back)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda prompt: chat(gateway.url, key, "test/hold", prompt), prompts))
    # Then each is refused as before, without the upstream having answered anything
    assert [answer.status_code for answer in answers] == [401] * 4
    assert all(answer.json()["error"]["code"] == "invalid_api_key" for answer in answers)
    reached = upstream.calls("hold")
    assert 1 <= len(reached) <= len(prompts)  # those that started before the first refusal was seen
    # And the operator's cost is bounded by their prompts: nothing was generated for them, nothing
    # reached the client, nothing was charged to the account
    exposure = sum(words(body["messages"][-1]["content"]) for body in reached)
    assert exposure <= sum(words(prompt) for prompt in prompts)
    assert all(ledger_entry(answer.headers["x-trace-id"]) is None for answer in answers)
    assert (balance_of(account_id) + holds_of(account_id), holds_of(account_id)) == (
        CREDITS - charged(account_id),
        0,
    )
    # And the next request does not reach the upstream at all: the key was read again
    assert chat(gateway.url, key, "test/hold").status_code == 401
    assert len(upstream.calls("hold")) == len(reached)
    upstream.release()


def test_a_request_whose_balance_ran_out_elsewhere_is_cancelled_and_refused(gateway, upstream):
    # Given an account this process saw rich, whose every credit another process then holds
    account_id, key = funded(gateway.url)
    account = accounts.get_account(account_id)
    store = CreditRepository(get_settings().table_name)
    taken = []
    for shard in account.balance_shards:
        if shard.balance:
            hold = Reservation(
                f"gen-elsewhere{shard.number:02d}{account_id[-8:]}", account_id, "e" * 64, "sk-gw-e", "test/echo",
                shard.balance, clock.now_iso(), clock.now_epoch() + 900, shard=shard.number,
            )  # fmt: skip
            store.reserve(hold, KeyGuard(), clock.now_epoch(), gate=account.gate)
            taken.append(hold)
    try:
        # When a request arrives (its upstream holds every answer back)
        answer = chat(gateway.url, key, "test/hold", "one more please")
        # Then it is refused for want of credits, the upstream call it started cancelled unanswered
        assert answer.status_code == 402, answer.text
        assert len(upstream.calls("hold")) <= 1
        assert ledger_entry(answer.headers["x-trace-id"]) is None
        assert balance_of(account_id) == 0
    finally:
        upstream.release()
        for hold in taken:  # the other process's requests fail: their holds come back
            from gateway.billing.credits import Outcome, settle

            assert settle(hold, Outcome("chat.completions", None, 502, "provider_error", 0, 0, 0, 1)) is not None
    assert balance_of(account_id) == CREDITS - charged(account_id)
    # And with the credits back, and seen back by this process (its next request reads the shards and
    # moves credits), it still writes the account's holds before it calls the upstream, for a minute
    # after a shard was found short
    upstream.reset()
    assert chat(gateway.url, key).status_code == 200
    settled()
    assert_hold_written_first(gateway, upstream, key, "UpdateItem")


def charged(account_id: str) -> int:
    """What the account's settled requests were charged (its shards' books)."""
    return sum(shard.charges for shard in accounts.get_account(account_id).balance_shards)
