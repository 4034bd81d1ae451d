"""The local traffic router: an HTTP/1.1 reverse proxy on loopback (the ``TrafficRouter`` port).

``LocalRouter`` sits in front of the champion and challenger model servers and applies the
engine's ``Routes``: weighted split, A/B matching, cookie session affinity and mirroring. It
records every served and mirrored call into the ``Recorder`` the embedded metric provider
reads, and exposes its own Prometheus metrics at ``GET /_modelcanary/metrics``. It runs its
own asyncio event loop in a background thread, so the synchronous engine drives it directly::

    router = LocalRouter("http://127.0.0.1:8001", "http://127.0.0.1:8002", rollout="fraud")
    router.start()
    router.set_routes(rollout, Routes(champion_weight=90, challenger_weight=10))
    ...  # clients call router.url
    router.stop()

Every client is bounded (``RouterLimits``: head and body size, read and idle time, connections,
buffered bytes, request-id length, calls in flight per model server), so no client, slow or
hostile, can exhaust the router's memory or descriptors or stall other clients.

Behaviour, matching rules, limits, metric names and benchmark figures: ``docs/router.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from ...errors import RouterError
from ...spec import ModelRollout
from ...spec._traffic import Capabilities, Routes, capabilities
from .breaker import ConnectBreaker
from .budget import MirrorBudget, MirrorSpend
from .client import ClientConnection
from .forward import LLMSink, ProxyState, RecordSink
from .limits import LINGERING, RouterLimits
from .pool import Upstream
from .table import RouteTable, unit_header

EXPIRE_EVERY = 0.05
"""Seconds between two deadline checks of in-flight upstream calls."""


class LocalRouter:
    """Champion/challenger reverse proxy on 127.0.0.1, implementing ``TrafficRouter``."""

    features: ClassVar[Capabilities] = capabilities("local")
    """What it can do: the ``local`` row of ``spec.traffic.CAPABILITIES``, the table the spec
    rules read (source labels, a mesh's, are not matched locally)."""

    def __init__(
        self,
        champion_url: str,
        challenger_url: str,
        *,
        rollout: str = "default",
        host: str = "127.0.0.1",
        port: int = 0,
        recorder: RecordSink | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        mirror_timeout: float | None = None,
        mirror_concurrency: int = 64,
        mirror_queue: int = 256,
        limits: RouterLimits | None = None,
        llm_log: LLMSink | None = None,
        mirror_budget: MirrorBudget | None = None,
        openai: bool = False,
    ) -> None:
        # ``llm_log``: where chat/completions exchanges go (default: the recorder's ``llm``
        # log, which its ``interval_data`` reads); ``mirror_budget``: the spend cap on mirror
        # copies; ``openai``: every POST is an OpenAI call (``protocol: openai``), any path.
        if recorder is None:
            from .._recorder import Recorder  # numpy-backed: imported only when needed

            recorder = Recorder()
        if llm_log is None:
            llm_log = getattr(recorder, "llm", None)
        if llm_log is None:
            from .._llm_log import LLMLog

            llm_log = LLMLog()
        self.llm_log = llm_log
        """Where the router records LLM exchanges."""
        self.rollout = rollout
        self.host, self.port = host, port
        self.recorder = recorder
        self._connect_timeout = connect_timeout
        self.limits = (limits or RouterLimits()).fitted()
        """The limits in force (``max_connections`` lowered to fit the fd limit if need be)."""
        self._state = ProxyState(
            rollout,
            RouteTable(Routes()),
            self._upstreams(champion_url, challenger_url, ()),
            recorder,
            timeout=timeout,
            mirror_timeout=timeout if mirror_timeout is None else mirror_timeout,
            mirror_concurrency=mirror_concurrency,
            mirror_queue=mirror_queue,
            limits=self.limits,
            llm_log=llm_log,
            spend=MirrorSpend(mirror_budget),
            openai=openai,
        )
        self._state.metrics.spend = self._state.spend  # exported at /_modelcanary/metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalRouter:
        """Start serving; returns once the router listens (``url`` is then known)."""
        with self._lock:
            if self._thread is not None:
                return self
            state = self._state
            if any(u.retired for u in state.backends):  # restarted after a stop: new pools
                state.backends = self._upstreams(*self.backends, ())
                state.draining = []
            state.reset()
            loop = asyncio.new_event_loop()
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            thread = threading.Thread(
                target=self._run, args=(loop, ready), name=f"modelcanary-router-{self.rollout}"
            )
            thread.daemon = True
            thread.start()
            try:
                ready.result(timeout=10)
            except BaseException as exc:
                thread.join(5)
                raise RouterError(
                    f"router cannot listen on {self.host}:{self.port}: {exc}"
                ) from exc
            self._loop, self._thread = loop, thread
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            state = self._state
            server = loop.run_until_complete(
                loop.create_server(
                    lambda: ClientConnection(state), self.host, self.port, backlog=1024
                )
            )
        except BaseException as exc:
            loop.close()
            ready.set_exception(exc)
            return
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        loop.call_later(EXPIRE_EVERY, self._expire, loop)
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._state.expire()
        loop.call_later(EXPIRE_EVERY, self._expire, loop)

    def _shutdown(self) -> None:
        state, loop = self._state, asyncio.get_running_loop()
        state.stopping = True
        state.mirror_queue.clear()
        if self._server is not None:
            self._server.close()
        for conn in state.clients.everything():
            conn.expire(LINGERING)  # abort: nothing more is written
        for upstream in {*state.backends, *state.draining}:
            upstream.close()
        loop.stop()

    def stop(self) -> None:
        """Stop serving and close every connection; no thread is left running. Idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            loop.call_soon_threadsafe(self._shutdown)
            thread.join(10)
            self._loop = self._thread = self._server = None
            self._state.stopping = False  # a restarted router records again
            if thread.is_alive():
                raise RouterError("router thread did not stop within 10 s")

    def __enter__(self) -> LocalRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` of the router (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    # -- backends -------------------------------------------------------------------------
    def _upstreams(
        self, champion_url: str, challenger_url: str, reuse: tuple[Upstream, ...]
    ) -> tuple[Upstream, Upstream]:
        pools = {u.url: u for u in reuse}
        for url in (champion_url, challenger_url):
            if url not in pools:
                pools[url] = Upstream(
                    url,
                    connect_timeout=self._connect_timeout,
                    max_requests=self.limits.max_upstream_requests,
                    stalled_after=self.limits.stalled_after,
                    breaker=ConnectBreaker(
                        self.limits.breaker_failures,
                        self.limits.breaker_cooldown,
                        self.limits.breaker_max_cooldown,
                    ),
                )
        return pools[champion_url], pools[challenger_url]

    def set_backends(self, champion_url: str, challenger_url: str) -> None:
        """Swap both model servers atomically (after a promotion or a challenger restart).

        Requests already forwarded finish on the old servers; every later one uses the new.
        Connection pools of URLs that stay are kept.
        """
        self._call(lambda: self._swap(champion_url, challenger_url))

    def _swap(self, champion_url: str, challenger_url: str) -> None:
        state = self._state
        state.swap_backends(self._upstreams(champion_url, challenger_url, state.backends))

    @property
    def backends(self) -> tuple[str, str]:
        """The champion and challenger base URLs in use."""
        champion, challenger = self._state.backends
        return champion.url, challenger.url

    def _call(self, action: Any) -> Any:
        """Run ``action`` on the router's loop (or here when stopped) and return its result."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return action()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(action())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    # -- TrafficRouter port ---------------------------------------------------------------
    def _check(self, rollout: ModelRollout) -> None:
        if rollout.name != self.rollout:
            raise RouterError(
                f"this local router serves rollout {self.rollout!r}, not {rollout.name!r}"
            )

    def reconcile(self, rollout: ModelRollout) -> None:
        """Nothing to create locally: the router exists once started."""
        self._check(rollout)

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        """Apply ``routes`` atomically: every later request sees all of them, none half.
        The rollout's ``analysis.unitKey.header`` (if any) names each request's unit."""
        self._check(rollout)
        self._state.table = RouteTable(routes, unit_header(rollout))

    def get_routes(self, rollout: ModelRollout) -> Routes:
        """The routes in force."""
        self._check(rollout)
        return self._state.table.routes

    def finalize(self, rollout: ModelRollout) -> None:
        """All traffic to the champion: no split, no match, no mirror."""
        self._check(rollout)
        self._state.table = RouteTable(Routes(), unit_header(rollout))

    # -- introspection --------------------------------------------------------------------
    @property
    def routes(self) -> Routes:
        """The routes in force (same as ``get_routes`` without a rollout)."""
        return self._state.table.routes

    def metrics_text(self) -> str:
        """The Prometheus exposition text served at ``/_modelcanary/metrics``."""
        state = self._state
        text: bytes = self._call(
            lambda: state.metrics.render(state.table.routes, state.breakers_open())
        )
        return text.decode()

    def add_metrics(self, source: Callable[[], str]) -> None:
        """Serve ``source()`` (Prometheus text) after the router's own metrics."""
        self._state.extra_metrics.append(source)

    @property
    def open_connections(self) -> int:
        """Client connections open now (at most ``limits.max_connections``)."""
        return len(self._state.clients.open)

    @property
    def buffered_bytes(self) -> int:
        """Request bytes the router holds now (bounded by ``limits.max_buffered``, roughly)."""
        return self._state.buffered

    @property
    def mirror_dropped(self) -> int:
        """Mirror copies dropped unsent (queue or buffer full, or the challenger's breaker)."""
        return self._state.metrics.mirror_dropped

    @property
    def mirror_eligible(self) -> int:
        """Mirror copies the mirror weight asked for (coverage: 1 - dropped / eligible)."""
        return self._state.metrics.mirror_eligible

    @property
    def mirror_drops(self) -> dict[str, int]:
        """Dropped mirror copies by reason: ``saturated``, ``breaker`` and, when a mirror
        budget was ever set (or spent), ``budget``."""
        drops = dict(self._state.metrics.mirror_drop_reasons)
        if self._state.spend.budget is None and not drops.get("budget"):
            drops.pop("budget", None)
        return drops

    @property
    def mirror_spend(self) -> dict[str, float]:
        """What mirroring has cost so far: ``{"prompts", "tokens", "cost"}`` (copies sent,
        their prompt plus output tokens, their cost at the budget's pricing)."""
        spend = self._state.spend
        return self._call(spend.as_dict)  # type: ignore[no-any-return]

    @property
    def mirror_budget(self) -> MirrorBudget | None:
        """The spend cap on mirror copies (None: none)."""
        return self._state.spend.budget

    def set_mirror_budget(self, budget: MirrorBudget | None) -> None:
        """Change the spend cap (what was spent so far still counts)."""
        self._state.spend.budget = budget

    @property
    def retried(self) -> int:
        """Challenger calls answered by the champion (the challenger never received them)."""
        return self._state.metrics.retried

    def breaker_open(self, version: str = "challenger") -> bool:
        """Whether the connect breaker of ``version``'s model server is open now."""
        return self._state.breakers_open()[version == "challenger"]
