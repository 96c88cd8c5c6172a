"""gateway-admin's control-plane commands, the installed console script against DynamoDB Local and
moto's Secrets Manager: what an operator's guide in the README tells them to run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import TEST_TABLE, balance_of
from tests.support.control import chat, eventually, unique


def admin(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("gateway-admin", path=str(Path(sys.executable).parent))
    assert script is not None
    passed = (
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "GATEWAY_CATALOG",
        "CHANNEL_SECRET_PREFIX",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "GATEWAY_TABLE"}
    return subprocess.run(
        [script, "--table", TEST_TABLE, *args],
        env={**clean, **{name: env[name] for name in passed}, "AWS_DEFAULT_REGION": "us-east-1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_operator_runs_the_platform_from_gateway_admin(gateway_env, gateway_url, upstream, make_tenant, tmp_path):
    # An operator key for the admin API, shown once
    issued = ok(admin(gateway_env, "create-operator-key", "--name", "ops-cli"))
    assert issued["key"].startswith("sk-gwo-")
    status = httpx.get(f"{gateway_url}/api/admin/catalog", headers={"Authorization": f"Bearer {issued['key']}"})
    assert status.status_code == 200

    # A model from a file, then a price change
    model_id = unique("ops/cli")
    spec = tmp_path / "model.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "id": model_id, "display_name": "CLI", "owned_by": "ops", "context_length": 8192,
                "max_output_tokens": 100, "pricing": {"input": "1", "output": "1"},
                "providers": [{"provider": "fake", "model": "echo"}],
            }
        )
    )  # fmt: skip
    assert ok(admin(gateway_env, "model", "create", "--file", str(spec)))["id"] == model_id
    priced = ok(admin(gateway_env, "model", "update", model_id, "--set", '{"pricing": {"input": "9"}}'))
    assert priced["pricing"]["input"] == "9"
    tenant = make_tenant("10")
    eventually(lambda: chat(gateway_url, tenant.key, model_id).status_code == 200)

    # A channel whose key comes on stdin and is never printed
    provider = unique("ops-cli-up")
    ok(
        admin(
            gateway_env, "provider", "put", provider, "--kind", "openai", "--default-base-url", "http://127.0.0.1:9/v1"
        )
    )
    channel = ok(
        admin(gateway_env, "channel", "add", "--id", unique("ch-cli"), "--provider", provider, "--api-key-stdin",
              "--priority", "5", "--weight", "3", "--rpm", "100", stdin="sk-never-printed\n")
    )  # fmt: skip
    assert channel["has_secret"] is True
    assert channel["weight"] == 3
    assert "sk-never-printed" not in json.dumps(ok(admin(gateway_env, "channel", "list")))
    assert ok(admin(gateway_env, "channel", "update", channel["id"], "--disable"))["enabled"] is False

    # A price group and an account in it
    group = unique("cli-vip")
    assert ok(admin(gateway_env, "group", "set", group, "--ratio", "0.8"))["ratio"] == "0.8"
    assert ok(admin(gateway_env, "set-group", "--account", tenant.account_id, "--group", group))["group"] == group
    assert ok(admin(gateway_env, "set-group", "--account", tenant.account_id, "--default"))["group"] == "default"

    # Codes: minted (printed once), listed by id, one disabled, one redeemed for an account
    minted = ok(admin(gateway_env, "codes", "mint", "--credits", "1.5", "--count", "2", "--expires-in-days", "7"))
    first, second = minted["codes"]
    listing = ok(admin(gateway_env, "codes", "list"))
    assert first not in json.dumps(listing)
    assert ok(admin(gateway_env, "codes", "disable", minted["data"][0]["id"]))["status"] == "disabled"
    before = balance_of(tenant.account_id)
    redeemed = ok(admin(gateway_env, "redeem-code", "--account", tenant.account_id, "--code", second))
    assert redeemed["credited_micro"] == 1_500_000
    assert balance_of(tenant.account_id) == before + 1_500_000
    refused = admin(gateway_env, "redeem-code", "--account", tenant.account_id, stdin=f"{second}\n")
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["error"] == "This top-up code has already been redeemed."

    # The catalog exported and imported back unchanged
    exported = tmp_path / "catalog.yaml"
    written = ok(admin(gateway_env, "catalog", "export", "--out", str(exported)))
    assert model_id in exported.read_text()
    assert ok(admin(gateway_env, "catalog", "import", str(exported)))["version"] == written["version"]

    # Revoked, the operator key stops working at once
    ok(admin(gateway_env, "revoke-operator-key", "--hash", issued["hash"]))
    gone = httpx.get(f"{gateway_url}/api/admin/catalog", headers={"Authorization": f"Bearer {issued['key']}"})
    assert gone.status_code == 401

    for cleanup in (
        ("channel", "delete", channel["id"]),
        ("provider", "delete", provider),
        ("model", "delete", model_id),
    ):
        ok(admin(gateway_env, *cleanup))
    ok(admin(gateway_env, "group", "delete", group))


def test_bad_arguments_are_refused_before_anything_is_written(gateway_env):
    assert admin(gateway_env, "model", "update", "x", "--set", "not json").returncode == 2
    assert admin(gateway_env, "codes", "mint", "--credits", "1.0000001").returncode == 2
    missing = admin(gateway_env, "model", "show", "ops/nothing-here")
    assert missing.returncode == 1
    assert "No model" in json.loads(missing.stderr)["error"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["catalog", "import", "{missing}"], "Cannot read"),
        (["model", "create", "--file", "{missing}"], "Cannot read"),
        (["catalog", "import", "{folder}"], "Cannot read"),
        (["catalog", "export", "--out", "{nodir}"], "Cannot write"),
        (["catalog", "import", "{bad_yaml}"], "is not valid YAML (line 2"),
        (["model", "create", "--file", "{bad_yaml}"], "is not valid YAML (line 2"),
        (["catalog", "import", "{latin1}"], "is not UTF-8"),
    ],
    ids=["import-missing", "create-missing", "import-folder", "export-no-dir", "import-yaml", "create-yaml", "latin1"],
)
def test_a_file_it_cannot_read_write_or_parse_is_a_one_line_error(gateway_env, tmp_path, capsys, argv, says):
    from gateway.admin import main
    from gateway.storage.stores import stores

    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("models: [ {id: x\n  pricing: : :\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("display_name: caf\xe9\n".encode("latin-1"))
    paths = {"missing": tmp_path / "nope.yaml", "folder": tmp_path, "nodir": tmp_path / "no" / "dir.yaml"}
    paths |= {"bad_yaml": bad_yaml, "latin1": latin1}
    version = stores().control.version(consistent=True)

    code = main(["--table", TEST_TABLE, *(part.format(**paths) for part in argv)])

    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert says in json.loads(err)["error"]
    assert stores().control.version(consistent=True) == version
