"""The CommonLayer installs the same runtime dependencies the project declares (and tests against)."""

from __future__ import annotations

import re
import tomllib

from devtools.template import ROOT
from tests.infrastructure.tooling import third_party_imports

RUNTIME_PROVIDED: set[str] = set()  # boto3 too: the layer's botocore must match its boto3


def normalise(requirement: str) -> str:
    """`aws_lambda_powertools[tracer]>=3.20` -> `aws-lambda-powertools` (PEP 503-style, extras dropped)."""
    name = re.split(r"[\[<>=!~;@ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_requirements() -> list[str]:
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def project_dependencies() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def test_normalise_compares_names_not_spellings() -> None:
    """Given the same package spelled differently in the two files
    When names are normalised
    Then case, `_`/`.` and extras do not matter (so the comparison below is about packages)."""
    assert normalise("aws_lambda_powertools[tracer]>=3.20") == "aws-lambda-powertools"
    assert normalise("PyYAML>=6.0") == "pyyaml"
    assert normalise("httpx-sse>=0.4") == "httpx-sse"


def test_layer_requirements_are_the_project_runtime_dependencies() -> None:
    """Given pyproject.toml [project.dependencies] is what tests run against
    When `sam build` installs layers/common/requirements.txt into the CommonLayer
    Then both list the same packages (boto3 included, so it matches the layer's botocore)."""
    layer = [normalise(line) for line in layer_requirements()]
    project = {normalise(dependency) for dependency in project_dependencies()}

    assert len(layer) == len(set(layer)), f"duplicate layer requirements: {layer}"
    assert set(layer) == project - RUNTIME_PROVIDED, (
        f"only in the layer: {sorted(set(layer) - project)}; "
        f"only in pyproject.toml: {sorted(project - RUNTIME_PROVIDED - set(layer))}"
    )


def test_layer_keeps_the_extras_the_project_asks_for() -> None:
    """Given powertools' tracer extra brings the X-Ray SDK that `Tracing: Active` needs
    When the layer is installed
    Then each requirement keeps the extras that pyproject.toml declares for it."""

    def extras(requirement: str) -> set[str]:
        found = re.search(r"\[([^\]]*)\]", requirement)
        return {extra.strip().lower() for extra in found.group(1).split(",")} if found else set()

    layer = {normalise(line): extras(line) for line in layer_requirements()}
    for dependency in project_dependencies():
        name = normalise(dependency)
        if name in layer:
            assert extras(dependency) <= layer[name], f"{name}: layer lacks extras {extras(dependency)}"


def runtime_closure() -> set[str]:
    """Every distribution that installing pyproject's runtime dependencies brings (as installed here),
    extras and environment markers honoured: what `sam build` puts into the layer."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pending = [Requirement(dependency) for dependency in project_dependencies()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        node = (normalise(requirement.name), frozenset(requirement.extras))
        if node in seen:
            continue
        seen.add(node)
        for line in metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in requirement.extras or {""}):
                child.marker = None
                pending.append(child)
    return {name for name, _ in seen}


def test_every_module_the_deployed_code_imports_comes_with_the_runtime_dependencies() -> None:
    """Given the layer holds pyproject's runtime dependencies and what they depend on, nothing else
    When the gateway, a function or run.sh imports a third-party module
    Then its distribution is among them: one that only a dev tool brings (moto brings cryptography)
    passes every test here and fails in Lambda."""
    from importlib import metadata

    providers = metadata.packages_distributions()
    shipped = runtime_closure()
    missing = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not {normalise(name) for name in providers.get(module, [])} & shipped
    }

    assert "fastapi" in third_party_imports(), "the import scan found nothing"
    assert not missing, f"imported but not a runtime dependency (pyproject + layers/common/requirements.txt): {missing}"
