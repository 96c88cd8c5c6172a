"""The gateway under test: its environment, an account with a key, and its processes, served two ways.

- As the template deploys the chat function: `functions/chat/run.sh` (uvicorn, no access log) with
  ChatFunction's environment resolved from template.yaml (metrics on, the template's log level),
  the CommonLayer's source on PYTHONPATH as /opt/python; the usage aggregator in a process of its own
  (in AWS, AggregatorFunction). Only the Lambda Web Adapter in front is missing.
- As `make dev` serves it: every function's routes in one uvicorn (access log on), metrics off (make
  dev's default); the one aggregator process adds its usage too (make dev runs it in a thread).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child
from devtools.template import ROOT, function_environment

TABLE = "bench-gateway"
IDEMPOTENCY_TABLE = "bench-gateway-idempotency"
UPSTREAM_KEY = "sk-bench-upstream"
CREDITS = "1000000"
ADAPTER_ONLY = ("AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_")  # the Web Adapter's own settings


def base_env(dynamodb_endpoint: str) -> dict[str, str]:
    """What every gateway process of the bench runs with (and the bench itself, to create data).
    Static AWS credentials and no instance metadata: nothing leaves 127.0.0.1."""
    return {
        **_local_aws(dynamodb_endpoint),
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "ai-gateway",
    }


def _local_aws(dynamodb_endpoint: str) -> dict[str, str]:
    """The bench's tables on DynamoDB Local, static credentials, no instance metadata."""
    return {
        "GATEWAY_TABLE": TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _process_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "GATEWAY_", "POWERTOOLS_", "PROVIDER_", "IDEMPOTENCY_"))
        and not name.endswith(("_API_KEY", "_BASE_URL"))
    }


def _upstream(upstream_url: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": f"{upstream_url}/v1"}


def gateway_env(dynamodb_endpoint: str, upstream_url: str) -> dict[str, str]:
    """The bench's own settings (metrics off, warnings only): cold starts and data set-up."""
    env = _process_env()
    env.update(base_env(dynamodb_endpoint))
    env.update(_upstream(upstream_url))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])
    return env


def template_env(dynamodb_endpoint: str, upstream_url: str, port: int) -> dict[str, str]:
    """ChatFunction's environment as CloudFormation sets it (template.yaml, default parameters, no
    provider secret), the tables and the upstream the bench's, the venv's python first on PATH."""
    deployed = function_environment("ChatFunction", {"AWS::Region": "us-east-1", "Stage": "bench"})
    env = _process_env()
    env.update({name: value for name, value in deployed.items() if not name.startswith(ADAPTER_ONLY)})
    env.update(
        {
            **_local_aws(dynamodb_endpoint),
            "PORT": str(port),
            "PYTHONPATH": str(ROOT / "layers" / "common"),  # the CommonLayer, as /opt/python
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **_upstream(upstream_url),
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


def create_operator_key(name: str = "bench") -> str:
    """An operator key (the admin API's), issued by the gateway's own service as gateway-admin does;
    after create_tenant (its tables and environment)."""
    from gateway.services.operator_keys import issue_operator_key

    return issue_operator_key(name).key


def start_template_gateway(env: dict[str, str], logs: Path) -> Child:
    """functions/chat/run.sh, as the Web Adapter starts it in Lambda."""
    run_sh = ROOT / "functions" / "chat" / "run.sh"
    child = Child("gateway", [str(run_sh)], env, logs / "gateway-template.log", run_sh.parent)
    child.wait_for_port(int(env["PORT"]), timeout=60)
    return child


def start_dev_gateway(port: int, env: dict[str, str], logs: Path) -> Child:
    """bench.serve_gateway: devtools.devserver.build_app() as make dev serves it."""
    child = Child(
        "gateway (make dev)",
        [sys.executable, "-m", "bench.serve_gateway", str(port)],
        {**env, "POWERTOOLS_LOG_LEVEL": "INFO"},
        logs / "gateway-dev.log",
        ROOT,
    )
    child.wait_for_port(port, timeout=60)
    return child


def start_aggregator(env: dict[str, str], logs: Path) -> Child:
    """bench.serve_aggregator: the usage aggregator (AggregatorFunction's code) on DynamoDB Local's stream."""
    return Child("aggregator", [sys.executable, "-m", "bench.serve_aggregator"], env, logs / "aggregator.log", ROOT)
