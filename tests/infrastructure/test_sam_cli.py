"""The template passes the checks `make validate` and CI run before anything is deployed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools.template import TEMPLATE
from tests.infrastructure.tooling import run, venv_tool


def _report(answer: subprocess.CompletedProcess[str]) -> str:
    return f"exit {answer.returncode}\nstdout:\n{answer.stdout[-4000:]}\nstderr:\n{answer.stderr[-4000:]}"


@pytest.mark.slow
def test_sam_validate_with_lint_accepts_the_template() -> None:
    """Given template.yaml as committed
    When an operator runs `sam validate --lint` (what `make validate` does)
    Then SAM calls it a valid template and cfn-lint's rules find nothing."""
    answer = run([venv_tool("sam"), "validate", "--lint", "--template-file", str(TEMPLATE)])

    assert answer.returncode == 0, _report(answer)
    assert "valid SAM Template" in answer.stdout + answer.stderr, _report(answer)


@pytest.mark.slow
def test_cfn_lint_reports_nothing() -> None:
    """Given template.yaml as committed
    When cfn-lint checks it on its own (errors, warnings and informational rules)
    Then it exits 0: not even a warning is left for the operator to read past."""
    answer = run([venv_tool("cfn-lint"), str(TEMPLATE)])

    assert answer.returncode == 0, _report(answer)


@pytest.mark.slow
def test_sam_validate_with_lint_rejects_a_broken_copy(tmp_path: Path) -> None:
    """Given a copy of the template whose functions ask for more memory than Lambda allows
    When `sam validate --lint` checks that copy
    Then it fails, so the passing check above is a real check and not a tool that always says yes."""
    source = TEMPLATE.read_text(encoding="utf-8")
    assert "MemorySize: 1024" in source, "the negative control edits the Globals MemorySize; update this test"
    broken = tmp_path / "template.yaml"
    broken.write_text(source.replace("MemorySize: 1024", "MemorySize: 99999"), encoding="utf-8")

    answer = run([venv_tool("sam"), "validate", "--lint", "--template-file", str(broken)], cwd=tmp_path)

    assert answer.returncode != 0, _report(answer)
    assert "E3034" in answer.stdout + answer.stderr, _report(answer)
