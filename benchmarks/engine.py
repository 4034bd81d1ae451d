"""Engine benchmark: N concurrent rollouts ticked round by round through in-memory ports.

    .venv/bin/python benchmarks/engine.py [--rollouts 1000] [--json FILE]

Every round ticks every rollout once (observe, step, execute, save), then advances the clock
by one analysis interval, until every rollout has finished. Reports CPU seconds per round and
per tick. Target (not a test assertion): <= 1 s of CPU per round of 1,000 rollouts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from engine_fakes import World, make_engine, make_rollout  # noqa: E402

from modelcanary.engine import ManualClock, MemoryStatusStore  # noqa: E402
from modelcanary.spec import Phase  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    store, clock = MemoryStatusStore(), ManualClock()
    template = make_rollout(stepWeights=[5, 10, 25, 50])
    names = [f"model-{i}" for i in range(args.rollouts)]
    worlds = {}
    engines = {}
    for i, name in enumerate(names):
        meta = template.metadata.model_copy(update={"name": name})
        store.put(template.model_copy(update={"metadata": meta}))
        world = World(error_rate=0.3 if i % 10 == 0 else 0.0)  # one in ten is faulty
        worlds[name] = world
        engines[name] = make_engine(store, world, clock)
    rounds: list[float] = []
    ticks = 0
    active = set(names)
    while active:
        start = time.process_time()
        for name in list(active):
            result = engines[name].tick(name, "ml")
            ticks += 1
            if result.phase is not None and result.phase.traits.decided:
                active.discard(name)
        rounds.append(time.process_time() - start)
        clock.advance(30)
    phases = [store.get(n, "ml").rollout.status.phase for n in names]  # type: ignore[union-attr]
    results = {
        "rollouts": args.rollouts,
        "rounds": len(rounds),
        "ticks": ticks,
        "cpu_seconds_per_round_median": round(statistics.median(rounds), 4),
        "cpu_seconds_per_round_max": round(max(rounds), 4),
        "cpu_ms_per_tick": round(sum(rounds) / ticks * 1000, 4),
        "succeeded": phases.count(Phase.SUCCEEDED),
        "failed": phases.count(Phase.FAILED),
    }
    for key, value in results.items():
        print(f"{key:<32} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
