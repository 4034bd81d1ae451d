"""Operator scale benchmark: N concurrent rollouts ticked by one in-process operator.

Runs the real operator (kopf, ``modelcanary.controller`` registry and runtime, the
``modelcanary.k8s`` adapters, the Istio router) in a thread against the API server named by
``$KUBECONFIG`` or, by default, the kmock harness of the tests (``tests/kube_fixtures.py``),
with a Prometheus-API fake on loopback (``tests/prom_api_fake.py``) answering a healthy error
rate. ``--rollouts`` targetRef ModelRollouts (25 weight steps, so they stay in progress) are
brought into progress (``--seed clone``, default: a first operator takes one template rollout
there and its objects are copied; ``--seed operator``: the measured operator initialises each
one), the measured operator starts over them, their next analyses are spread over one
interval (``--no-stagger``: all at once), and it is measured for ``--duration`` seconds:

- **tick lag**: for each tick, the time it started minus the time the operator's runtime said
  the rollout was next due (``OperatorRuntime._due``, read by wrapping ``drive``; the first
  tick of a rollout and ticks woken by a watch event have no due time and are not counted);
- **operator CPU seconds per rollout-minute**: user+system CPU of the operator's threads only
  (the kopf event loop thread and its executor threads, read from ``/proc/self/task/TID/stat``;
  the API emulator, the fake kubelet and Prometheus run in other threads);
- **API requests per tick**: requests the operator made (its kubernetes client and kopf's
  aiohttp session, counted by wrapping) divided by the ticks run.

Goal (issue 14): 1,000 concurrent rollouts in one process, tick lag p99 <= 1 s, <= 1 core.
The kmock child process is tuned as a server would be (``speed_up_kmock``: two lookups that
scanned everything, 157 -> 8 ms per GET with 2,000 Deployments stored; ``gc.freeze()``
against multi-second collection pauses; Deployments made ready inside its loop): 1,000
rollouts are set up in about 40 s plus a minute of first ticks. Also printed: the slowest
requests and the latest ticks (with wall times), kopf's requests and the operator's GC pauses.

Run: ``.venv/bin/python benchmarks/operator_scale.py [--rollouts 1000] [--duration 60]
[--interval 30s] [--tick-seconds 2] [--seed clone|operator] [--no-stagger] [--json FILE]
[--profile FILE]`` (``--profile``: cProfile
of the operator's threads during the measured window, pstats written to FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
from modelcanary.k8s._client import plural_of  # noqa: E402
from modelcanary.rollout._times import format_time  # noqa: E402
from modelcanary.spec import parse_duration  # noqa: E402

NAMESPACE = "scale-bench"
ROLLOUT_API = "modelcanary.io/v1alpha1"
GOAL = {"rollouts": 1000, "tick_lag_p99_s": 1.0, "cores": 1.0}
OPERATOR_THREADS = ("kopf-operator", "operator-tick", "modelcanary-tick", "modelcanary-lease")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the API server: kmock (default) or $KUBECONFIG ---------------------------------------
class Api:
    """The few calls the harness makes (HTTP through a kubernetes ApiClient)."""

    def __init__(self, api_client: Any, kubeconfig: bool = False) -> None:
        self.api_client = api_client
        self.url = str(api_client.configuration.host).rstrip("/")
        self.kubeconfig = kubeconfig
        """True for ``$KUBECONFIG``'s server (False: the kmock child process)."""

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

    def create(self, obj: dict[str, Any], plural: str) -> dict[str, Any]:
        api = obj["apiVersion"]
        base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
        created: dict[str, Any] = self.request(
            "POST", f"{base}/namespaces/{NAMESPACE}/{plural}", obj
        )
        return created

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
        yield Api(client, kubeconfig=True), f"KUBECONFIG ({client.configuration.host})"
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


