"""Import time of the core subpackages, each in a fresh interpreter.

    .venv/bin/python benchmarks/import_time.py [--runs N] [--json FILE] [--no-bytecode-cache]
        [MODULE ...]

For each module (default: ``modelcanary`` and the core subpackages ``spec``, ``builder``,
``analysis``, ``rollout``, plus ``convert`` and ``modelcanary.cli._main``) it starts ``N`` fresh
interpreters, times ``import MODULE`` inside each (``time.perf_counter`` around the import, so
interpreter start-up is not counted) and prints the median, min and max wall time and the
median CPU time (``time.process_time``: steadier on a busy machine) in milliseconds, the
heavy third-party modules the import pulled in, and the same figures as JSON.

Bytecode is cached in a temporary directory (``PYTHONPYCACHEPREFIX``), as for an installed
package; ``--no-bytecode-cache`` compiles every module from source instead (as with
``PYTHONDONTWRITEBYTECODE=1``, about 1.5 times slower).

Target (issue 13, not a test assertion: timings belong here, not in tests): each core
subpackage imports in <= 100 ms, ``import modelcanary`` in <= 50 ms. For a per-module
breakdown of one import run ``python -X importtime -c "import modelcanary.analysis"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = [
    "modelcanary",
    "modelcanary.spec",
    "modelcanary.builder",
    "modelcanary.analysis",
    "modelcanary.rollout",
    "modelcanary.convert",
    "modelcanary.cli._main",
]
HEAVY = ["numpy", "scipy", "yaml", "pydantic", "httpx", "pandas", "mlflow", "plotly", "re2"]
TARGET_MS = {"modelcanary": 50.0}
CORE_TARGET_MS = 100.0

_PROBE = """
import sys, time, json
t, c = time.perf_counter(), time.process_time()
import {module}
ms, cpu = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
print(json.dumps({{"ms": ms, "cpu": cpu, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _environment(pycache: str | None) -> dict[str, str]:
    """The children's environment: bytecode cached (as after ``pip install``) in ``pycache``,
    or, with ``None``, no bytecode cache at all.

    Without cached bytecode every import compiles its source again (``PYTHONDONTWRITEBYTECODE``
    is set in some shells and CI images), which costs about as much as the imports themselves.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def measure(module: str, runs: int, env: dict[str, str]) -> dict[str, object]:
    """Median/min/max import time of ``module`` over ``runs`` fresh interpreters (after one
    uncounted warm-up run that writes the bytecode cache)."""
    samples: list[float] = []
    cpu: list[float] = []
    heavy: list[str] = []
    for run in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE.format(module=module, heavy=HEAVY)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=env,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        heavy = list(result["heavy"])
        if run == 0:
            continue  # warm-up: compiles and caches the bytecode
        samples.append(float(result["ms"]))
        cpu.append(float(result["cpu"]))
    target = TARGET_MS.get(module, CORE_TARGET_MS)
    median = statistics.median(samples)
    return {
        "module": module,
        "median_ms": round(median, 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "median_cpu_ms": round(statistics.median(cpu), 1),
        "runs": runs,
        "target_ms": target,
        "within_target": median <= target,
        "heavy_imports": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=CORE, help="modules to time")
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per module")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every import from source (PYTHONDONTWRITEBYTECODE=1, no __pycache__)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelcanary-pycache-") as pycache:
        env = _environment(None if args.no_bytecode_cache else pycache)
        results = [measure(module, args.runs, env) for module in args.modules]
    head = ("module", "median", "min", "max", "cpu", "target")
    print(f"{head[0]:<22} " + " ".join(f"{h:>8}" for h in head[1:]) + "  heavy imports")
    for r in results:
        mark = "ok" if r["within_target"] else "SLOW"
        heavy = ", ".join(r["heavy_imports"]) or "-"  # type: ignore[arg-type]
        print(
            f"{r['module']:<22} {r['median_ms']:>6.1f}ms {r['min_ms']:>6.1f}ms "
            f"{r['max_ms']:>6.1f}ms {r['median_cpu_ms']:>6.1f}ms {r['target_ms']:>6.0f}ms  "
            f"{mark:<4} {heavy}"
        )
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
