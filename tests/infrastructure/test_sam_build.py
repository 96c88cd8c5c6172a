"""`sam build` turns the repository into the artifacts that `sam deploy` uploads: one CommonLayer with
the gateway package and its dependencies, and small function folders with only their own code."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.template import ROOT
from tests.infrastructure.tooling import (
    API_FUNCTIONS,
    STREAMING_FUNCTIONS,
    logical_id,
    python312_bin_dir,
    python_bin_dir,
    run,
    third_party_imports,
    tool_env,
    venv_tool,
)

ELF_MACHINE_AARCH64 = 183  # e_machine of ARM64 ELF objects (Lambda arm64)


@dataclass(frozen=True)
class Build:
    directory: Path


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """One `sam build` of the repository into a temporary directory, as `make build` runs it.

    `--no-cached`: samconfig.toml turns caching on, and SAM then keeps dependencies under
    ./.aws-sam/deps of the working directory (the repository); the test must not touch that."""
    python312 = python312_bin_dir()
    if python312 is None:
        pytest.fail(
            "sam build needs a python3.12 (the Lambda runtime of template.yaml) and none was found: "
            "not on PATH, not under `$(pyenv root)/versions/3.12*/bin` nor ~/.pyenv/versions/3.12*/bin. "
            "Install one, e.g. `pyenv install 3.12`."
        )
    python313 = python_bin_dir("3.13")  # ManagedChatFunction's runtime: sam build checks it is at hand
    if python313 is None:
        pytest.fail("sam build needs a python3.13 too (ManagedChatFunction); install one, e.g. `pyenv install 3.13`.")
    root = tmp_path_factory.mktemp("sam-build")
    build_dir = root / "build"
    env = tool_env(PATH=f"{python312}{os.pathsep}{python313}{os.pathsep}{os.environ.get('PATH', '')}")
    answer = run(
        [
            venv_tool("sam"),
            "build",
            "--no-cached",
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(root / "cache"),
            "--template-file",
            "template.yaml",
        ],
        cwd=ROOT,
        env=env,
        timeout=280,
    )
    assert answer.returncode == 0, (
        f"sam build failed (exit {answer.returncode}) with python3.12 from {python312}\n"
        f"stdout:\n{answer.stdout[-6000:]}\nstderr:\n{answer.stderr[-6000:]}"
    )
    return Build(build_dir)


@pytest.mark.slow
def test_build_succeeds_and_writes_a_deployable_template(sam_build: Build) -> None:
    """Given the repository and a python3.12 on PATH
    When `sam build` runs
    Then it succeeds and leaves the template `sam deploy` uses next to one folder per resource."""
    built = sam_build.directory

    assert (built / "template.yaml").is_file()
    for resource in ("CommonLayer", "SweeperFunction", *(logical_id(name) for name in API_FUNCTIONS)):
        assert (built / resource).is_dir(), f"{resource} was not built: {sorted(p.name for p in built.iterdir())}"


@pytest.mark.slow
def test_common_layer_holds_the_gateway_package_its_catalog_and_dependencies(sam_build: Build) -> None:
    """Given the built CommonLayer
    When Lambda mounts it at /opt (so /opt/python is on sys.path)
    Then `import gateway` finds the package, its model catalog data file and FastAPI."""
    python = sam_build.directory / "CommonLayer" / "python"

    assert (python / "gateway" / "__init__.py").is_file()
    assert (python / "gateway" / "catalog" / "models.yaml").is_file(), "the model catalog is not in the layer"
    assert (python / "fastapi").is_dir(), "runtime dependencies were not installed into the layer"
    assert (python / "mangum").is_dir()
    assert (python / "uvicorn").is_dir(), "run.sh starts uvicorn from the layer"
    # The X-Ray SDK brings botocore into the layer, shadowing the runtime's: boto3 must come with it.
    assert (python / "botocore").is_dir() == (python / "boto3").is_dir(), "boto3 and botocore must ship together"


@pytest.mark.slow
def test_common_layer_holds_every_module_the_deployed_code_imports(sam_build: Build) -> None:
    """Given Lambda finds third-party code only in the layer (/opt/python)
    When the gateway, a function or run.sh imports a module, at import time or inside a function
    Then the built layer has it (a package, a module or an extension), else that request fails in AWS."""
    python = sam_build.directory / "CommonLayer" / "python"
    imported = third_party_imports()

    def shipped(module: str) -> bool:
        return (python / module).is_dir() or (python / f"{module}.py").is_file() or any(python.glob(f"{module}.*.so"))

    missing = {module: sorted(files) for module, files in imported.items() if not shipped(module)}
    assert {"fastapi", "uvicorn", "cryptography"} <= set(imported), sorted(imported)
    assert not missing, f"imported by the deployed code but not in the built CommonLayer: {missing}"


@pytest.mark.slow
def test_common_layer_native_code_is_built_for_arm64_python312(sam_build: Build) -> None:
    """Given the functions run on arm64 with python3.12
    When the layer carries compiled extensions (pydantic-core, PyYAML, ...)
    Then every one of them is an ARM64 ELF object for CPython 3.12, so imports do not fail in Lambda."""
    python = sam_build.directory / "CommonLayer" / "python"
    extensions = sorted(python.rglob("*.so"))

    assert any("pydantic_core" in str(path) for path in extensions), "pydantic-core's extension is missing"
    wrong = []
    for path in extensions:
        header = path.read_bytes()[:20]
        machine = int.from_bytes(header[18:20], "little")
        tag_ok = "cpython-312" in path.name or ".abi3." in path.name or path.name.count(".") == 1
        if header[:4] != b"\x7fELF" or machine != ELF_MACHINE_AARCH64 or not tag_ok:
            wrong.append(f"{path.relative_to(python)} (e_machine={machine})")
    assert not wrong, "extensions not built for arm64 / CPython 3.12:\n" + "\n".join(wrong)


@pytest.mark.slow
def test_common_layer_ships_bytecode_that_needs_no_source_check(sam_build: Build) -> None:
    """Given Lambda mounts the layer read-only (no pyc can be written there) and zip rounds mtimes
    When a cold start imports the gateway and its dependencies
    Then every module has a CPython 3.12 pyc valid whatever the file times: unchecked hash-based."""
    python = sam_build.directory / "CommonLayer" / "python"
    magic_312 = (3531).to_bytes(2, "little") + b"\r\n"  # importlib.util.MAGIC_NUMBER of CPython 3.12
    missing, wrong = [], []
    for package in ("gateway", "fastapi", "pydantic", "starlette", "aiohttp", "mangum", "aws_lambda_powertools"):
        for source in (python / package).rglob("*.py"):
            pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
            if not pyc.is_file():
                missing.append(str(source.relative_to(python)))
                continue
            header = pyc.read_bytes()[:8]
            flags = int.from_bytes(header[4:8], "little")
            if header[:4] != magic_312 or flags != 0b01:  # hash-based, check_source off
                wrong.append(f"{pyc.relative_to(python)} (magic {header[:4].hex()}, flags {flags})")
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:5]}"
    assert not wrong, f"{len(wrong)} pycs are not unchecked hash-based 3.12 ones, e.g. {wrong[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_streaming_artifacts_have_an_executable_run_sh_and_the_app(sam_build: Build, name: str) -> None:
    """Given the built chat, images and audio functions
    When the Lambda Web Adapter starts their handler `run.sh`
    Then run.sh is there and executable (else the function cannot start) next to app.py."""
    folder = sam_build.directory / logical_id(name)
    run_sh = folder / "run.sh"

    assert run_sh.is_file()
    assert run_sh.stat().st_mode & stat.S_IXUSR, f"run.sh is not executable: {oct(run_sh.stat().st_mode)}"
    assert os.access(run_sh, os.X_OK)
    assert run_sh.read_text(encoding="utf-8").startswith("#!"), "run.sh needs a shebang to be exec'd"
    assert (folder / "app.py").is_file()


ASSET_FOLDERS = ("static",)  # the console's page and its assets (no code)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*API_FUNCTIONS, "sweeper"])
def test_function_artifacts_carry_only_their_own_code(sam_build: Build, name: str) -> None:
    """Given dependencies live in the CommonLayer
    When each function is built
    Then its folder has its app.py and no copy of the dependencies (small, fast deployments)."""
    folder = sam_build.directory / ("SweeperFunction" if name == "sweeper" else logical_id(name))

    assert (folder / "app.py").is_file()
    bundled = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in ("__pycache__", *ASSET_FOLDERS))
    assert bundled == [], f"{folder.name} bundles packages that belong in the layer: {bundled}"


@pytest.mark.slow
def test_the_console_artifact_carries_its_page_and_assets_only(sam_build: Build) -> None:
    """Given the console serves its page and assets from functions/console/static
    When it is built
    Then the artifact holds each of those files, unchanged, and no code among them."""
    source = ROOT / "functions" / "console" / "static"
    built = sam_build.directory / "ConsoleFunction" / "static"

    assert sorted(p.name for p in built.iterdir()) == sorted(p.name for p in source.iterdir())
    for path in source.iterdir():
        assert (built / path.name).read_bytes() == path.read_bytes(), path.name
    assert not list(built.rglob("*.py"))
