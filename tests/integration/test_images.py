"""Image generation through the official openai SDK, priced per image, answered with the images
(OpenAI's contract); as tasks when the client asks (`async: true`), worked by the worker function (SQS
and S3 as moto's stand-ins on loopback), charged once."""

from __future__ import annotations

import base64
import threading

import httpx
import openai
import pytest

from devtools.aggregator import THREAD
from tests.conftest import balance_of, ledger_entry
from tests.support.fake_images import PNG
from tests.support.lambda_events import LambdaContext
from tests.support.servers import start_function, stop_function

GRANT = 10_000_000


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def test_images_are_generated_and_charged_per_image_by_size_and_quality(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).images.with_raw_response.generate(
        model="test/image", prompt="an otter", n=2, size="1024x1024", quality="hd", response_format="b64_json"
    )
    result = raw.parse()
    assert [base64.b64decode(image.b64_json) for image in result.data] == [PNG, PNG]
    assert balance_of(tenant.account_id) == GRANT - 2 * 80_000  # 0.08 credits per hd image
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["endpoint"], entry["units"]["images"], entry["credits"]) == ("images.generations", 2, 160_000)


def test_the_function_entry_answers_images_as_lambda_runs_it(gateway_env, upstream, make_tenant):
    """Lambda runs the images function as it runs chat: run.sh starts uvicorn behind the Web Adapter,
    whose streamed answer no 29 s or 6 MB buffered limit cuts after the charge."""
    tenant = make_tenant("10")
    process, url = start_function("images", gateway_env)
    try:
        answer = httpx.post(
            f"{url}/v1/images/generations",
            json={"model": "test/image", "prompt": "an otter", "n": 2, "response_format": "b64_json"},
            headers={"Authorization": f"Bearer {tenant.key}"},
            timeout=20,
        )
    finally:
        stop_function(process)
    assert answer.status_code == 200, answer.text
    assert [base64.b64decode(image["b64_json"]) for image in answer.json()["data"]] == [PNG, PNG]
    assert balance_of(tenant.account_id) == GRANT - 2 * 40_000  # 0.04 credits per standard image


def test_the_openai_sdk_gets_its_images_in_the_answer_not_a_task(gateway_url, upstream, make_tenant):
    """Given a model an operator might think slow (gpt-image-1 was one)
    When the openai SDK's images.generate asks for it without `async`
    Then the answer holds the images, synchronously: OpenAI's contract (no task, no `data: []`)."""
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).images.with_raw_response.generate(
        model="test/image-async", prompt="an otter", n=2, response_format="b64_json"
    )
    assert raw.status_code == 200
    assert [base64.b64decode(image.b64_json) for image in raw.parse().data] == [PNG, PNG]
    assert "task_id" not in raw.http_response.json()
    assert balance_of(tenant.account_id) == GRANT - 2 * 50_000


def test_a_request_without_a_model_gets_the_catalogs_default_image_model(gateway_url, upstream, make_tenant):
    """PotatoRouter's example names no model: the catalog's `defaults.image` (test/image here) answers."""
    tenant = make_tenant("10")
    answer = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"prompt": "an otter", "n": 1, "size": "1024x1024"},
        headers={"Authorization": f"Bearer {tenant.key}"},
    )
    assert answer.status_code == 200, answer.text
    assert httpx.get(answer.json()["data"][0]["url"]).content == PNG
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert (entry["model"], entry["credits"]) == ("test/image", 40_000)


