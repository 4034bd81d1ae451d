"""Detection with a real Prometheus in the loop (not collected by pytest).

    .venv/bin/python benchmarks/detection_prom.py [--json FILE] [--quick] [--runs N]

The simulation of ``detection.py`` gives both judges exact per-request data. Here the data
path is the production one: a real :class:`LocalRouter` in front of two real model servers
(``ModelServer``, an MLflow iris model, faults injected by the servers themselves), scraped
by a real Prometheus every **15 s**; the analysis reads the router's series through
:class:`PrometheusProvider`: request and error counts and the latency histogram buckets as
exact counter changes (``promql.delta_by``, no extrapolated ``increase()``), so the
sequential error-rate tests run on whole requests and the sequential latency tests on
bucket counts (:mod:`modelcanary.analysis._histogram`).

On the same traffic and the same windows an *embedded* judge (the router's recorder:
exact per-request data, what the simulation models) analyses in the shadow: its verdicts
and decision times are what the simulation's would be, and ``verdict_agreement`` says how
often the Prometheus path ended the same way. Routing follows the Prometheus path (the
shadow keeps being fed the same weights once the Prometheus path has decided).

Rollout: ``stepWeights [10, 25, 50]``, ``interval`` 30 s (Flagger's default metric window
is 1m; shorter here so that a run takes minutes), error rate <= 1 %, latency p99 <= 250 ms
(a bucket bound, the simulation's SLO), no judge set (defaults: sequential with the
champion as baseline), analysed once per interval (the shipped controller path), for at
most ``len(weights) + 6`` intervals: a run still holding then ends as ``timeout`` (held
for evidence, not a rollback). Both servers answer in ~``--base-ms`` (50 ms, the
simulation's median) and fail 0.5 % of requests; scenarios change the challenger:
``healthy``, ``errors_5pct`` (0.5 % -> 5 %), ``latency_x2`` (50 -> 100 ms, inside the
250 ms SLO: only the champion comparison on bucket counts can see it), ``latency_x6``
(50 -> 300 ms: the SLO test on bucket counts). ``--quick`` (2 s
scrape, 10 s interval, one run each) checks that the script works; report the 15 s
figures. Output: one line per run, one per scenario, PASS/FAIL goal lines, then the JSON
summary (``--json FILE`` too): ``scenarios`` (name, kind, in_slo, runs, per judge
``false_rollback_rate``/``promoted_rate``/``held_rate`` or ``detection_rate``,
``detect_s_median``, ``promote_s_median``; ``verdict_agreement``; ``bucket_trials``: the
challenger's requests in the tiled windows' bucket counts, ``served_trials``: the requests
the router recorded up to the last scrape's timestamp, ``served_trials_high``: up to the end
of that scrape (its timestamp plus ``scrape_duration_seconds``: the scrape read the router
somewhere in between, so the bucket counts lie in ``[served_trials, served_trials_high]``)
and ``goals``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelcanary.analysis import AnalysisState, analyse_interval
from modelcanary.analysis._measurements import IntervalData, LatencyHistogram, Samples, Window
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.local._recorder import Recorder
from modelcanary.providers import EmbeddedProvider, PrometheusProvider
from modelcanary.serving import Faults, ModelServer
from modelcanary.spec import ModelRollout, Routes, parse_rollout

ROUTER_PATH = "/_modelcanary/metrics"
WEIGHTS = (10, 25, 50)
BASE_ERROR = 0.005
SLO_ERROR, SLO_P99_MS = 0.01, 250.0


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # healthy | fault
    in_slo: bool
    error_rate: float = BASE_ERROR
    latency_x: float = 1.0


SCENARIOS = (
    Scenario("healthy", "healthy", True),
    Scenario("errors_5pct", "fault", False, error_rate=0.05),
    Scenario("latency_x2", "fault", True, latency_x=2.0),
    Scenario("latency_x6", "fault", False, latency_x=6.0),
)


@dataclass
class JudgePath:
    """One judge's run: its state, its end and when."""

    state: AnalysisState | None = None
    end: str | None = None  # rollback | promote | inconclusive | timeout
    at_s: float | None = None
    step: int = 0
    reasons: list[str] = field(default_factory=list)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (for Prometheus, which retries if it is taken)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_HELD: list[socket.socket] = []


def reserved_port() -> int:
    """A TCP port on 127.0.0.1 for the routers of every run (one after another on it, as
    Prometheus scrapes it): held bound with ``SO_REUSEADDR``, never listening, until the
    process exits, so ``bind(port 0)`` never hands it to anyone else in between, while a
    router binding it with ``SO_REUSEADDR`` (asyncio does) succeeds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


def save_model(root: Path) -> tuple[Path, str]:
    """A tiny iris LogisticRegression saved with mlflow, and one request body."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = root / "iris"
    mlflow.sklearn.save_model(
        model, path, pip_requirements=["scikit-learn"], signature=infer_signature(X, y)
    )
    row = {"columns": list(X.columns), "data": X.iloc[:1].to_numpy().tolist()}
    return path, json.dumps({"dataframe_split": row})


