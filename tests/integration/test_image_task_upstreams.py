"""Image tasks: the worker sends the upstream the client's fields only (gpt-image-1 refuses a
`response_format` the client did not send), and a task read after its images left the bucket is a
404 in the gateway's envelope."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import balance_of, ledger_entry
from tests.integration.test_images import deliver, run_worker

GRANT = 10_000_000


def like_gpt_image_1(fake):  # type: ignore[no-untyped-def]
    """The fake images upstream as OpenAI's gpt-image-1 answers: it always answers b64_json and refuses
    `response_format` (400 unknown_parameter), as gpt-image-1, gpt-image-1-mini and gpt-image-1.5 do."""
    original = next(route for route in fake.app.router.routes if route.path == "/v1/images/generations")

    async def generate(request: Request) -> Response:
        body = await request.json()
        if "response_format" in body:
            with fake.lock:
                fake.requests.append(body)
            return JSONResponse(
                {"error": {"message": "Unknown parameter: 'response_format'.", "type": "invalid_request_error",
                           "param": "response_format", "code": "unknown_parameter"}},
                status_code=400,
            )  # fmt: skip
        return await original.endpoint(request)  # b64_json is not asked: the fake answers URLs, as an upstream may

    index = fake.app.router.routes.index(original)
    fake.app.router.routes[index] = Route("/v1/images/generations", generate, methods=["POST"])
    return lambda: fake.app.router.routes.__setitem__(index, original)


def test_a_task_for_a_gpt_image_1_like_upstream_is_not_refused_for_a_field_the_worker_added(
    gateway_url, upstream, fake_servers, aws_local, make_tenant
):
    # Given an upstream that refuses `response_format`, as gpt-image-1 does, which the same request
    # served synchronously (the client sent no response_format) works with
    restore = like_gpt_image_1(fake_servers["images"])
    try:
        tenant = make_tenant("10")
        headers = {"Authorization": f"Bearer {tenant.key}"}
        body = {"model": "test/image", "prompt": "an otter", "size": "1024x1024"}
        served = httpx.post(f"{gateway_url}/v1/images/generations", json=body, headers=headers, timeout=20)
        assert served.status_code == 200, served.text

        # When the same request is made as a task (or through /api/v1, where it always is one)
        created = httpx.post(
            f"{gateway_url}/v1/images/generations", json={**body, "async": True}, headers=headers, timeout=20
        )
        assert created.status_code == 202, created.text
        run_worker(deliver(aws_local))
        task = httpx.get(f"{gateway_url}/v1/images/tasks/{created.json()['task_id']}", headers=headers).json()
    finally:
        restore()
    # Then the task is made as the synchronous request was (the worker adds no `response_format`)
    sent = fake_servers["images"].requests[-1]
    assert task["status"] == "succeeded", (task, sent)


def test_a_b64_task_read_after_its_images_left_the_bucket_is_a_404(gateway_url, upstream, aws_local, make_tenant):
    """The images bucket expires objects after 7 days (template.yaml ImagesBucket lifecycle) and the
    task item carries a 7-day TTL, which DynamoDB applies up to days late, and `tasks.get` does not
    filter: a task read in between has images that are gone."""
    import boto3

    tenant = make_tenant("10")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    created = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image", "prompt": "an otter", "async": True, "response_format": "b64_json"},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    task_id = created.json()["task_id"]
    run_worker(deliver(aws_local))
    assert httpx.get(f"{gateway_url}/v1/images/tasks/{task_id}", headers=headers).json()["status"] == "succeeded"
    # When the bucket's lifecycle has expired the task's image
    s3 = boto3.client("s3", endpoint_url=aws_local["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    s3.delete_object(Bucket=aws_local["IMAGES_BUCKET"], Key=f"tasks/{task_id}/0.png")
    # Then reading the task is a 404 in the gateway's envelope, not a 500
    read = httpx.get(f"{gateway_url}/v1/images/tasks/{task_id}", headers=headers)
    assert read.status_code == 404, read.text
    assert read.json()["error"]["code"] == "not_found"
    assert balance_of(tenant.account_id) == GRANT - 40_000
    assert ledger_entry(task_id) is not None