def test_url_images_at_the_default_quality_price(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    result = sdk(gateway_url, tenant.key).images.generate(model="test/image", prompt="a river", size="512x512")
    assert httpx.get(result.data[0].url).content == PNG
    assert balance_of(tenant.account_id) == GRANT - 20_000


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_gemini_image_models_answer_in_the_openai_shape(gateway_url, upstream, make_tenant, response_format):
    tenant = make_tenant("10")
    result = sdk(gateway_url, tenant.key).images.generate(
        model="test/image-gemini", prompt="a heron", n=2, response_format=response_format
    )
    if response_format == "b64_json":
        assert [base64.b64decode(image.b64_json) for image in result.data] == [PNG, PNG]
    else:
        assert [httpx.get(image.url).content for image in result.data] == [PNG, PNG]
    assert balance_of(tenant.account_id) == GRANT - 2 * 39_000


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "test/image"}, "prompt"),
        ({"model": "test/image", "prompt": "x", "n": 0}, "n"),
        ({"model": "test/image", "prompt": "x", "n": 5}, "n"),
        ({"model": "test/image", "prompt": "x", "size": "333x333"}, "size"),
        ({"model": "test/image", "prompt": "x", "quality": "ultra"}, "quality"),
        ({"model": "test/echo", "prompt": "x"}, "model"),
        ({"model": "test/image", "prompt": "x", "response_format": "png"}, "response_format"),
        # a streamed answer: the upstream would make and bill the images, then answer SSE
        ({"model": "test/image", "prompt": "x", "stream": True}, "stream"),
        ({"model": "test/image", "prompt": "x", "partial_images": 2}, "partial_images"),
    ],
    ids=[
        "no-prompt",
        "n-zero",
        "n-too-many",
        "bad-size",
        "bad-quality",
        "not-an-image-model",
        "bad-format",
        "stream",
        "partial-images",
    ],
)
def test_bad_image_requests_are_400_and_free(gateway_url, upstream, fake_servers, make_tenant, body, param):
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert balance_of(tenant.account_id) == GRANT
    assert fake_servers["images"].requests == []