def _listens(pid: int, port: int) -> bool:
    """Process ``pid`` holds the socket listening on TCP ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for row in Path(table).read_text().splitlines()[1:]:
                f = row.split()
                if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{f[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


class Prometheus:
    """/usr/bin/prometheus scraping the router's port every ``scrape_s``."""

    def __init__(self, workdir: Path, router_port: int, scrape_s: float) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {scrape_s:g}s\n  evaluation_interval: {scrape_s:g}s\n"
            "scrape_configs:\n  - job_name: router\n"
            f"    metrics_path: {ROUTER_PATH}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{router_port}']\n"
        )
        # the picked port may be taken by another process before Prometheus binds it: it
        # then exits with "address already in use" and starts again on another port
        for attempt in range(1, 6):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            log_path = workdir / f"prometheus-{attempt}.log"
            self.log = log_path.open("wb")
            self.process = subprocess.Popen(
                [
                    shutil.which("prometheus") or "/usr/bin/prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return
            self.stop()
            if "address already in use" not in log_path.read_text(errors="replace") or attempt == 5:
                raise RuntimeError(f"prometheus did not become ready (log: {log_path})")

    def _wait_ready(self) -> bool:
        """True once Prometheus itself listens on its port and /-/ready answers 200 (an
        answer from whoever took the port is not its answer); False if it exits or 60 s
        pass."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            if not _listens(self.process.pid, self.port):
                time.sleep(0.2)
                continue
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


def rollout(name: str, prometheus: str, interval_s: float) -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {
                "champion": {"modelUri": "models:/iris@champion"},
                "challenger": {"modelUri": "models:/iris/2"},
                "metricsProvider": {"type": "prometheus", "address": prometheus},
                "analysis": {
                    "interval": f"{interval_s:g}s",
                    "stepWeights": list(WEIGHTS),
                    "metrics": [
                        {"name": "error-rate", "thresholdRange": {"max": SLO_ERROR}},
                        {"name": "latency-p99", "thresholdRange": {"max": SLO_P99_MS}},
                    ],
                },
            },
        }
    )


def drive(url: str, body: str, rps: float, stop: threading.Event, workers: int = 8) -> None:
    """Send ``rps`` requests per second (open loop per worker) until ``stop``."""

    def worker(offset: float) -> None:
        period = workers / rps
        with httpx.Client(base_url=url, timeout=10) as client:
            next_t = time.monotonic() + offset
            while not stop.is_set():
                pause = next_t - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_t += period
                with contextlib.suppress(httpx.HTTPError):
                    client.post(
                        "/invocations", content=body, headers={"content-type": "application/json"}
                    )

    threads = [
        threading.Thread(target=worker, args=(i / rps,), daemon=True) for i in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def judge(path: JudgePath, data: IntervalData, spec: ModelRollout, elapsed: float) -> str:
    """One interval for one judge: its action (and the path's end when it ends)."""
    result = analyse_interval(spec.spec.analysis, data, path.state)
    path.state = result.state
    path.reasons.append(f"step {path.step}: {result.action}: {result.message}")
    if result.action == "rollback":
        path.end, path.at_s = "rollback", elapsed
    elif result.action == "inconclusive":
        path.end, path.at_s = "inconclusive", elapsed
    elif result.action == "advance":
        path.step += 1
        if path.step >= len(WEIGHTS):
            path.end, path.at_s = "promote", elapsed
    return result.action


def wait_scraped(provider: PrometheusProvider, since: float, timeout: float = 90.0) -> None:
    """Wait for a successful scrape of the router after ``since`` (a new target is first
    scraped some seconds after Prometheus starts; the port's previous router is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = provider.api.vector('max(timestamp(up{job="router"} == 1))', time.time())
        if rows and rows[0][1] >= since:
            return
        time.sleep(0.2)
    raise RuntimeError("prometheus did not scrape the router")


SCRAPE_TOLERANCE_S = 0.002
"""Prometheus may move a scrape's timestamp by up to 2 ms onto its schedule."""


def served_until_last_scrape(
    provider: PrometheusProvider,
    embedded: EmbeddedProvider,
    spec: ModelRollout,
    name: str,
    t0: float,
    end: float,
) -> tuple[int, int]:
    """Challenger requests the router recorded by the last scrape at or before ``end``, as
    (up to its timestamp, up to its timestamp plus its duration): the scrape read the router
    somewhere in between, so the tiled windows' bucket counts must lie in that range (a
    request finishing while the scrape was on its way in may be on either side)."""
    series = f'modelcanary_router_request_duration_seconds_count{{rollout="{name}"}}'
    rows = provider.api.vector(f"max(timestamp({series}))", end)
    if not rows:
        return 0, 0
    stamp = rows[0][1]
    took = provider.api.vector('max(scrape_duration_seconds{job="router"})', stamp)
    duration = took[0][1] if took else 0.0

    def recorded(until: float) -> int:
        lat = embedded.collect(spec, Window(t0 - 60.0, until)).challenger.latencies
        return len(lat.values) if isinstance(lat, Samples) else 0

    return (
        recorded(stamp - SCRAPE_TOLERANCE_S),
        recorded(stamp + duration + SCRAPE_TOLERANCE_S),
    )


def run(
    scenario: Scenario, seed: int, model: Path, body: str, prom: Prometheus, port: int, a: Any
) -> dict[str, Any]:
    """One rollout on real traffic; both judges' ends and the bucket-count check."""
    name = f"{scenario.name.replace('_', '-')}-{seed}"
    base = a.base_ms
    champion = ModelServer(
        str(model), faults=Faults(BASE_ERROR, base, seed), model_name="iris", model_version="1"
    ).start()
    challenger = ModelServer(
        str(model),
        faults=Faults(scenario.error_rate, base * scenario.latency_x, seed + 1),
        model_name="iris",
        model_version="2",
    ).start()
    recorder = Recorder()
    router = LocalRouter(champion.url, challenger.url, rollout=name, recorder=recorder, port=port)
    spec = rollout(name, prom.url, a.interval)
    prom_path, shadow = JudgePath(), JudgePath()
    provider = PrometheusProvider(prom.url, series_points=0)
    embedded = EmbeddedProvider(recorder)
    stop = threading.Event()
    bucket_trials = 0
    try:
        router.start()
        router.set_routes(spec, Routes(100 - WEIGHTS[0], WEIGHTS[0]))
        wait_scraped(provider, time.time())
        traffic = threading.Thread(target=drive, args=(router.url, body, a.rps, stop), daemon=True)
        t0 = time.time()
        traffic.start()
        prev = t0
        for tick in range(1, a.max_ticks + 1):
            now = t0 + tick * a.interval
            time.sleep(max(0.0, now - time.time()))
            window, elapsed = Window(prev, now), now - t0
            prev = now
            data = provider.collect(spec, window)  # every tick: the windows tile the run
            hist = data.challenger.latencies
            bucket_trials += int(hist.total) if isinstance(hist, LatencyHistogram) else 0
            if prom_path.end is None:
                judge(prom_path, data, spec, elapsed)
            if shadow.end is None:
                judge(shadow, embedded.collect(spec, window), spec, elapsed)
            if prom_path.end is not None and shadow.end is not None:
                break
            step = prom_path.step if prom_path.end is None else shadow.step
            weight = WEIGHTS[min(step, len(WEIGHTS) - 1)]
            router.set_routes(spec, Routes(100 - weight, weight))
        served = served_until_last_scrape(provider, embedded, spec, name, t0, prev)
    finally:
        stop.set()
        router.stop()
        champion.stop()
        challenger.stop()
    for path in (prom_path, shadow):
        if path.end is None:
            path.end = "timeout"
    return {
        "scenario": scenario.name,
        "seed": seed,
        "prometheus": {"end": prom_path.end, "at_s": prom_path.at_s},
        "embedded": {"end": shadow.end, "at_s": shadow.at_s},
        "bucket_trials": bucket_trials,
        "served_trials": served[0],
        "served_trials_high": served[1],
        "reasons": prom_path.reasons[-2:],
        "embedded_reasons": shadow.reasons[-2:],
    }


def summarise(scenario: Scenario, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-judge rates and median times of one scenario's runs."""
    out: dict[str, Any] = {
        "name": scenario.name,
        "kind": scenario.kind,
        "in_slo": scenario.in_slo,
        "runs": len(runs),
    }
    for judge_name in ("prometheus", "embedded"):
        ends = [r[judge_name]["end"] for r in runs]
        times = [r[judge_name]["at_s"] for r in runs if r[judge_name]["end"] == "rollback"]
        promote = [r[judge_name]["at_s"] for r in runs if r[judge_name]["end"] == "promote"]
        stats: dict[str, Any] = {"ends": ends}
        if scenario.kind == "healthy":
            stats["false_rollback_rate"] = sum(e == "rollback" for e in ends) / len(runs)
            stats["promoted_rate"] = sum(e == "promote" for e in ends) / len(runs)
            stats["held_rate"] = sum(e in ("timeout", "inconclusive") for e in ends) / len(runs)
        else:
            stats["detection_rate"] = sum(e == "rollback" for e in ends) / len(runs)
        stats["detect_s_median"] = statistics.median(times) if times else None
        stats["promote_s_median"] = statistics.median(promote) if promote else None
        out[judge_name] = stats
    out["verdict_agreement"] = sum(
        r["prometheus"]["end"] == r["embedded"]["end"] for r in runs
    ) / len(runs)
    out["bucket_trials"] = sum(r["bucket_trials"] for r in runs)
    out["served_trials"] = sum(r["served_trials"] for r in runs)
    out["served_trials_high"] = sum(r["served_trials_high"] for r in runs)
    out["bucket_counts_within_scrape"] = all(
        r["served_trials"] <= r["bucket_trials"] <= r["served_trials_high"] for r in runs
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--quick", action="store_true", help="2 s scrape, 10 s interval, 1 run")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario")
    parser.add_argument("--scrape", type=float, default=15.0, help="scrape interval (s)")
    parser.add_argument("--interval", type=float, default=30.0, help="analysis interval (s)")
    parser.add_argument("--rps", type=float, default=40.0, help="requests per second")
    parser.add_argument("--base-ms", type=float, default=50.0, help="servers' added latency")
    parser.add_argument("--verbose", action="store_true", help="print the last reasons")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    a = parser.parse_args()
    if a.quick:
        a.scrape, a.interval, a.runs = 2.0, 10.0, 1
    a.max_ticks = len(WEIGHTS) + 6
    chosen = [s for s in SCENARIOS if s.name in a.scenarios.split(",")]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-detection-prom-") as tmp:
        model, body = save_model(Path(tmp))
        port = reserved_port()
        prom = Prometheus(Path(tmp), port, a.scrape)
        try:
            results = []
            for scenario in chosen:
                runs = []
                for seed in range(a.runs):
                    r = run(scenario, seed, model, body, prom, port, a)
                    runs.append(r)
                    print(
                        f"{scenario.name:12} seed {seed}: prometheus {r['prometheus']['end']} "
                        f"@{r['prometheus']['at_s']}s, embedded {r['embedded']['end']} "
                        f"@{r['embedded']['at_s']}s; challenger latencies: "
                        f"{r['bucket_trials']} in tiled bucket counts, {r['served_trials']}-"
                        f"{r['served_trials_high']} served by the last scrape",
                        flush=True,
                    )
                    if a.verbose:
                        for line in r["reasons"] + r["embedded_reasons"]:
                            print(f"    {line}", flush=True)
                results.append(summarise(scenario, runs))
        finally:
            prom.stop()
    goals = {
        "no_false_rollback_in_healthy_runs": all(
            s["prometheus"].get("false_rollback_rate", 0.0) == 0.0 for s in results
        ),
        "every_fault_detected": all(
            s["prometheus"].get("detection_rate", 1.0) == 1.0 for s in results
        ),
        "verdicts_agree_with_exact_data": all(s["verdict_agreement"] == 1.0 for s in results),
        "bucket_counts_equal_served_requests": all(
            s["bucket_counts_within_scrape"] for s in results
        ),
    }
    summary: dict[str, Any] = {
        "config": {
            "scrape_s": a.scrape,
            "interval_s": a.interval,
            "rps": a.rps,
            "base_latency_ms": a.base_ms,
            "weights": list(WEIGHTS),
            "runs": a.runs,
            "slo": {"error_rate_max": SLO_ERROR, "latency_p99_max_ms": SLO_P99_MS},
        },
        "scenarios": results,
        "goals": goals,
        "seconds": round(time.time() - started, 1),
    }
    print()
    for s in results:
        p, e = s["prometheus"], s["embedded"]
        rate = "false_rollback_rate" if s["kind"] == "healthy" else "detection_rate"
        promoted = (
            f"promoted {p['promoted_rate']:.2f} / {e['promoted_rate']:.2f}; "
            if s["kind"] == "healthy"
            else ""
        )
        print(
            f"{s['name']:12} {rate} prometheus {p[rate]:.2f} / embedded {e[rate]:.2f}; "
            f"{promoted}"
            f"detect median {p['detect_s_median']} / {e['detect_s_median']} s; "
            f"promote median {p['promote_s_median']} / {e['promote_s_median']} s; "
            f"agreement {s['verdict_agreement']:.2f}; challenger requests in buckets / "
            f"served {s['bucket_trials']}/{s['served_trials']}"
        )
    for goal, ok in goals.items():
        print(f"{'PASS' if ok else 'FAIL'} {goal}")
    print(json.dumps(summary))
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
