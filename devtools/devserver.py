"""`make dev`: DynamoDB Local, the tables of template.yaml, and every function's routes served by
one uvicorn process on 127.0.0.1, through the same code paths as in Lambda; the usage aggregator
reads the table's stream in a thread of the same process."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from devtools.template import ROOT

if TYPE_CHECKING:
    from fastapi import FastAPI

FUNCTIONS = ("chat", "keys", "images", "audio", "usage")
DEMO_ACCOUNT = "demo"
DEMO_CREDITS = "100"


@cache
def function_module(name: str) -> ModuleType:
    """functions/<name>/app.py, imported under a unique module name."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_app() -> FastAPI:
    from gateway.http import create_app

    return create_app(*(function_module(name).router for name in FUNCTIONS), title="AI Gateway (dev)")


def ensure_demo_account() -> str | None:
    """Create the demo account and an inference key on first start; returns the key then, else None."""
    from gateway.money import credits_to_micro
    from gateway.services import accounts, keys
    from gateway.storage.stores import stores

    if stores().accounts.get(DEMO_ACCOUNT) is not None:
        return None
    accounts.create_account("Demo", credits_to_micro(DEMO_CREDITS), account_id=DEMO_ACCOUNT)
    return keys.issue_key(DEMO_ACCOUNT, "demo", "inference").key


def _local_images_bucket() -> Any:
    """Image tasks keep their images in S3: locally, moto's S3 on loopback (in memory). Without a
    queue (IMAGE_TASKS_QUEUE_URL unset) the task worker runs inside the dev server."""
    if os.environ.get("IMAGES_BUCKET"):
        return None
    import boto3
    from moto.server import ThreadedMotoServer

    from devtools.dynamodb_local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{port}"
    os.environ["IMAGES_BUCKET"] = "ai-gateway-images-dev"
    boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's stand-in
    ).create_bucket(Bucket=os.environ["IMAGES_BUCKET"])
    return server


def main() -> None:
    import uvicorn

    from devtools.dynamodb_local import DynamoDBLocal
    from devtools.template import create_tables

    port = int(os.environ.get("PORT", "8000"))
    dynamodb_port = int(os.environ.get("DYNAMODB_PORT", "8001"))
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".local")).resolve()
    os.environ.setdefault("GATEWAY_TABLE", "ai-gateway")
    os.environ.setdefault("IDEMPOTENCY_TABLE", "ai-gateway-idempotency")
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{dynamodb_port}"
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    database = DynamoDBLocal(dynamodb_port, data_dir / "dynamodb").start()
    images = _local_images_bucket()
    # uvicorn re-raises SIGTERM once it has shut down; exit through `finally` to stop the database too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        from gateway.storage import dynamo

        create_tables(
            dynamo.boto3_client(),
            {"GatewayTable": os.environ["GATEWAY_TABLE"], "IdempotencyTable": os.environ["IDEMPOTENCY_TABLE"]},
        )
        from devtools.aggregator import StreamAggregator

        aggregator = StreamAggregator(os.environ["GATEWAY_TABLE"], database.endpoint).start()  # the Lambda's stand-in
        key = ensure_demo_account()
        if key:
            print(
                f"\nCreated account `{DEMO_ACCOUNT}` with {DEMO_CREDITS} credits. Its API key, shown once:\n\n"
                f"    {key}\n",
                flush=True,
            )
        print(f"DynamoDB Local on {database.endpoint}, data in {data_dir / 'dynamodb'}", flush=True)
        print(f"Gateway on http://127.0.0.1:{port} (OpenAI base URL: http://127.0.0.1:{port}/v1)", flush=True)
        uvicorn.run(build_app(), host="127.0.0.1", port=port, log_level="info")
        aggregator.stop()
    finally:
        database.stop()
        if images is not None:
            images.stop()


if __name__ == "__main__":
    main()