def deliver(aws_local, *, count: int = 1) -> list[dict]:  # type: ignore[no-untyped-def]
    """What SQS would hand the worker: receive the queued messages as Lambda's SQS event records."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws_local["AWS_ENDPOINT_URL_SQS"], region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=aws_local["IMAGE_TASKS_QUEUE_URL"], MaxNumberOfMessages=10).get(
        "Messages", []
    )
    for message in messages:
        sqs.delete_message(QueueUrl=aws_local["IMAGE_TASKS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
    assert len(messages) == count
    return [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]


def run_worker(records: list[dict]) -> dict:
    import importlib.util

    from devtools.template import ROOT

    spec = importlib.util.spec_from_file_location("images_worker", ROOT / "functions" / "images" / "worker.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler({"Records": records}, LambdaContext(function_name="ImagesWorkerFunction"))


def test_a_request_for_a_task_answers_one_that_the_worker_completes_and_charges_once(
    gateway_url, upstream, aws_local, make_tenant
):
    tenant = make_tenant("10")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    created = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image-async", "prompt": "a slow otter", "n": 2, "async": True},
        headers=headers,
    )
    assert created.status_code == 202
    task = created.json()
    assert (task["status"], task["data"], task["model"]) == ("pending", [], "test/image-async")
    assert balance_of(tenant.account_id) == GRANT - 100_000  # held while pending
    pending = httpx.get(f"{gateway_url}/v1/images/tasks/{task['task_id']}", headers=headers).json()
    assert pending["status"] == "pending"

    records = deliver(aws_local)
    assert run_worker(records) == {"batchItemFailures": []}
    done = httpx.get(f"{gateway_url}/v1/images/tasks/{task['task_id']}", headers=headers).json()
    assert done["status"] == "succeeded"
    assert [httpx.get(image["url"]).content for image in done["data"]] == [PNG, PNG]
    assert balance_of(tenant.account_id) == GRANT - 100_000

    # the same message delivered again charges nothing more
    assert run_worker(records) == {"batchItemFailures": []}
    assert balance_of(tenant.account_id) == GRANT - 100_000
    entry = ledger_entry(task["task_id"])
    assert entry is not None
    assert (entry["credits"], entry["units"]["images"]) == (100_000, 2)


def test_a_failed_task_is_refunded_and_reports_its_error(gateway_url, upstream, aws_local, make_tenant):
    tenant = make_tenant("10")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    task = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image-broken", "prompt": "nothing", "async": True},
        headers=headers,
    ).json()
    run_worker(deliver(aws_local))
    failed = httpx.get(f"{gateway_url}/v1/images/tasks/{task['task_id']}", headers=headers).json()
    assert failed["status"] == "failed"
    assert "not charged" in failed["error"]["message"]
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(task["task_id"])
    assert entry is not None
    assert (entry["status"], entry["credits"]) == ("error", 0)


def test_tasks_are_private_to_their_key_and_account(gateway_url, upstream, aws_local, make_tenant):
    owner, stranger = make_tenant("10"), make_tenant("10")
    task = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image", "prompt": "mine", "async": True},
        headers={"Authorization": f"Bearer {owner.key}"},
    ).json()
    assert task["status"] == "pending"
    peek = httpx.get(
        f"{gateway_url}/v1/images/tasks/{task['task_id']}", headers={"Authorization": f"Bearer {stranger.key}"}
    )
    assert peek.status_code == 404
    run_worker(deliver(aws_local))
    mine = httpx.get(
        f"{gateway_url}/v1/images/tasks/{task['task_id']}", headers={"Authorization": f"Bearer {owner.key}"}
    )
    assert mine.json()["status"] == "succeeded"
    assert balance_of(owner.account_id) == GRANT - 40_000  # the standard quality, when none was asked for


def test_a_task_is_written_with_its_reservation_in_one_transaction(gateway_url, upstream, aws_local, make_tenant):
    # Given a key whose account can pay for the task
    from gateway.storage.dynamo_client import DynamoClient

    tenant = make_tenant("10")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    httpx.get(f"{gateway_url}/v1/models", headers=headers)  # the key is cached: no read on the measured request
    writes: list[str] = []
    original = DynamoClient.call

    def recording(self, operation, params):  # type: ignore[no-untyped-def]
        aggregator = threading.current_thread().name == THREAD  # the usage aggregator's own writes
        if operation not in ("GetItem", "Query", "TransactGetItems", "BatchGetItem") and not aggregator:
            writes.append(operation)
        return original(self, operation, params)

    # When an async image request is accepted
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoClient, "call", recording)
        created = httpx.post(
            f"{gateway_url}/v1/images/generations",
            json={"model": "test/image-async", "prompt": "one write", "async": True},
            headers=headers,
        )

    # Then the hold and the pending task were one TransactWriteItems, and nothing else was written
    assert created.status_code == 202
    assert writes == ["TransactWriteItems"]
    run_worker(deliver(aws_local))  # leave no message for the next test


def test_a_refused_async_request_leaves_no_task(gateway_url, upstream, aws_local, make_tenant):
    tenant = make_tenant("0.01")  # less than one image costs
    refused = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image-async", "prompt": "unpaid", "async": True},
        headers={"Authorization": f"Bearer {tenant.key}"},
    )
    assert refused.status_code == 402
    trace_id = refused.headers["x-trace-id"]
    from gateway.config import get_settings
    from gateway.storage.tasks import TaskRepository

    assert TaskRepository(get_settings().table_name).get(trace_id) is None
    assert balance_of(tenant.account_id) == 10_000


def test_a_task_keeps_whatever_json_its_request_had(gateway_url, upstream, fake_servers, aws_local, make_tenant):
    """A client's extra fields go on to the upstream as sent, floats included (DynamoDB's number type
    takes no float: the task keeps its request as JSON text)."""
    tenant = make_tenant("10")
    body = {"model": "test/image", "prompt": "an otter", "async": True, "style_strength": 0.25, "tags": ["a", 1.5]}
    created = httpx.post(
        f"{gateway_url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert created.status_code == 202, created.text
    run_worker(deliver(aws_local))
    kept = upstream_images_request(created.json()["task_id"])
    assert (kept["style_strength"], kept["tags"]) == (0.25, ["a", 1.5])
    sent = fake_servers["images"].requests[-1]
    assert (sent["style_strength"], sent["tags"]) == (0.25, ["a", 1.5])


def upstream_images_request(task_id: str) -> dict:  # type: ignore[type-arg]
    from gateway.config import get_settings
    from gateway.storage.tasks import TaskRepository

    task = TaskRepository(get_settings().table_name).get(task_id)
    assert task is not None
    assert task.status == "succeeded"
    return task.request


def test_a_task_too_big_to_keep_is_a_400_and_free(gateway_url, upstream, aws_local, make_tenant):
    tenant = make_tenant("10")
    body = {"model": "test/image", "prompt": "an otter", "async": True, "padding": "x" * 400_000}
    refused = httpx.post(
        f"{gateway_url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert refused.status_code == 400, refused.text
    assert balance_of(tenant.account_id) == GRANT


def test_an_image_request_without_size_or_quality_asks_the_upstream_for_what_it_is_charged(
    gateway_url, upstream, fake_servers, make_tenant
):
    """Charged at the model's first size and quality when it names neither, the upstream is asked for
    exactly those: left to its own defaults it may make a dearer image (gpt-image-1: `auto`)."""
    tenant = make_tenant("10")
    fake_servers["images"].reset()
    answer = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image", "prompt": "an otter", "response_format": "b64_json"},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == 40_000  # test/image: 1024x1024, standard
    sent = fake_servers["images"].requests[-1]
    assert (sent.get("size"), sent.get("quality")) == ("1024x1024", "standard"), sent
