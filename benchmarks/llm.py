"""LLM rollout benchmark: streaming overhead of the router, and how fast a worse answer
quality is caught.

    .venv/bin/python benchmarks/llm.py [--json FILE] [--runs 200] [--rate 5]
        [--concurrency 1 32 256] [--requests N] [--skip-stream] [--skip-detection]

**Streaming overhead** (``benchmarks/_llm_stream.py``, ``stream_overhead(concurrency,
requests)``): the same streamed chat completions from the LLM simulator, direct and through
the local router, at 1, 32 and 256 concurrent streams: the client's time to first token
p50/p99 through the router minus direct (the goal: <= 1 ms at p50) and the ratio of output
tokens per second (router / direct).

**Detection of a quality regression**: judged answer pairs arrive at ``--rate`` prompts per
second (Poisson), each scoring the challenger win / tie / loss; every second (one look) the
new outcomes feed :func:`modelcanary.analysis._winrate.update_win_rate` and
:func:`~modelcanary.analysis._winrate.win_rate_verdict` decides (alpha 0.01, the rollouts'
default; margin 0.05: roll back once the win rate is shown under 0.45). Per scenario,
``--runs`` seeded runs of up to ``--horizon`` seconds:

- ``regression`` (true win rate 0.4): median and p90 seconds (and judged pairs) to the
  rollback verdict, share detected within the horizon;
- ``healthy`` (true win rate 0.5): the false-rollback rate (any ``fail`` at any look within
  the horizon) and the median / p90 seconds to the ``pass`` (non-inferior) verdict.

Each at two tie shares: 0 (every pair has a winner, the LLM-as-judge without ties) and 0.5
(half the pairs tie: the reference judge when both versions are usually right or both
wrong); a tie scores 0.5, so the same win rate is less noisy with ties.

Prints a table and, with ``--json``, writes ``{"config", "stream", "detection"}``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from modelcanary.analysis._winrate import WinRateState, update_win_rate, win_rate_verdict

ALPHA = 0.01
"""The sequential judge's default false-alarm rate (``analysis._judges.DEFAULT_ALPHA``)."""
MARGIN = 0.05
"""``win-rate``'s default non-inferiority margin."""
TIE_SHARES = (0.0, 0.5)
SCENARIOS = {"healthy": 0.5, "regression": 0.4}
"""Scenario -> the challenger's true win rate (ties counted half)."""


def outcome_shares(win_rate: float, tie_share: float) -> tuple[float, float, float]:
    """(P(win), P(tie), P(loss)) with ``P(win) + P(tie) / 2 == win_rate``."""
    win = win_rate - tie_share / 2
    loss = 1.0 - tie_share - win
    if win < 0 or loss < 0:
        raise ValueError(f"win rate {win_rate} impossible with tie share {tie_share}")
    return win, tie_share, loss


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (small means only)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def one_run(
    seed: int, win_rate: float, tie_share: float, rate: float, horizon: int
) -> dict[str, float | None]:
    """One simulated rollout's quality gate: seconds and pairs to the first ``fail`` and to
    the first ``pass`` (None: not within the horizon). After a ``pass`` the looks go on (a
    rollout keeps testing while it steps), so a later ``fail`` still counts."""
    rng = random.Random(seed)
    win, tie, _ = outcome_shares(win_rate, tie_share)
    state = WinRateState()
    fail_s: float | None = None
    pass_s: float | None = None
    fail_pairs: float | None = None
    for second in range(1, horizon + 1):
        counts = {"wins": 0, "ties": 0, "losses": 0}
        for _ in range(_poisson(rng, rate)):
            u = rng.random()
            counts["wins" if u < win else "ties" if u < win + tie else "losses"] += 1
        state = update_win_rate(state, margin=MARGIN, **counts)
        verdict = win_rate_verdict(state, ALPHA)
        if verdict == "fail":
            fail_s, fail_pairs = float(second), float(state.pairs)
            break  # rolled back
        if verdict == "pass" and pass_s is None:
            pass_s = float(second)
    return {"fail_s": fail_s, "fail_pairs": fail_pairs, "pass_s": pass_s}


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def detection(runs: int, rate: float, horizon: int) -> list[dict[str, Any]]:
    """Every scenario at every tie share, ``runs`` seeds each."""
    rows = []
    for tie_share in TIE_SHARES:
        for name, win_rate in SCENARIOS.items():
            results = [
                one_run(10_000 * i + seed, win_rate, tie_share, rate, horizon)
                for i, seed in enumerate(range(runs), start=1)
            ]
            fails = [r["fail_s"] for r in results if r["fail_s"] is not None]
            pairs = [r["fail_pairs"] for r in results if r["fail_pairs"] is not None]
            passes = [r["pass_s"] for r in results if r["pass_s"] is not None]
            row: dict[str, Any] = {
                "scenario": name,
                "win_rate": win_rate,
                "tie_share": tie_share,
                "runs": runs,
                "rollback_rate": len(fails) / runs,
                "rollback_s_median": _quantile(fails, 0.5),
                "rollback_s_p90": _quantile(fails, 0.9),
                "rollback_pairs_median": _quantile(pairs, 0.5),
                "pass_rate": len(passes) / runs,
                "pass_s_median": _quantile(passes, 0.5),
                "pass_s_p90": _quantile(passes, 0.9),
            }
            rows.append(row)
            _print_detection(row)
    return rows