def speed_up_kmock() -> None:
    """Two lookups of kmock 0.8 that scan everything, narrowed (same answers) for the
    benchmark's emulator: measured with 2,000 Deployments stored, a GET took 157 ms, 83 % of
    it in ``request in payload`` (every request is checked against every reaction by scanning
    the whole request log through the reaction's filters: ``Filter.__contains__`` now checks
    the request itself against the filter) and 10 % in ``__get_objs`` (a fetch by name
    scanned every stored object: now a dict lookup, the scan kept for a miss).
    """
    from kmock._internal import dsl, k8s, rendering

    plain = dsl.View.__contains__

    def contains(self: Any, item: Any) -> bool:
        if isinstance(item, rendering.Request):
            kind = type(self)
            if isinstance(self, dsl.Filter) and kind.__iter__ is dsl.Filter.__iter__:
                return item in self._source and bool(self.criteria(item))
            if kind.__iter__ is dsl.Chained.__iter__:
                return item in self._source
        return bool(plain(self, item))

    dsl.View.__contains__ = contains  # type: ignore[method-assign]

    emulator = k8s.KubernetesEmulator
    scan = emulator._KubernetesEmulator__get_obj  # type: ignore[attr-defined]

    def get_obj(self: Any, request: Any, strict: bool) -> Any:
        if strict and request.name is not None:
            key = (request.resource, request.namespace, request.name)
            if key in self._objects:
                return self._objects[key]
        return scan(self, request, strict)

    emulator._KubernetesEmulator__get_obj = get_obj  # type: ignore[attr-defined]


