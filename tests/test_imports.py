"""Imports stay light and the dependency rules hold.

``import modelcanary`` pulls in no kubernetes, kopf, mlflow, plotly, pandas or httpx; the core
subpackages import no numpy, scipy or PyYAML (those load inside the functions that compute or
parse); and every import-linter contract in ``.importlinter`` still breaks when a forbidden
import is added to a copy of the package (so a contract that silently stops matching, e.g.
after a rename, fails here rather than passing forever).
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = [
    "kubernetes",
    "kopf",
    "mlflow",
    "plotly",
    "pandas",
    "httpx",
    "ipywidgets",
    "numpy",
    "scipy",
]


def _loaded_after(code: str) -> dict[str, bool]:
    probe = (
        f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_import_modelcanary_is_light() -> None:
    loaded = _loaded_after("import modelcanary")
    assert not any(loaded.values()), loaded


def test_sdk_spec_and_cli_stay_light() -> None:
    code = (
        "import modelcanary as mc\n"
        "r = mc.Rollout('x').champion('models:/m@champion').challenger('models:/m/2')"
        ".canary(steps=[10, 50]).slo(mc.sli.error_rate() < '1%').build()\n"
        "import modelcanary.cli._main, modelcanary.spec._crd\n"
        "mc.loads(r.model_dump_json(by_alias=True))"
    )
    loaded = _loaded_after(code)
    assert not any(loaded.values()), loaded


def test_lazy_attribute_errors_are_attribute_errors() -> None:
    import modelcanary

    try:
        modelcanary.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


CORE = [
    "modelcanary.spec",
    "modelcanary.builder",
    "modelcanary.analysis",
    "modelcanary.rollout",
    "modelcanary.convert",
]
COMPUTE_AND_PARSE = ["numpy", "scipy", "yaml", "pandas", "httpx", "mlflow", "plotly"]


@pytest.mark.parametrize("module", CORE)
def test_core_subpackages_import_without_numpy_scipy_or_yaml(module: str) -> None:
    """numpy/scipy load when analysis computes, PyYAML when a file is parsed or written: not on
    import (they were two thirds of ``import modelcanary.analysis``; benchmarks/import_time.py)."""
    probe = (
        f"import sys, json\nimport {module}\n"
        f"print(json.dumps([m for m in {COMPUTE_AND_PARSE!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], module


def test_lazy_numpy_and_yaml_still_load_on_use() -> None:
    example = ROOT / "examples" / "fraud-canary.yaml"
    code = (
        "import sys, json, pathlib\n"
        "from modelcanary.analysis import drift, Predictions\n"
        "from modelcanary.spec import parse_rollout_yaml, to_yaml\n"
        "d = drift(Predictions([0.1, 0.2, 0.3]), Predictions([0.1, 0.2, 0.4]), 'ks')\n"
        f"r = parse_rollout_yaml(pathlib.Path({str(example)!r}).read_text())\n"
        "print(json.dumps([round(d, 3), 'numpy' in sys.modules, 'yaml' in sys.modules, "
        "to_yaml(r).startswith('apiVersion: modelcanary.io/')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0.333, True, True, True]


# --- every import-linter contract breaks on a forbidden import ------------------------------

INJECTIONS: dict[str, tuple[str, str]] = {
    # contract id: (file of the package copy, line appended or written)
    "layers": ("spec/_probe.py", "import modelcanary.engine"),
    "pure-core": ("analysis/_probe.py", "import httpx"),
    "serving-is-a-leaf": ("serving/_probe.py", "import modelcanary.engine"),
    "allow-kubernetes": ("newpackage/__init__.py", "import kubernetes"),  # a new subpackage
    "allow-kopf": ("k8s/_probe.py", "import kopf"),
    "allow-mlflow": ("serving/_server.py", "import mlflow"),  # only serving/_mlflow_pyfunc.py may
    "allow-plotting": ("builder/_probe.py", "import plotly.graph_objects"),
    "allow-pandas": ("local/_probe.py", "import pandas"),  # only local.load may
    "allow-prometheus-api-client": ("providers/_probe.py", "import prometheus_api_client"),
    "allow-httpx": ("newpackage/__init__.py", "import httpx"),
    "allow-optional-clients": ("providers/_datadog.py", "import boto3"),
    "providers-independent": ("providers/_datadog.py", "from . import _newrelic"),
    "routers-independent": ("routers/_istio.py", "from . import _gatewayapi"),
    "local-parts": ("local/_recorder.py", "from . import _runtime"),
    "local-proxy": ("local/_proxy/http11.py", "from . import server"),
}


def _contract_ids() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter", encoding="utf-8")
    prefix = "importlinter:contract:"
    return [s.removeprefix(prefix) for s in parser.sections() if s.startswith(prefix)]


def _lint(copy: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package copy in ``copy`` (found first on the path)."""
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script) if script.exists() else shutil.which("lint-imports") or "lint-imports"]
    for contract in contracts:
        command += ["--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(
        [*command, "--no-cache", str(copy / ".importlinter")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=copy,
        env=env,
    )


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    copy = tmp_path_factory.mktemp("lint")
    shutil.copytree(
        ROOT / "modelcanary", copy / "modelcanary", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / ".importlinter", copy / ".importlinter")
    yield copy


def test_every_contract_has_a_forbidden_import_case() -> None:
    assert sorted(INJECTIONS) == sorted(_contract_ids())


def test_contracts_hold_on_the_package(package_copy: Path) -> None:
    done = _lint(package_copy)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("contract", sorted(INJECTIONS))
def test_contract_breaks_on_a_forbidden_import(package_copy: Path, contract: str) -> None:
    relative, line = INJECTIONS[contract]
    target = package_copy / "modelcanary" / relative
    original = target.read_text(encoding="utf-8") if target.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((original or "") + f"\n{line}\n", encoding="utf-8")
    try:
        done = _lint(package_copy, contract)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original, encoding="utf-8")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and "Contracts: 0 kept, 1 broken." in done.stdout, done.stdout
