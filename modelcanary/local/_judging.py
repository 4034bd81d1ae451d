"""The local runtime's judging worker: pairs answers as the router records them and judges
them in the background for the ``win-rate`` metric (shadow evaluation of quality).

The worker polls an :class:`~modelcanary.analysis._llm_records.LLMSource` (the router's LLM
log) every ``poll_s`` over the last ``lookback_s`` seconds (an answer is logged when it ends,
under its request's arrival time, so windows overlap and exchanges are de-duplicated), pairs
them (:class:`~modelcanary.analysis._shadow_eval.Pairing`) and puts each pair on a bounded
queue; judging threads take them off: deterministic judges in-process, the pairwise
LLM-as-judge (two calls per pair, positions swapped) on up to ``concurrency`` pairs at once.

- **Budget**: at most ``budget`` pairs are judged per rollout (a metric's ``judgeBudget``);
  later pairs are counted as ``over_budget`` and not judged. A pair is charged when queued.
- **Bounded**: a full queue drops the pair (counted in ``dropped``) instead of blocking the
  router's log; the newest ``keep`` judgements are kept (each at most ~2.5 kB: answers,
  reference and reason are cut), far more than an analysis interval judges.
- **Failures**: a judge that raises or cannot answer gives an ``error`` outcome with why;
  it spends budget and is never counted as a win.

:meth:`JudgingWorker.judged` gives the pairs judged in a window (by ``judged_at``): what the
runtime puts in ``IntervalData.judged``. :meth:`JudgingWorker.all_judged` keeps every
judgement (request id, outcome, reason or raw judge replies, both answers) for a person.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..analysis._llm_records import LLMExchange, LLMSource
from ..analysis._measurements import IntervalData, Window
from ..analysis._shadow_eval import AnswerPair, JudgedPair, Pairing, judge_pair, judged

if TYPE_CHECKING:
    from ..evaluators import PairwiseJudge

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
"""Pairwise judge calls in flight at most (each pair is two calls, one after the other)."""
MAX_SEEN = 2_000_000
"""Exchanges remembered as seen at most (beyond the lookback they are forgotten anyway)."""
_NO_QUESTION = "(the question was not recorded: judge the two answers on their own)"


@dataclass
class JudgingStats:
    """What the worker did so far."""

    queued: int = 0
    """Pairs charged to the budget and queued."""
    judged: int = 0
    errors: int = 0
    """Judgements whose judge failed (outcome ``error``)."""
    over_budget: int = 0
    """Pairs not judged because the budget was spent."""
    dropped: int = 0
    """Pairs not judged because the queue was full."""


class JudgingWorker:
    """Judges answer pairs in the background, within a budget."""

    def __init__(
        self,
        evaluator: str,
        *,
        source: LLMSource | None = None,
        judge: PairwiseJudge | None = None,
        budget: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        queue_size: int = 256,
        prompt_of: Callable[[str], str | None] | None = None,
        options: Mapping[str, Any] | None = None,
        poll_s: float = 1.0,
        lookback_s: float = 120.0,
        keep: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if evaluator == "pairwise" and judge is None:
            raise ValueError("the pairwise evaluator needs a judge (PairwiseJudge)")
        self.evaluator, self.source, self.judge = evaluator, source, judge
        self.budget, self.prompt_of, self.options = budget, prompt_of, dict(options or {})
        self.poll_s, self.lookback_s, self.clock = poll_s, lookback_s, clock
        self.concurrency = max(1, concurrency if evaluator == "pairwise" else 1)
        self.pairing = Pairing(evaluator)
        self.stats = JudgingStats()
        self._queue: queue.Queue[tuple[AnswerPair, tuple[str | None, str | None]] | None] = (
            queue.Queue(maxsize=queue_size)
        )
        self._judged: deque[JudgedPair] = deque(maxlen=keep)
        self._seen: set[tuple[str, str, bool, float]] = set()
        self._seen_order: deque[tuple[str, str, bool, float]] = deque()
        self._lock = threading.Lock()
        self._busy = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> JudgingWorker:
        """Start the judging threads (and the poller when there is a source)."""
        for n in range(self.concurrency):
            thread = threading.Thread(
                target=self._judge_loop, name=f"modelcanary-judge-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.source is not None:
            poller = threading.Thread(target=self._poll_loop, name="modelcanary-judge-poll")
            poller.daemon = True
            poller.start()
            self._threads.append(poller)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and judging (pairs still queued are left unjudged)."""
        self._stop.set()
        for _ in range(self.concurrency):
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        deadline = time.monotonic() + timeout
        for thread in self._threads:  # one deadline for all (a judge call may be slow)
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> JudgingWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- input ----------------------------------------------------------------------------
    def poll(self) -> None:
        """Read the source's recent exchanges once (the poller does this every ``poll_s``)."""
        if self.source is None:
            return
        now = self.clock()
        window = Window(now - self.lookback_s, now + 1.0)
        self.observe(self.source.llm_exchanges(window), forget_before=window.start - 1.0)

    def observe(
        self, exchanges: Iterable[LLMExchange], *, forget_before: float | None = None
    ) -> None:
        """Pair new exchanges (already seen ones are skipped) and queue the pairs.
        ``forget_before``: exchanges that arrived before this are never offered again, so
        the memory of what was seen can drop them."""
        fresh = []
        with self._lock:
            for ex in exchanges:
                key = (ex.request_id, ex.side, ex.mirrored, ex.timestamp)
                if key in self._seen:
                    continue
                self._seen.add(key)
                self._seen_order.append(key)
                fresh.append(ex)
            order = self._seen_order
            while order and (
                len(order) > MAX_SEEN or (forget_before is not None and order[0][3] < forget_before)
            ):
                self._seen.discard(order.popleft())
            pairs = self.pairing.add(fresh)
            for pair in pairs:
                references = self.pairing.references(pair)
                if self.budget is not None and self.stats.queued >= self.budget:
                    self.stats.over_budget += 1
                    continue
                try:
                    self._queue.put_nowait((pair, references))
                except queue.Full:
                    self.stats.dropped += 1
                    continue
                self.stats.queued += 1

    # -- output ---------------------------------------------------------------------------
    def judged(self, window: Window) -> tuple[JudgedPair, ...]:
        """Pairs judged inside ``window`` (by ``judged_at``), oldest first."""
        with self._lock:
            return tuple(p for p in self._judged if window.start <= p.judged_at < window.end)

    def all_judged(self) -> list[JudgedPair]:
        """Every judgement kept, oldest first."""
        with self._lock:
            return list(self._judged)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty and no pair is being judged (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._queue.empty() and not self._busy:
                    return True
            time.sleep(0.01)
        return False

    # -- threads --------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception:  # a source that fails now may answer next time
                log.exception("judging worker: reading the LLM exchanges failed")

    def _judge_loop(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            with self._lock:
                self._busy += 1
            try:
                result = self._judge(*item)
            finally:
                with self._lock:
                    self._busy -= 1
            with self._lock:
                self._judged.append(result)
                self.stats.judged += 1
                self.stats.errors += result.outcome == "error"

    def _judge(self, pair: AnswerPair, references: tuple[str | None, str | None]) -> JudgedPair:
        """One judgement; any failure of the judge is an ``error`` outcome, never raised."""
        try:
            if self.evaluator != "pairwise":
                return judge_pair(
                    pair, self.evaluator, self.clock(), references=references, options=self.options
                )
            assert self.judge is not None
            question = (
                pair.prompt
                or (self.prompt_of(pair.request_id) if self.prompt_of else None)
                or _NO_QUESTION
            )
            verdict = self.judge.compare(
                question,
                champion=pair.champion,
                challenger=pair.challenger,
                reference=pair.reference,
            )
            reason = (
                f"champion as A: {verdict.champion_first.strip()} | "
                f"challenger as A: {verdict.challenger_first.strip()}"
            )
            return judged(pair, verdict.outcome, "pairwise", reason, self.clock())
        except Exception as exc:  # a judge bug must not stop the worker: recorded as such
            why = f"judge failed: {type(exc).__name__}: {exc}"
            return judged(pair, "error", self.evaluator, why, self.clock())


def worker_for_metric(
    metric: Any,
    *,
    source: LLMSource | None = None,
    prompt_of: Callable[[str], str | None] | None = None,
    timeout: float = 60.0,
) -> JudgingWorker:
    """The worker a ``win-rate`` metric asks for: its ``evaluator``, ``judgeBudget`` and, for
    ``pairwise``, a judge at ``evaluatorUrl`` asking ``evaluatorModel`` (not started)."""
    from ..errors import SpecError, SpecIssue

    evaluator = metric.evaluator or "reference"
    judge = None
    if evaluator == "pairwise":
        if metric.evaluator_url is None:
            raise SpecError(
                SpecIssue(
                    "spec.analysis.metrics[win-rate].evaluatorUrl",
                    "is missing: the pairwise evaluator calls an LLM judge",
                    "give evaluatorUrl: http://HOST:PORT/v1 of an OpenAI-compatible server",
                )
            )
        from ..evaluators import OpenAIChat, PairwiseJudge

        client = OpenAIChat(
            str(metric.evaluator_url), model=metric.evaluator_model or "default", timeout=timeout
        )
        judge = PairwiseJudge(client)
    return JudgingWorker(
        evaluator, source=source, judge=judge, budget=metric.judge_budget, prompt_of=prompt_of
    )


def start_judging(
    rollout: Any,
    source: LLMSource,
    prompt_of: Callable[[str], str | None] | None = None,
) -> list[JudgingWorker]:
    """Started workers for the rollout's ``win-rate`` metrics (one per evaluator; none when
    it has no such metric)."""
    workers: dict[str, JudgingWorker] = {}
    for metric in rollout.spec.analysis.metrics:
        evaluator = metric.evaluator or "reference"
        if metric.name == "win-rate" and evaluator not in workers:
            worker = worker_for_metric(metric, source=source, prompt_of=prompt_of)
            workers[evaluator] = worker.start()
    return list(workers.values())


class JudgedIntervals:
    """The recorder's measurements of a window with the pairs judged in it
    (``IntervalData.judged``): what the embedded provider reads when judging runs."""

    def __init__(self, recorder: Any, workers: list[JudgingWorker]) -> None:
        self.recorder, self.workers = recorder, workers

    def interval_data(self, window: Window) -> IntervalData:
        """The recorder's data, plus every worker's judgements made in ``window``."""
        from dataclasses import replace

        data: IntervalData = self.recorder.interval_data(window)
        pairs = sorted(
            (p for w in self.workers for p in w.judged(window)), key=lambda p: p.judged_at
        )
        return replace(data, judged=tuple(pairs))

    def mirror_coverage(self, window: Window) -> Any:
        """The recorder's mirror coverage of ``window``."""
        return self.recorder.mirror_coverage(window)

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()
