"""The gateway under test: its environment, an account with a key, and its uvicorn process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child
from devtools.template import ROOT

TABLE = "bench-gateway"
IDEMPOTENCY_TABLE = "bench-gateway-idempotency"
UPSTREAM_KEY = "sk-bench-upstream"
CREDITS = "1000000"


def base_env(dynamodb_endpoint: str) -> dict[str, str]:
    """What every gateway process of the bench runs with (and the bench itself, to create data).
    Static AWS credentials and no instance metadata: nothing leaves 127.0.0.1."""
    return {
        "GATEWAY_TABLE": TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "ai-gateway",
    }


def gateway_env(dynamodb_endpoint: str, upstream_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "GATEWAY_", "POWERTOOLS_", "PROVIDER_"))
        and not name.endswith(("_API_KEY", "_BASE_URL"))
    }
    env.update(base_env(dynamodb_endpoint))
    env.update(
        {
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": f"{upstream_url}/v1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        }
    )
    return env


@dataclass(frozen=True)
class Tenant:
    account_id: str
    key: str
    key_hash: str


def create_tenant(dynamodb_endpoint: str, name: str = "bench") -> Tenant:
    """Tables from template.yaml, one account with plenty of credits and one inference key, written
    by the gateway's own services (as gateway-admin does)."""
    os.environ.update(base_env(dynamodb_endpoint))
    from devtools.template import create_tables
    from gateway.money import credits_to_micro
    from gateway.services import accounts, keys
    from gateway.storage import dynamo

    create_tables(dynamo.boto3_client(), {"GatewayTable": TABLE, "IdempotencyTable": IDEMPOTENCY_TABLE})
    account = accounts.create_account(name, credits_to_micro(CREDITS))
    issued = keys.issue_key(account.account_id, name, "inference")
    return Tenant(account.account_id, issued.key, issued.record.key_hash)


def start_gateway(port: int, env: dict[str, str], logs: Path) -> Child:
    child = Child("gateway", [sys.executable, "-m", "bench.serve_gateway", str(port)], env, logs / "gateway.log", ROOT)
    child.wait_for_port(port, timeout=60)
    return child