def serve_kmock() -> None:
    """The child process: kube_api() until stdin closes, its request log dropped every half
    second (kmock 0.8 scans it on every request; nothing here reads it).

    Two harness scans over every stored object are narrowed here, as a real API server does
    them by index (the operator's figures must not drown in the emulator's quadratic cost):
    the terminating-namespace check of each create looks the namespace up by key, and the
    garbage collector runs after deletions only (the benchmark deletes nothing while it runs).

    The emulator keeps every version of every object, so its heap only grows, and each
    full collection of Python's cyclic garbage collector walks all of it: with 100 rollouts
    these pauses reached 1.5-2.8 s, during which every API request waited (the tick lag tail
    of the first runs: p99 6-16 s). The child moves what it holds to the permanent
    generation (``gc.freeze()``) twice a second, as a long-running server would tune its GC;
    ``BENCH_KMOCK_GC=1`` keeps the default (pauses are printed on stderr either way).
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
    speed_up_kmock()

    deployments = kmock.resource("apps", "v1", "deployments")

    def lagging(kube: Any) -> list[tuple[str, dict[str, Any]]]:
        """Deployments whose status lags their spec, read in the emulator's loop (no copy of
        the store: a list over HTTP of 2,000 Deployments every second would cost the
        emulator more than the operator's requests)."""
        out = []
        for (res, ns, name), obj in kube.handler.objects.items():
            if res != deployments or ns != NAMESPACE or obj.deleted:
                continue
            raw = obj.raw
            want = ready_status(raw)
            status = raw.get("status") or {}
            if any(status.get(k) != v for k, v in want.items()):
                out.append((name, want))
        return out

    pauses = GcPauses()
    with kube_api(namespaces=(NAMESPACE,)) as kube:
        print(kube.url, flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        while not done.wait(0.5):
            kube.call(lambda: kube.handler._requests.clear())
            if not os.environ.get("BENCH_KMOCK_GC"):
                gc.freeze()  # see serve_kmock's docstring: no multi-second gen-2 pauses
            for name, want in kube.call(lambda: lagging(kube)):  # the deployment controller
                with contextlib.suppress(Exception):
                    kube.patch(
                        "apps/v1",
                        "Deployment",
                        NAMESPACE,
                        name,
                        {"status": want},
                        manager="kube-controller-manager",
                    )
            for took, at, generation in pauses.pauses:
                print(
                    f"kmock: gc pause {took:.2f} s (gen {generation}) at {at:.2f}", file=sys.stderr
                )
            pauses.pauses.clear()


def ready_status(deployment: dict[str, Any]) -> dict[str, Any]:
    """The status a Deployment has once all its pods run."""
    n = int((deployment.get("spec") or {}).get("replicas", 1))
    return {
        "observedGeneration": int(deployment["metadata"].get("generation") or 1),
        "replicas": n,
        "updatedReplicas": n,
        "readyReplicas": n,
        "availableReplicas": n,
    }


class Kubelet:
    """Marks Deployments ready (status = spec) once a second, as the deployment controller
    would once pods run, over ``$KUBECONFIG``'s API (a real cluster with real pods does it
    itself: ``--no-kubelet``; the kmock child process does it in the emulator's loop)."""

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
            want = ready_status(item)
            status = item.get("status") or {}
            if any(status.get(k) != v for k, v in want.items()):
                self.api.patch_deployment(item["metadata"]["name"], {"status": want}, status=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


# -- instrumentation (wrapping, no product edits) ------------------------------------------
class GcPauses:
    """Pauses of the cyclic garbage collector in this process longer than ``floor`` s."""

    def __init__(self, floor: float = 0.05) -> None:
        self.floor = floor
        self.pauses: list[tuple[float, float, int]] = []
        """(seconds, wall time it ended, generation)."""
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            took = time.perf_counter() - self._start
            if took >= self.floor:
                self.pauses.append((took, time.time(), int(info.get("generation", -1))))


class Probe:
    """Tick lags, tick and request counts of one runtime, recorded while ``measuring``."""

    def __init__(self, runtime: OperatorRuntime, api_client: Any) -> None:
        self.measuring = False
        self.lags: list[float] = []
        self.ticked: set[str] = set()
        self.kopf_requests: list[tuple[float, str]] = []
        """(wall time, method and URL) of kopf's requests while measuring."""
        """Rollouts ticked at least once (measured or not)."""
        self.late: list[tuple[float, float, str]] = []
        """(lag, wall time the tick started, rollout) of ticks more than a second late."""
        self.slow: list[tuple[float, float, str]] = []
        """(seconds, wall time it started, method and path) of requests over a second."""
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
                    if lag > 1.0:
                        self.late.append((lag, time.time(), name))
            if not self.profiling:
                return drive(name, namespace, uid)
            profile = self._profile()
            profile.enable()
            try:
                return drive(name, namespace, uid)
            finally:
                profile.disable()

        def counted_tick(name: str, namespace: str, **kw: Any) -> Any:
            with self._lock:
                self.ticked.add(name)
                if self.measuring:
                    self.ticks += 1
            return tick(name, namespace, **kw)

        def counted_request(*args: Any, **kwargs: Any) -> Any:
            self.count()
            start, wall = time.monotonic(), time.time()
            try:
                return request(*args, **kwargs)
            finally:
                took = time.monotonic() - start
                if self.measuring:
                    with self._lock:
                        self.client_requests += 1
                        self.client_seconds += took
                        if took > 1.0:
                            self.slow.append((took, wall, f"{args[0]} {args[1]}"))

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
            if probe.measuring:
                probe.kopf_requests.append((time.time(), f"{args[0]} {str(args[1])[-90:]}"))
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


TEMPLATE = "bench-00000"
CLONED = {
    "/apis/apps/v1/namespaces/{ns}/deployments": "apps/v1",
    "/api/v1/namespaces/{ns}/services": "v1",
    "/apis/networking.istio.io/v1/namespaces/{ns}/destinationrules": "networking.istio.io/v1",
    "/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices": "networking.istio.io/v1",
}
"""Collections of the objects the operator made for the template rollout (Istio router)."""
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def new_rollout(api: Api, name: str, prom: PromAPI, args: argparse.Namespace) -> None:
    """A target Deployment and its ModelRollout (25 weight steps: it stays in progress)."""
    dep = deployment(name)
    dep["metadata"]["namespace"] = NAMESPACE
    steps = tuple(range(2, 52, 2))
    doc = rollout_doc(name, prometheus=prom.url, weights=steps, interval=args.interval)
    doc["metadata"]["namespace"] = NAMESPACE
    api.create(dep, "deployments")
    api.create(doc, "modelrollouts")


def new_revision(api: Api, name: str) -> None:
    """A new image in the target's pod template: the operator starts a rollout."""
    image = {"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}
    api.patch_deployment(name, {"spec": {"template": {"spec": {"containers": [image]}}}})


def template_objects(api: Api) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The template rollout and every object the operator made or changed for it."""
    path = f"/apis/{ROLLOUT_API}/namespaces/{NAMESPACE}/modelrollouts/{TEMPLATE}"
    rollout = api.request("GET", path)
    objects = []
    for collection in CLONED:
        for item in api.request("GET", collection.format(ns=NAMESPACE)).get("items") or []:
            name = item["metadata"]["name"]
            if name == TEMPLATE or name.startswith(TEMPLATE + "-"):
                objects.append(item)
    return rollout, objects


def clone(api: Api, rollout: dict[str, Any], objects: list[dict[str, Any]], i: int) -> None:
    """Rollout ``i``: the template's rollout (spec, then status), target, copies, Services
    and routing objects, renamed, as the operator left them for the template."""
    name = f"bench-{i:05d}"

    def renamed(obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(obj).replace(TEMPLATE, name))
        for key in SERVER_FIELDS:
            out["metadata"].pop(key, None)
        return out

    doc = renamed(rollout)
    status = doc.pop("status", None)
    created = api.create(doc, "modelrollouts")
    if status:
        path = f"/apis/{ROLLOUT_API}/namespaces/{NAMESPACE}/modelrollouts/{name}/status"
        api.request("PATCH", path, {"status": status})
    uid, old_uid = created["metadata"]["uid"], rollout["metadata"]["uid"]
    for obj in objects:
        copy = json.loads(json.dumps(renamed(obj)).replace(old_uid, uid))
        copy.pop("status", None)
        api.create(copy, plural_of(copy["apiVersion"], copy["kind"]))


def seed(api: Api, n: int, prom: PromAPI, args: argparse.Namespace) -> float:
    """Create the ``n`` rollouts; returns the seconds it took.

    ``--seed operator``: every rollout is created and the measured operator takes each one
    through initialisation and the start of its rollout (about 50 requests per rollout).
    ``--seed clone`` (default): a first operator takes one template rollout that far, then
    the benchmark copies the objects it made ``n - 1`` times (renamed, owned by each copy),
    as an operator restarted over ``n`` rollouts in progress finds them."""
    t0 = time.monotonic()
    if args.seed == "operator":
        for i in range(n):
            new_rollout(api, f"bench-{i:05d}", prom, args)
        return time.monotonic() - t0
    new_rollout(api, TEMPLATE, prom, args)
    client = type(api.api_client)(api.api_client.configuration)
    first = OperatorRunner(client, build_runtime(client), args.tick_seconds).start()
    try:
        wait_phases(api, {"Initialized"}, 1, "the template Initialized", args.timeout)
        new_revision(api, TEMPLATE)
        wait_phases(api, {"Progressing"}, 1, "the template Progressing", args.timeout)
    finally:
        first.stop()
    rollout, objects = template_objects(api)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: clone(api, rollout, objects, i), range(1, n)))
    return time.monotonic() - t0


def stagger(api: Api, runtime: OperatorRuntime, n: int, interval: float) -> None:
    """Spread the rollouts' next analyses evenly over one interval, as rollouts started over
    time are: each one's next tick is postponed to its place (``OperatorRuntime.postpone``)
    and its ``lastAnalysisTime`` set two intervals back, so that tick analyses and the next
    analysis is an interval later. ``--no-stagger`` leaves them as the operator's first ticks
    left them (an operator restarted over many overdue rollouts analyses them all at once,
    and they stay in step)."""
    old = format_time(datetime.now(UTC) - timedelta(seconds=2 * interval))
    for i in range(n):  # first: none of them is due before an interval has passed
        path = f"/apis/{ROLLOUT_API}/namespaces/{NAMESPACE}/modelrollouts/bench-{i:05d}/status"
        api.request("PATCH", path, {"status": {"lastAnalysisTime": old}})
    for i in range(n):
        runtime.postpone(f"bench-{i:05d}", NAMESPACE, interval * i / n)


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.rollouts
    prom = PromAPI()
    prom.values["errors_query"] = 0.01
    interval = parse_duration(args.interval)
    with api_server() as (api, where):
        api.ensure_namespace()
        kubelet = Kubelet(api).start() if api.kubeconfig and not args.no_kubelet else None
        created = seed(api, n, prom, args)
        print(f"{where}: {n} rollouts created ({args.seed}) in {created:.1f} s", flush=True)
        # the operator's own client (the harness's requests are not counted)
        client = type(api.api_client)(api.api_client.configuration)
        runtime = build_runtime(client)
        probe = Probe(runtime, client)
        pauses = GcPauses()
        started = time.monotonic()
        runner = OperatorRunner(client, runtime, args.tick_seconds).start()
        try:
            if args.seed == "operator":
                took = wait_phases(api, {"Initialized"}, n, "Initialized", args.timeout)
                print(f"all {n} Initialized after {took:.1f} s", flush=True)
                for i in range(n):
                    new_revision(api, f"bench-{i:05d}")
                took = wait_phases(api, {"Progressing"}, n, "Progressing", args.timeout)
                print(f"all {n} Progressing after {took:.1f} s", flush=True)
            deadline = time.monotonic() + args.timeout
            while len(probe.ticked) < n and time.monotonic() < deadline:
                time.sleep(1.0)
            print(
                f"{len(probe.ticked)} rollouts ticked once {time.monotonic() - started:.1f} s "
                "after the operator started",
                flush=True,
            )
            if not args.no_stagger:
                stagger(api, runtime, n, interval)
                print(f"next analyses spread over {args.interval}; settling", flush=True)
                time.sleep(interval + 5.0)  # each rollout's old due time passes once
            print(f"measuring {args.duration} s", flush=True)
            if args.profile:
                probe.profiling = True
                probe.profile_loop(runner.loop, True)
            cpu0, wall0, proc0 = operator_cpu(), time.monotonic(), time.process_time()
            pauses.pauses.clear()
            probe.measuring = True
            time.sleep(args.duration)
            probe.measuring = False
            gc_pauses = list(pauses.pauses)
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
            if api.kubeconfig and not args.keep:
                with contextlib.suppress(Exception):
                    api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")
    if args.profile:
        probe.dump(args.profile)
    summary = summarise(args, probe, where, wall, cpu, proc, phases, created)
    summary["operator_gc_pauses"] = {
        f"gen{generation}": {
            "count": len(mine),
            "max_s": round(max(p[0] for p in mine), 3),
            "total_s": round(sum(p[0] for p in mine), 3),
        }
        for generation in (0, 1, 2)
        if (mine := [p for p in gc_pauses if p[2] == generation])
    }
    return summary


def summarise(
    args: argparse.Namespace,
    probe: Probe,
    where: str,
    wall: float,
    cpu: float,
    proc: float,
    phases: dict[str, int],
    created: float,
) -> dict[str, Any]:
    n = args.rollouts
    lags = probe.lags
    ticks = probe.ticks
    summary: dict[str, Any] = {
        "api_server": where,
        "rollouts": n,
        "seed": args.seed,
        "setup_s": round(created, 1),
        "interval": args.interval,
        "staggered": not args.no_stagger,
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
        "late_ticks": [
            {"lag_s": round(lag, 2), "at": round(at, 2), "rollout": who}
            for lag, at, who in sorted(probe.late, reverse=True)[:10]
        ],
        "slow_requests": [
            {"s": round(took, 2), "at": round(at, 2), "request": what}
            for took, at, what in sorted(probe.slow, reverse=True)[:10]
        ],
        "kopf_requests": [
            {"at": round(at, 2), "request": what} for at, what in probe.kopf_requests[:20]
        ],
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
    parser.add_argument(
        "--seed",
        choices=("clone", "operator"),
        default="clone",
        help="clone: one template rollout taken into progress by the operator, copied n-1 "
        "times; operator: the measured operator initialises every rollout",
    )
    parser.add_argument(
        "--no-stagger", action="store_true", help="leave every rollout due at the same moment"
    )
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