def _print_detection(row: dict[str, Any]) -> None:
    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    if row["scenario"] == "regression":
        print(
            f"  regression 0.5->0.4, ties {row['tie_share']:.0%}: rolled back "
            f"{row['rollback_rate']:.1%}, median {s(row['rollback_s_median'])} s "
            f"({s(row['rollback_pairs_median'])} pairs), p90 {s(row['rollback_s_p90'])} s"
        )
    else:
        print(
            f"  healthy 0.5, ties {row['tie_share']:.0%}: false rollbacks "
            f"{row['rollback_rate']:.1%}; non-inferior shown in {row['pass_rate']:.0%}, "
            f"median {s(row['pass_s_median'])} s, p90 {s(row['pass_s_p90'])} s"
        )
    sys.stdout.flush()


def stream(concurrencies: list[int], requests: int | None) -> list[dict[str, Any]] | str:
    """``stream_overhead`` at each concurrency, or why it could not run."""
    try:
        from _llm_stream import stream_overhead
    except ImportError as exc:
        return f"benchmarks/_llm_stream.py not available: {exc}"
    rows = []
    for concurrency in concurrencies:
        n = requests if requests is not None else max(64, 4 * concurrency)
        row = dict(stream_overhead(concurrency, n))
        row.setdefault("concurrency", concurrency)
        rows.append(row)
        _print_stream(row)
    return rows


def _print_stream(row: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        value = row.get(key)
        return "-" if value is None else f"{value:.2f}"

    ratio = row.get("tokens_per_s_ratio")
    print(
        f"  {row['concurrency']:>4} streams: TTFT p50 direct {ms('direct_ttft_p50_ms')} ms, "
        f"router {ms('router_ttft_p50_ms')} ms (overhead {ms('ttft_p50_overhead_ms')} ms); "
        f"p99 {ms('direct_ttft_p99_ms')} -> {ms('router_ttft_p99_ms')} ms "
        f"({ms('ttft_p99_overhead_ms')} ms); tokens/s ratio "
        f"{'-' if ratio is None else f'{ratio:.3f}'}; failed "
        f"{row.get('direct_failed', '-')} direct, {row.get('router_failed', '-')} router"
    )
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run both parts, print them, optionally write JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--runs", type=int, default=200, help="seeded runs per scenario")
    parser.add_argument("--rate", type=float, default=5.0, help="judged prompts per second")
    parser.add_argument("--horizon", type=int, default=3600, help="seconds per run at most")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--requests", type=int, help="streams per concurrency level")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--skip-detection", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "config": {
            "alpha": ALPHA,
            "margin": MARGIN,
            "rate_per_s": args.rate,
            "look_every_s": 1,
            "runs": args.runs,
            "horizon_s": args.horizon,
            "concurrency": args.concurrency,
        }
    }
    if not args.skip_stream:
        print("streaming overhead (router - direct):")
        result["stream"] = stream(args.concurrency, args.requests)
        if isinstance(result["stream"], str):
            print(f"  skipped: {result['stream']}")
    if not args.skip_detection:
        print(f"quality regression at {args.rate:g} judged prompts/s, 1 s looks:")
        result["detection"] = detection(args.runs, args.rate, args.horizon)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(f"elapsed: {result['elapsed_s']:.0f}s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
