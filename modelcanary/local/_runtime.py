"""The embedded local runtime: run a ModelRollout on this machine, no cluster needed.

``LocalRun(rollout).start()`` starts the model servers (child processes), the router on
127.0.0.1, the load generator (``spec.load``) and the engine in a background thread, and
returns at once; ``wait()`` blocks until the rollout is decided; ``close()`` (or leaving the
``with`` block, Ctrl-C, or interpreter exit) stops everything: no orphan processes.

Findings (``LocalRun.findings``, also logged): after each tick the share of mirror copies the
challenger was actually sent is checked; below ``COVERAGE_FINDING`` (with at least
``MIN_COPIES`` asked for) the run says so once per episode, with why (queue full: it cannot
keep up; breaker open: it is unreachable; mirror budget spent), because the challenger's SLIs
then describe only the copies it answered.

LLM versions (``protocol: openai``): the router records every chat/completions exchange in
the recorder's ``llm`` log, which the embedded provider hands to the analysis
(``IntervalData.llm``), and stops mirroring once ``spec.analysis.mirrorBudget`` is spent
(priced with the challenger's ``pricing``; ``LocalRun.mirror_spend``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..analysis._llm_records import LLMExchange
from ..analysis._measurements import Window
from ..analysis._mirror_coverage import MIN_COPIES, MIN_COVERAGE
from ..engine import (
    Engine,
    FileStatusStore,
    MemoryStatusStore,
    SystemClock,
    TickResult,
    action_annotations,
)
from ..engine._runner import run_until_done
from ..errors import ModelCanaryError, SpecError, SpecIssue
from ..ports import Clock, MetricProvider
from ..spec import ModelRollout, RolloutStatus
from ._judging import JudgedIntervals, start_judging
from ._load import LoadGenerator, LoadRequest, LoadStats, payloads_from_file
from ._load_llm import LLMLoad, llm_load_for
from ._proxy.budget import MirrorBudget
from ._recorder import MirrorCoverage, Recorder
from ._workloads import LocalWorkloads, StartServer

log = logging.getLogger("modelcanary.local")

LOOK_INTERVAL_S = 5.0
"""Default seconds between two looks between intervals (``Engine.look_interval``): the
sequential tests see the router's records every 5 s, so a clear regression rolls back within
seconds, not at the end of the interval."""
COVERAGE_FINDING = MIN_COVERAGE
"""Mirror coverage (copies sent / copies asked for) below which a tick reports a finding
(the analysis's own bound: one home for both)."""


class LocalRun:
    """One rollout on the local runtime (a handle: status, wait, manual actions, close)."""

    def __init__(
        self,
        rollout: ModelRollout,
        *,
        tracking_uri: str | None = None,
        start_server: StartServer | None = None,
        payloads: Sequence[bytes | LoadRequest] | None = None,
        clock: Clock | None = None,
        on_tick: Callable[[TickResult], None] | None = None,
        store: MemoryStatusStore | FileStatusStore | None = None,
        recorder: Recorder | None = None,
        look_interval: float = LOOK_INTERVAL_S,
    ) -> None:
        # ``store``: where the status lives (default: memory). A FileStatusStore lets other
        # processes (``modelcanary status``, ``abort``...) read and steer this rollout.
        # ``recorder``: where the router records requests; its ``max_records`` and
        # ``retention_seconds`` bound the memory a run can take (default: 2 million rows).
        # ``look_interval``: seconds between looks between intervals (0: none).
        if rollout.spec.router.provider != "local":
            raise SpecError(
                SpecIssue(
                    "spec.router.provider",
                    f"{rollout.spec.router.provider!r} needs a cluster",
                    "use provider: local, or apply it with the operator",
                )
            )
        self.rollout = rollout
        self.name = rollout.name
        self.namespace = rollout.metadata.namespace or "default"
        self.recorder = recorder if recorder is not None else Recorder()
        self.store = store if store is not None else MemoryStatusStore()
        self.store.put(rollout)
        self.workloads = LocalWorkloads(
            tracking_uri=tracking_uri, start=start_server, on_backends=self._backends
        )
        self.clock = clock or SystemClock()
        self.on_tick = on_tick
        self.look_interval = look_interval
        self.router: Any = None
        self.engine: Engine | None = None
        self.load: LoadGenerator | None = None
        self._payloads = payloads
        self.llm_load: LLMLoad | None = None
        """The LLM load's records (``protocol: openai`` versions): prompts for the judges."""
        self.judging: JudgedIntervals | None = None
        """The ``win-rate`` judges at work (None: the rollout has no such metric)."""
        self._stop = threading.Event()
        self._wake = threading.Event()
        """Set by ``act`` and ``close``: the engine ticks now instead of at the next interval."""
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.problems: list[str] = []
        self.findings: list[str] = []
        """What the run noticed that the analysis does not judge (low mirror coverage, stages
        the load cannot reach: ``spec.load`` warnings)."""
        self._coverage_since = time.time()
        self._drops: dict[str, int] = {}
        self._short_of_copies = False

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> LocalRun:
        """Start servers, router, load and engine; returns once traffic can flow."""
        from ..hooks import HttpWebhookRunner
        from ._proxy.server import LocalRouter

        atexit.register(self.close)
        try:
            self.workloads.ensure(self.rollout)
            champion, challenger = self.workloads.urls()
            assert champion is not None
            host, port = _listen(self.rollout.spec.router.listen)
            self.router = LocalRouter(
                champion,
                challenger or champion,
                rollout=self.name,
                host=host,
                port=port,
                recorder=self.recorder,
                openai=any(v.is_llm for v in self._versions()),
                mirror_budget=mirror_budget(self.rollout),
            )
            self.router.start()
            # the routes in force again, now with the rollout's unit header (unitKey): the
            # load's first requests are keyed before the engine sets any route
            self.router.set_routes(self.rollout, self.router.routes)
            self.engine = Engine(
                store=self.store,
                workloads=self.workloads,
                router=self.router,
                metrics=self._metrics(),
                webhooks=HttpWebhookRunner(),
                clock=self.clock,
                look_interval=self.look_interval,
            )
            self.router.add_metrics(self.engine.self_metrics.render)
            self._start_load()
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"modelcanary-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self.engine is not None
        try:
            run_until_done(
                self.engine,
                self.name,
                self.namespace,
                stop=self._stop,
                on_tick=self._ticked,
                max_errors=30,
                on_error=lambda exc: self.problems.append(str(exc)),
                wake=self._wake,
            )
        except BaseException as exc:  # recorded for wait(); the thread must not die silently
            self.error = exc
            log.exception("rollout %s stopped by an error", self.name)
        finally:
            if self.load is not None:
                self.load.stop()

    def _ticked(self, result: TickResult) -> None:
        self.problems += result.problems
        self._check_mirror_coverage()
        if self.on_tick is not None:
            self.on_tick(result)

    def wait(self, timeout: float | None = None) -> RolloutStatus:
        """Block until the rollout is decided (or ``timeout``); returns the status."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None and not isinstance(self.error, ModelCanaryError):
            raise self.error
        return self.status()

    def close(self) -> None:
        """Stop the engine, the load, the router and every model server. Idempotent."""
        self._stop.set()
        self._wake.set()
        if self.load is not None:
            self.load.stop()
        if self.judging is not None:
            self.judging.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if self.router is not None:
            self.router.stop()
            self.router = None
        self.workloads.close()
        atexit.unregister(self.close)

    def __enter__(self) -> LocalRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what a person sees and does ----------------------------------------------------
    @property
    def url(self) -> str:
        """The router's address: send your own requests here (``POST {url}/invocations``)."""
        return str(self.router.url) if self.router is not None else ""

    def status(self) -> RolloutStatus:
        """The rollout's current status."""
        stored = self.store.get(self.name, self.namespace)
        return stored.rollout.status if stored and stored.rollout.status else RolloutStatus()

    @property
    def done(self) -> bool:
        """True once the rollout succeeded or failed (or the engine stopped)."""
        return self._thread is not None and not self._thread.is_alive()

    def act(self, kind: str, reason: str = "") -> None:
        """Manual control: approve, pause, resume, abort, retry or promote (applied at once:
        the engine is woken up rather than left waiting for the next interval)."""
        stamp = f"{kind}-{time.time_ns()}"
        self.store.annotate(self.name, self.namespace, action_annotations(kind, stamp, reason))
        self._wake.set()

    def load_stats(self) -> LoadStats | None:
        """Load generator figures (None without ``spec.load``)."""
        return self.load.stats if self.load is not None else None

    def mirror_coverage(self, since: float | None = None) -> MirrorCoverage:
        """Mirror copies asked for and dropped since ``since`` (epoch seconds; default: all)."""
        return self.recorder.mirror_coverage(Window(since or 0.0, time.time() + 1.0))

    def mirror_spend(self) -> dict[str, float]:
        """What mirroring cost so far: ``{"prompts", "tokens", "cost"}`` (see mirrorBudget)."""
        router = self.router
        if router is None:
            return {"prompts": 0, "tokens": 0, "cost": 0.0}
        spend: dict[str, float] = router.mirror_spend
        return spend

    # -- helpers ------------------------------------------------------------------------
    def _versions(self) -> list[Any]:
        spec = self.rollout.spec
        return [v for v in (spec.champion, spec.challenger) if v is not None]

    def _check_mirror_coverage(self) -> None:
        """Report, once per episode, a challenger that was sent too few mirror copies."""
        now = time.time()
        coverage = self.recorder.mirror_coverage(Window(self._coverage_since, now))
        self._coverage_since = now
        router = self.router
        drops: dict[str, int] = router.mirror_drops if router is not None else {}
        new = {k: v - self._drops.get(k, 0) for k, v in drops.items()}
        self._drops = drops
        ratio = coverage.ratio
        if ratio is None or coverage.eligible < MIN_COPIES or ratio >= COVERAGE_FINDING:
            self._short_of_copies = False
            return
        if self._short_of_copies:
            return
        self._short_of_copies = True
        if new.get("budget", 0) > max(new.get("breaker", 0), new.get("saturated", 0)):
            why = "the mirror budget (spec.analysis.mirrorBudget) is spent"
        elif new.get("breaker", 0) > new.get("saturated", 0):
            why = "its connect breaker is open: the challenger is unreachable"
        else:
            why = "the mirror queue was full: the challenger cannot keep up with the traffic"
        finding = (
            f"mirror coverage {ratio:.0%}: {coverage.dropped} of {coverage.eligible} copies "
            f"dropped since the last tick ({why}); the challenger's SLIs describe only the "
            "copies it answered"
        )
        self.findings.append(finding)
        log.warning("rollout %s: %s", self.name, finding)

    def _backends(self, champion: str, challenger: str | None) -> None:
        if self.router is not None:
            self.router.set_backends(champion, challenger or champion)

    def _metrics(self) -> MetricProvider:
        """The engine's metrics port: built-in SLIs from the router's recorder unless
        spec.metricsProvider says else, a custom metric from its own provider. The rollout's
        backend is built now, so a bad metricsProvider fails ``start`` at once."""
        from ..providers._dispatch import MetricDispatch
        from ..providers._embedded import EmbeddedProvider

        source: Any = self.recorder
        workers = start_judging(self.rollout, self.recorder.llm, self._prompt_of)
        if workers:  # win-rate: the recorder's data plus the pairs judged in each window
            self.judging = source = JudgedIntervals(self.recorder, workers)
        metrics = MetricDispatch(default=EmbeddedProvider(source))
        metrics.for_rollout(self.rollout)
        return metrics

    def _start_load(self) -> None:
        load = self.rollout.spec.load
        if load is None:
            return
        url = f"{self.url}/invocations"
        payloads: Sequence[bytes | LoadRequest]
        if self._payloads is not None:
            payloads = self._payloads
        elif any(v.is_llm for v in self._versions()):
            # OpenAI request bodies (JSONL), each sent to its own path with its reference
            # header; the simulator's task set when the spec names no file
            self.llm_load = llm_load_for(load.requests)
            payloads = self.llm_load.requests()
        elif load.requests or load.dataset:
            payloads = payloads_from_file(load.requests or load.dataset or "")
        else:
            raise SpecError(
                SpecIssue(
                    "spec.load",
                    "has no requests to send",
                    "add requests: FILE.jsonl or dataset: FILE.csv",
                )
            )
        from ..spec import parse_duration
        from ..spec._load import resolve_cohorts
        from ..spec._load_reach import load_warnings

        cohorts, issues = resolve_cohorts(load.cohorts, self.rollout.spec.analysis)
        if issues:
            raise SpecError(issues)
        for warning in load_warnings(self.rollout):  # what the load cannot reach, said once
            self.findings.append(str(warning))
            log.warning("rollout %s: %s", self.name, warning)
        self.load = LoadGenerator(
            url,
            payloads,
            rps=load.rps,
            concurrency=load.concurrency,
            duration=parse_duration(load.duration) if load.duration else None,
            headers=load.headers,
            cohorts=cohorts,
            users=load.users,
            unit_header=unit.header if (unit := self.rollout.spec.analysis.unit_key) else None,
        ).start()

    def llm_exchanges(self, window: Window) -> list[LLMExchange]:
        """The chat/completions exchanges the router recorded in ``window`` (kept by the
        recorder after the router is released): an :class:`LLMSource`."""
        return self.recorder.llm.llm_exchanges(window)

    def _prompt_of(self, request_id: str) -> str | None:
        """The question a request of the LLM load asked (for the pairwise judge)."""
        return self.llm_load.prompt_of(request_id) if self.llm_load is not None else None


def mirror_budget(rollout: ModelRollout) -> MirrorBudget | None:
    """The router's spend cap from ``spec.analysis.mirrorBudget``, priced with the
    challenger's ``pricing`` (no pricing: the cost cap never binds, only prompts and tokens)."""
    spec = rollout.spec
    budget = spec.analysis.mirror_budget
    if budget is None:
        return None
    challenger = spec.challenger
    pricing = challenger.pricing if challenger is not None else None
    return MirrorBudget(
        max_prompts=budget.max_prompts,
        max_tokens=budget.max_tokens,
        max_cost=budget.max_cost,
        input_per_1k=pricing.input_per_1k if pricing is not None else 0.0,
        output_per_1k=pricing.output_per_1k if pricing is not None else 0.0,
    )


def _listen(listen: str | None) -> tuple[str, int]:
    if not listen:
        return "127.0.0.1", 0
    host, _, port = listen.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise SpecError(
            SpecIssue(
                "spec.router.listen", f"{listen!r} is not host:port", "write e.g. 127.0.0.1:8080"
            )
        ) from None
