"""``import modelcanary`` stays light: no kubernetes, kopf, mlflow, plotly, pandas, httpx."""

from __future__ import annotations

import json
import subprocess
import sys

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
        "import modelcanary.cli.main, modelcanary.spec.crd\n"
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
