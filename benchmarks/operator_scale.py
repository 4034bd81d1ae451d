"""Operator scale benchmark: N concurrent rollouts ticked by one in-process operator.

Runs the real operator (kopf, ``modelcanary.controller`` registry and runtime, the
``modelcanary.k8s`` adapters, the Istio router) in a thread against the API server named by
``$KUBECONFIG`` or, by default, the kmock harness of the tests (``tests/kube_fixtures.py``),
with a Prometheus-API fake on loopback (``tests/prom_api_fake.py``) answering a healthy error
rate. ``--rollouts`` Deployments and targetRef ModelRollouts are created, each Deployment gets a
new revision, and once every rollout is Progressing (many weight steps, so they stay in
progress) the operator is measured for ``--duration`` seconds:

- **tick lag**: for each tick, the time it started minus the time the operator's runtime said
  the rollout was next due (``OperatorRuntime._due``, read by wrapping ``drive``; the first
  tick of a rollout and ticks woken by a watch event have no due time and are not counted);
- **operator CPU seconds per rollout-minute**: user+system CPU of the operator's threads only
  (the kopf event loop thread and its executor threads, read from ``/proc/self/task/TID/stat``;
  the API emulator, the fake kubelet and Prometheus run in other threads);
- **API requests per tick**: requests the operator made (its kubernetes client and kopf's
  aiohttp session, counted by wrapping) divided by the ticks run.

Goal (issue 14): 1,000 concurrent rollouts in one process, tick lag p99 <= 1 s, <= 1 core.
The kmock emulator is far slower than an API server (30-60 ms per request on a shared 2-core
machine; creating and initialising 100 rollouts takes about a minute, 200 several): use
``--rollouts 100`` for a quick run there, and ``$KUBECONFIG`` for the 1,000-rollout goal.

Run: ``.venv/bin/python benchmarks/operator_scale.py [--rollouts 1000] [--duration 60]
[--interval 30s] [--tick-seconds 2] [--json FILE] [--profile FILE]`` (``--profile``: cProfile
of the operator's threads during the measured window, pstats written to FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "controller"))

import kopf  # noqa: E402
from controller_fixtures import deployment, rollout_doc  # noqa: E402
from prom_api_fake import PromAPI  # noqa: E402

from modelcanary.controller._operator import OperatorOptions, operator  # noqa: E402
from modelcanary.controller._runtime import OperatorRuntime, build_runtime  # noqa: E402

NAMESPACE = "scale-bench"
ROLLOUT_API = "modelcanary.io/v1alpha1"
GOAL = {"rollouts": 1000, "tick_lag_p99_s": 1.0, "cores": 1.0}
OPERATOR_THREADS = ("kopf-operator", "operator-tick", "modelcanary-tick", "modelcanary-lease")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the API server: kmock (default) or $KUBECONFIG ---------------------------------------
class Api:
    """The few calls the harness makes (HTTP through a kubernetes ApiClient)."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self.url = str(api_client.configuration.host).rstrip("/")

    def request(self, method: str, path: str, body: Any = None, ctype: str = "") -> Any:
        headers = {**self.api_client.default_headers, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = ctype or (
                "application/merge-patch+json" if method == "PATCH" else "application/json"
            )
        response = self.api_client.call_api(
            method, self.url + path, header_params=headers, body=body, _request_timeout=60
        )
        response.read()
        if response.status >= 400 and not (method == "POST" and response.status == 409):
            raise RuntimeError(f"{method} {path}: {response.status} {response.data[:300]!r}")
        return json.loads(response.data or b"{}")

    def ensure_namespace(self) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        self.request("POST", "/api/v1/namespaces", body)

    def create(self, obj: dict[str, Any], plural: str) -> None:
        api = obj["apiVersion"]
        base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
        self.request("POST", f"{base}/namespaces/{NAMESPACE}/{plural}", obj)

    def deployments(self) -> list[dict[str, Any]]:
        items = self.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")
        return list(items.get("items") or [])

    def rollouts(self) -> list[dict[str, Any]]:
        path = f"/apis/{ROLLOUT_API}/namespaces/{NAMESPACE}/modelrollouts"
        return list(self.request("GET", path).get("items") or [])

    def patch_deployment(self, name: str, patch: dict[str, Any], status: bool = False) -> None:
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
        self.request("PATCH", path + ("/status" if status else ""), patch)


@contextlib.contextmanager
def api_server() -> Iterator[tuple[Api, str]]:
    """``$KUBECONFIG``'s API server, else the kmock harness in a child process (its own
    interpreter: the emulator does not compete with the measured operator for the GIL)."""
    from modelcanary.k8s._client import load_api_client

    if os.environ.get("KUBECONFIG"):
        client = load_api_client(kubeconfig=os.environ["KUBECONFIG"])
        yield Api(client), f"KUBECONFIG ({client.configuration.host})"
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-kmock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the kmock harness did not start: {url!r}")
        import kubernetes.client

        config = kubernetes.client.Configuration()
        config.host = url
        config.verify_ssl = False
        yield Api(kubernetes.client.ApiClient(config)), f"kmock harness ({url}, child process)"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


def serve_kmock() -> None:
    """The child process: kube_api() until stdin closes, its request log dropped every half
    second (kmock 0.8 scans it on every request; nothing here reads it).

    Two harness scans over every stored object are narrowed here, as a real API server does
    them by index (the operator's figures must not drown in the emulator's quadratic cost):
    the terminating-namespace check of each create looks the namespace up by key, and the
    garbage collector runs after deletions only (the benchmark deletes nothing while it runs).
    """
    import kmock
    import kube_controllers
    import kube_fixtures
    from kube_fixtures import kube_api

    namespaces = kmock.resource("", "v1", "namespaces")
    refuse = kube_controllers.refuse_in_terminating

    def refuse_indexed(mock: Any, namespace: str | None) -> None:
        key = (namespaces, None, namespace)
        stored = mock.objects[key] if namespace and key in mock.objects else None
        if (
            stored is not None
            and not stored.deleted
            and stored.get("metadata", {}).get("deletionTimestamp")
        ):
            refuse(mock, namespace)

    kube_controllers.refuse_in_terminating = refuse_indexed
    kube_fixtures._may_orphan = lambda request: request.action == kmock.action.DELETE

    with kube_api(namespaces=(NAMESPACE,)) as kube:
        print(kube.url, flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        while not done.wait(0.5):
            kube.call(lambda: kube.handler._requests.clear())


class Kubelet:
    """Marks Deployments ready (status = spec) once a second, as the deployment controller
    would once pods run (a real cluster with real pods does it itself: ``--no-kubelet``)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-kubelet", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                self.sync()

    def sync(self) -> None:
        for item in self.api.deployments():
            meta, spec = item["metadata"], item.get("spec") or {}
            n = int(spec.get("replicas", 1))
            want = {
                "observedGeneration": int(meta.get("generation") or 1),
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
            }
            status = item.get("status") or {}
            if any(status.get(k) != v for k, v in want.items()):
                self.api.patch_deployment(meta["name"], {"status": want}, status=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


# -- instrumentation (wrapping, no product edits) ------------------------------------------
class Probe:
    """Tick lags, tick and request counts of one runtime, recorded while ``measuring``."""

    def __init__(self, runtime: OperatorRuntime, api_client: Any) -> None:
        self.measuring = False
        self.lags: list[float] = []
        self.ticks = 0
        self.requests = 0
        self.client_requests = 0
        self.client_seconds = 0.0
        """Requests of the operator's kubernetes client and the seconds they took."""
        self._lock = threading.Lock()
        self.profiling = False
        self.profiles: dict[int, cProfile.Profile] = {}
        rest = api_client.rest_client
        drive, tick, request = runtime.drive, runtime.tick, rest.request

        def timed_drive(name: str, namespace: str, uid: str | None = None) -> bool:
            due = runtime._due.get((namespace, name))
            if self.measuring and due:
                lag = time.monotonic() - due
                with self._lock:
                    self.lags.append(lag)
            if not self.profiling:
                return drive(name, namespace, uid)
            profile = self._profile()
            profile.enable()
            try:
                return drive(name, namespace, uid)
            finally:
                profile.disable()

        def counted_tick(name: str, namespace: str) -> Any:
            if self.measuring:
                with self._lock:
                    self.ticks += 1
            return tick(name, namespace)

        def counted_request(*args: Any, **kwargs: Any) -> Any:
            self.count()
            start = time.monotonic()
            try:
                return request(*args, **kwargs)
            finally:
                if self.measuring:
                    with self._lock:
                        self.client_requests += 1
                        self.client_seconds += time.monotonic() - start

        runtime.drive = timed_drive  # type: ignore[method-assign]
        runtime.tick = counted_tick  # type: ignore[method-assign]
        rest.request = counted_request
        self._patch_aiohttp()

    def _profile(self) -> cProfile.Profile:
        with self._lock:
            return self.profiles.setdefault(threading.get_ident(), cProfile.Profile())

    def profile_loop(self, loop: asyncio.AbstractEventLoop, on: bool) -> None:
        """Profile (or stop profiling) the operator's event loop thread."""
        done = threading.Event()

        def switch() -> None:
            profile = self._profile()
            profile.enable() if on else profile.disable()
            done.set()

        loop.call_soon_threadsafe(switch)
        done.wait(30)

    def dump(self, path: str) -> None:
        stats = None
        for profile in self.profiles.values():
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        if stats is not None:
            stats.dump_stats(path)
            stats.sort_stats("cumulative").print_stats(40)

    def count(self) -> None:
        if self.measuring:
            with self._lock:
                self.requests += 1

    def _patch_aiohttp(self) -> None:
        """Count kopf's requests (its aiohttp session; nothing else here uses aiohttp's
        client)."""
        import aiohttp

        original = aiohttp.ClientSession._request
        probe = self

        async def counted(session: Any, *args: Any, **kwargs: Any) -> Any:
            probe.count()
            return await original(session, *args, **kwargs)

        aiohttp.ClientSession._request = counted  # type: ignore[method-assign]


def operator_cpu() -> float:
    """CPU seconds (user + system) of the operator's threads, from /proc/self/task."""
    total = 0
    for thread in threading.enumerate():
        if thread.name.startswith(OPERATOR_THREADS) and thread.native_id is not None:
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


class OperatorRunner:
    """``controller._operator.operator`` in a thread named ``kopf-operator``, its default
    executor (where ticks run) with threads named ``operator-tick`` and the size asyncio gives
    it in production."""

    def __init__(self, api_client: Any, runtime: OperatorRuntime, tick_seconds: float) -> None:
        self.api_client, self.runtime = api_client, runtime
        self.options = OperatorOptions(namespaces=(NAMESPACE,), tick_seconds=tick_seconds)
        self._stop, self._ready = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        workers = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="operator-tick")
        )
        base = kopf.OperatorSettings()
        base.scanning.disabled = True  # no cluster-wide CRD scanning (kmock; one namespace)
        await operator(
            self.runtime,
            self.api_client,
            self.options,
            stop_flag=self._stop,
            ready_flag=self._ready,
            base_settings=base,
        )

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc

    def start(self) -> OperatorRunner:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"the operator did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


