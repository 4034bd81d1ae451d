"""A challenger that hangs mid-rollout: how long until the rollback, what clients see meanwhile.

    .venv/bin/python benchmarks/hung_challenger.py [--code DIR] [--deadline S] [--json FILE]

A real local rollout (``LocalRun``) on 127.0.0.1: a healthy champion process, a challenger
process that answers 100 ``/invocations`` and then hangs (accepts connections, answers
nothing, ``/ping`` included), a shadow -> 20 % -> 50 % plan with a 2 s interval and the
built-in load (40 requests/s, 4 connections, 10 s client timeout). Prints, as JSON: the
outcome and message; seconds from the challenger's last answer to the rollback (the status
time of the last phase change: the start of the tick that decided it), to the moment the
router sent the challenger nothing more (no weight, no mirror) and to the end of the run
(the load first waits for the calls the hung challenger holds, up to the client timeout);
the client side: requests sent and failed, latency percentiles, and the requests that
waited for the client timeout.

``--code DIR`` runs another copy of the package, e.g. the code before the hang verdict:
``git archive <rev> | tar -x -C /tmp/before`` then ``--code /tmp/before`` (with
``--deadline 60``: there the rollout only ends at ``progressDeadlineSeconds``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "local" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _epoch(stamp: str | None) -> float:
    from datetime import datetime

    return datetime.fromisoformat((stamp or "").replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(deadline: int) -> dict[str, Any]:
    import modelcanary as mc
    from modelcanary.local._runtime import LocalRun

    endpoint = _load("dead_challenger_endpoint").endpoint
    hung_endpoint = _load("hung_challenger_server").hung_endpoint
    with endpoint("champion") as champion, hung_endpoint(after=100) as challenger:
        rollout = (
            mc.Rollout("hangs")
            .champion(champion.url)
            .challenger(challenger.url)
            .slo(mc.sli.error_rate() < "5%")
            .canary(steps=[20, 50], interval="2s")
            .shadow(percent=100, iterations=1)
            .load(rps=40, concurrency=4)
            .progress_deadline(deadline)
            .build()
        )
        with LocalRun(rollout, payloads=[b'{"inputs": [[1.0, 2.0]]}']) as run:
            started, moved = time.time(), None
            while not run.done and time.time() - started < deadline + 60:
                routes = run.router.routes if run.router is not None else None
                split = routes is not None and (routes.challenger_weight or routes.mirror_weight)
                moved = None if split else (moved or time.time())  # challenger out of routes
                time.sleep(0.05)
            ended = time.time()
            status = run.status()
            rows = run.recorder.rows()
        stats = run.load_stats()
    answers = [r.timestamp for r in rows if r.version == "challenger" and r.status == 200]
    hung_at = max(answers) if answers else started
    latencies = stats.latencies_ms if stats is not None else []
    return {
        "outcome": status.outcome,
        "message": status.message,
        "hang_to_rollback_s": round(_epoch(status.last_transition_time) - hung_at, 1),
        "hang_to_routes_moved_s": round((moved or ended) - hung_at, 1),
        "hang_to_end_s": round(ended - hung_at, 1),
        "run_s": round(ended - started, 1),
        "client_sent": stats.sent if stats else 0,
        "client_ok": stats.ok if stats else 0,
        "client_errors": stats.errors if stats else 0,
        "client_timed_out": sum(1 for ms in latencies if ms >= 9_900),
        "latency_p50_ms": round(_percentile(latencies, 0.5), 1),
        "latency_p99_ms": round(_percentile(latencies, 0.99), 1),
        "latency_max_ms": round(max(latencies, default=0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", help="run this copy of the package instead")
    parser.add_argument("--deadline", type=int, default=600, help="progressDeadlineSeconds")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    report = run(args.deadline)
    print(json.dumps(report), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
