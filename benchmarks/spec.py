"""Spec benchmark: import time of `modelcanary`, validation and YAML round-trip throughput.

    .venv/bin/python benchmarks/spec.py [--json FILE]

Prints a table and (optionally) JSON. Targets (not test assertions): `import modelcanary`
< 50 ms, validating a full rollout < 1 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_ms(runs: int = 7) -> float:
    code = (
        "import time; t = time.perf_counter(); import modelcanary; "
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def _per_call_ms(func: object, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        func()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write results here")
    args = parser.parse_args()

    from modelcanary.spec import parse_rollout, parse_rollout_yaml, to_yaml
    from modelcanary.spec._crd import crd

    text = (ROOT / "examples" / "fraud-full.yaml").read_text()
    rollout = parse_rollout_yaml(text)
    data = rollout.to_dict()
    results = {
        "import_modelcanary_ms": round(_import_ms(), 2),
        "validate_dict_ms": round(_per_call_ms(lambda: parse_rollout(data), 500), 4),
        "parse_yaml_ms": round(_per_call_ms(lambda: parse_rollout_yaml(text), 200), 4),
        "to_yaml_ms": round(_per_call_ms(lambda: to_yaml(rollout), 200), 4),
        "generate_crd_ms": round(_per_call_ms(crd, 20), 3),
    }
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:>10}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