# -- the run -------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_phases(api: Api, want: set[str], n: int, what: str, timeout: float) -> float:
    start = time.monotonic()
    counts: dict[str, int] = {}
    while time.monotonic() - start < timeout:
        counts = {}
        for item in api.rollouts():
            phase = str((item.get("status") or {}).get("phase") or "-")
            counts[phase] = counts.get(phase, 0) + 1
        if sum(counts.get(p, 0) for p in want) >= n:
            return time.monotonic() - start
        time.sleep(2.0)
    raise RuntimeError(f"timed out waiting for {what}: {counts}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.rollouts
    steps = list(range(2, 52, 2))  # 25 weight steps: every rollout stays in progress
    prom = PromAPI()
    prom.values["errors_query"] = 0.01
    with api_server() as (api, where):
        api.ensure_namespace()
        t0 = time.monotonic()
        for i in range(n):
            name = f"bench-{i:05d}"
            dep = deployment(name)
            dep["metadata"]["namespace"] = NAMESPACE
            doc = rollout_doc(
                name, prometheus=prom.url, weights=tuple(steps), interval=args.interval
            )
            doc["metadata"]["namespace"] = NAMESPACE
            api.create(dep, "deployments")
            api.create(doc, "modelrollouts")
        created = time.monotonic() - t0
        print(f"{where}: created {n} Deployments + ModelRollouts in {created:.1f} s", flush=True)
        kubelet = Kubelet(api).start() if not args.no_kubelet else None
        # the operator's own client (the harness's requests are not counted)
        client = type(api.api_client)(api.api_client.configuration)
        runtime = build_runtime(client)
        probe = Probe(runtime, client)
        runner = OperatorRunner(client, runtime, args.tick_seconds).start()
        try:
            took = wait_phases(api, {"Initialized"}, n, "Initialized", args.timeout)
            print(f"all {n} Initialized after {took:.1f} s", flush=True)
            for i in range(n):
                image = {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}
                api.patch_deployment(
                    f"bench-{i:05d}", {"spec": {"template": {"spec": {"containers": [image]}}}}
                )
            took = wait_phases(api, {"Progressing"}, n, "Progressing", args.timeout)
            print(
                f"all {n} Progressing after {took:.1f} s; measuring {args.duration} s", flush=True
            )
            if args.profile:
                probe.profiling = True
                probe.profile_loop(runner.loop, True)
            cpu0, wall0, proc0 = operator_cpu(), time.monotonic(), time.process_time()
            probe.measuring = True
            time.sleep(args.duration)
            probe.measuring = False
            if args.profile:
                probe.profiling = False
                probe.profile_loop(runner.loop, False)
            cpu, wall = operator_cpu() - cpu0, time.monotonic() - wall0
            proc = time.process_time() - proc0
            phases: dict[str, int] = {}
            for item in api.rollouts():
                phase = str((item.get("status") or {}).get("phase") or "-")
                phases[phase] = phases.get(phase, 0) + 1
        finally:
            runner.stop()
            if kubelet is not None:
                kubelet.stop()
            prom.close()
            if os.environ.get("KUBECONFIG") and not args.keep:
                with contextlib.suppress(Exception):
                    api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")
    if args.profile:
        probe.dump(args.profile)
    lags = probe.lags
    ticks = probe.ticks
    summary: dict[str, Any] = {
        "api_server": where,
        "rollouts": n,
        "interval": args.interval,
        "tick_seconds": args.tick_seconds,
        "duration_s": round(wall, 1),
        "ticks": ticks,
        "ticks_per_s": round(ticks / wall, 1),
        "tick_lag_p50_s": round(percentile(lags, 0.50), 3),
        "tick_lag_p99_s": round(percentile(lags, 0.99), 3),
        "tick_lag_max_s": round(max(lags), 3) if lags else None,
        "tick_lag_mean_s": round(statistics.fmean(lags), 3) if lags else None,
        "lag_samples": len(lags),
        "operator_cpu_s": round(cpu, 2),
        "operator_cores": round(cpu / wall, 3),
        "cpu_s_per_rollout_minute": round(cpu / (n * wall / 60.0), 5),
        "process_cores": round(proc / wall, 3),
        "api_requests": probe.requests,
        "api_latency_mean_ms": round(1000 * probe.client_seconds / probe.client_requests, 1)
        if probe.client_requests
        else None,
        "api_requests_per_tick": round(probe.requests / ticks, 2) if ticks else None,
        "phases_at_end": phases,
        "goal": GOAL,
    }
    concurrent_ok = phases.get("Progressing", 0) + phases.get("Promoting", 0) >= min(n, 1000)
    summary["pass"] = {
        "concurrent_rollouts": n >= GOAL["rollouts"] and concurrent_ok,
        "tick_lag_p99": bool(lags) and summary["tick_lag_p99_s"] <= GOAL["tick_lag_p99_s"],
        "cpu": summary["operator_cores"] <= GOAL["cores"],
    }
    summary["pass"]["all"] = all(summary["pass"].values())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--interval", default="30s", help="each rollout's analysis interval")
    parser.add_argument("--tick-seconds", type=float, default=2.0, help="operator --tick-seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="bound on each setup wait")
    parser.add_argument("--no-kubelet", action="store_true", help="real pods make them ready")
    parser.add_argument("--keep", action="store_true", help="keep the namespace (KUBECONFIG)")
    parser.add_argument("--json", help="also write the JSON summary to this file")
    parser.add_argument("--profile", help="write a cProfile of the operator threads here")
    parser.add_argument("--serve-kmock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_kmock:
        serve_kmock()
        return
    summary = run(args)
    print(
        f"\n{summary['rollouts']} rollouts, {summary['ticks']} ticks in {summary['duration_s']} s "
        f"({summary['ticks_per_s']}/s)\n"
        f"tick lag p50 {summary['tick_lag_p50_s']} s, p99 {summary['tick_lag_p99_s']} s, "
        f"max {summary['tick_lag_max_s']} s ({summary['lag_samples']} samples)\n"
        f"operator CPU {summary['operator_cpu_s']} s = {summary['operator_cores']} cores; "
        f"{summary['cpu_s_per_rollout_minute']} CPU s per rollout-minute\n"
        f"API requests per tick {summary['api_requests_per_tick']}\n"
        f"phases at end {summary['phases_at_end']}\npass {summary['pass']}"
    )
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
