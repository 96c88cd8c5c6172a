"""`make dev`: DynamoDB Local, the tables of template.yaml, and every function's routes served by
one uvicorn process on 127.0.0.1, through the same code paths as in Lambda; the usage aggregator
reads the table's stream in a thread of the same process. The runtime catalog is seeded from
models.yaml on first start; S3, Cognito, KMS and Secrets Manager are moto's, in memory."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from devtools.template import ROOT

if TYPE_CHECKING:
    from fastapi import FastAPI

FUNCTIONS = ("chat", "keys", "images", "audio", "usage", "console", "admin")
DEMO_ACCOUNT = "demo"
DEMO_CREDITS = "100"
DEV_OPERATOR = "operator@example.com"


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


def ensure_operator_key() -> str | None:
    """An operator key (the admin API's) on first start; returns it then, else None."""
    from gateway.services import operator_keys

    if operator_keys.list_operator_keys():
        return None
    return operator_keys.issue_operator_key("dev").key


def _local_aws() -> tuple[Any, str | None]:
    """moto's server on loopback (in memory), for what is not set already: the S3 buckets image tasks
    keep their images in (without a queue, IMAGE_TASKS_QUEUE_URL unset, the task worker runs inside
    the dev server) and large stored responses their bodies, the console's Cognito user pool with a
    dev operator, the KMS key of own provider keys and Secrets Manager for channel keys (in memory:
    after a restart, own keys and channel keys are registered again). Returns the server and the
    operator's sign-in line, shown once."""
    need_bucket = not os.environ.get("IMAGES_BUCKET")
    need_pool = not os.environ.get("COGNITO_USER_POOL_ID")
    need_kms = not os.environ.get("BYOK_KMS_KEY_ID")
    if not (need_bucket or need_pool or need_kms):
        return None, None
    import boto3
    from moto.server import ThreadedMotoServer

    from devtools.cognito_local import create_pool
    from devtools.dynamodb_local import free_port

    port = int(os.environ.get("MOTO_PORT") or free_port())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    signin = None
    if need_bucket:
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
        os.environ["IMAGES_BUCKET"] = "ai-gateway-images-dev"
        os.environ.setdefault("RESPONSES_BUCKET", "ai-gateway-responses-dev")
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's stand-in
        )
        s3.create_bucket(Bucket=os.environ["IMAGES_BUCKET"])
        s3.create_bucket(Bucket=os.environ["RESPONSES_BUCKET"])
    if need_pool:
        pool = create_pool(endpoint)
        starting = os.environ.get("CONSOLE_STARTING_CREDITS", "0")
        for name, value in pool.environment(starting_credits=starting).items():
            os.environ.setdefault(name, value)
        signin = f"{DEV_OPERATOR} / {pool.add_operator(DEV_OPERATOR)}"
    if need_kms:
        os.environ["AWS_ENDPOINT_URL_KMS"] = os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint
        key = boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's stand-in
        ).create_key(Description="own provider keys")
        os.environ["BYOK_KMS_KEY_ID"] = key["KeyMetadata"]["KeyId"]
        print(f"KMS and Secrets Manager (moto, in memory) on {endpoint}", flush=True)
    return server, signin


class QueryKeyRedacted(logging.Filter):
    """uvicorn's access log line carries each request's path with its query, where Gemini clients
    may put the key (`?key=`, however its name is escaped): its value is redacted there."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], redacted_query_key(args[2]), *args[3:])
        return True


def redacted_query_key(path: str) -> str:
    base, _, query = path.partition("?")
    return f"{base}?{'&'.join(_redacted_if_key(field) for field in query.split('&'))}"


def _redacted_if_key(field: str) -> str:
    name = field.partition("=")[0]
    return f"{name}=[redacted]" if unquote_plus(name).lower() == "key" else field


def main() -> None:
    import uvicorn

    from devtools.dynamodb_local import DynamoDBLocal
    from devtools.template import create_tables

    port = int(os.environ.get("PORT", "8000"))
    dynamodb_port = int(os.environ.get("DYNAMODB_PORT", "8001"))
    os.environ.setdefault("MOTO_PORT", "8002")
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".local")).resolve()
    os.environ.setdefault("GATEWAY_TABLE", "ai-gateway")
    os.environ.setdefault("IDEMPOTENCY_TABLE", "ai-gateway-idempotency")
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{dynamodb_port}"
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("RUNTIME_CATALOG", "true")

    database = DynamoDBLocal(dynamodb_port, data_dir / "dynamodb").start()
    local_aws, operator_signin = _local_aws()
    # uvicorn re-raises SIGTERM once it has shut down; exit through `finally` to stop the database too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        from gateway.storage import dynamo

        create_tables(
            dynamo.boto3_client(),
            {"GatewayTable": os.environ["GATEWAY_TABLE"], "IdempotencyTable": os.environ["IDEMPOTENCY_TABLE"]},
        )
        from gateway.services import catalog_admin

        catalog = catalog_admin.seed()

        from devtools.aggregator import StreamAggregator

        aggregator = StreamAggregator(os.environ["GATEWAY_TABLE"], database.endpoint).start()  # the Lambda's stand-in
        key = ensure_demo_account()
        if key:
            print(
                f"\nCreated account `{DEMO_ACCOUNT}` with {DEMO_CREDITS} credits. Its API key, shown once:\n\n"
                f"    {key}\n",
                flush=True,
            )
        operator = ensure_operator_key()
        if operator:
            print(f"An operator key for the admin API (/api/admin), shown once:\n\n    {operator}\n", flush=True)
        print(
            f"Catalog version {catalog['version']}: {catalog['models']} models, {catalog['channels']} channels",
            flush=True,
        )
        print(f"DynamoDB Local on {database.endpoint}, data in {data_dir / 'dynamodb'}", flush=True)
        print(f"Gateway on http://127.0.0.1:{port} (OpenAI base URL: http://127.0.0.1:{port}/v1)", flush=True)
        print(f"Console on http://127.0.0.1:{port}/console (Cognito: moto on loopback, in memory)", flush=True)
        if operator_signin:
            print(f"Operator sign-in for this run, shown once: {operator_signin}", flush=True)
        server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="info"))
        logging.getLogger("uvicorn.access").addFilter(QueryKeyRedacted())  # uvicorn's Config set its logging up
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C once uvicorn has shut down, as uvicorn.run
            server.run()
        if not server.started:  # the port was taken, say: uvicorn said why
            sys.exit(3)
        aggregator.stop()
    finally:
        database.stop()
        if local_aws is not None:
            local_aws.stop()


if __name__ == "__main__":
    main()
