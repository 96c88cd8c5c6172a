"""The README's key workflow is run as written, against the gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from devtools.template import ROOT
from gateway.config import get_settings
from gateway.services import accounts, keys
from gateway.storage.api_keys import ApiKeyRepository


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)```\s*<!-- /{marker} -->", text, re.S)
    assert section, f"README has no `{marker}` block"
    return section.group(1)


def test_the_readme_key_workflow_runs(gateway_url, gateway_env, tmp_path: Path):
    account = accounts.create_account("readme", 10_000_000)
    management = keys.issue_key(account.account_id, "ops", "management").key
    script = "set -euo pipefail\n" + readme_block("keys-workflow")
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "GATEWAY": gateway_url, "MANAGEMENT_KEY": management},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    created = json.loads((tmp_path / "created.json").read_text())
    assert created["key"].startswith("sk-gw-")
    # each step's answer is in the output: the limit was raised, the key disabled, then revoked
    assert '"limit":50' in result.stdout.replace(" ", "")
    assert '"disabled":true' in result.stdout.replace(" ", "")
    assert result.stdout.rstrip().endswith('"deleted":true}}')
    listed = ApiKeyRepository(get_settings().table_name).list_for_account(account.account_id)
    assert created["data"]["hash"] not in {record.key_hash for record in listed}
