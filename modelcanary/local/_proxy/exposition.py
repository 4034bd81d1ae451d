"""The local router's own metrics (Prometheus text format, written by hand) and predictions.

Names are a contract with the metric providers; do not rename them:

* ``modelcanary_router_requests_total{rollout,version,status,mirrored}`` counter
* ``modelcanary_router_request_duration_seconds`` histogram ``{rollout,version,mirrored}``
* ``modelcanary_router_predictions_total{rollout,version,mirrored,label}`` (string predictions)
* ``modelcanary_router_prediction`` histogram ``{rollout,version,mirrored}`` (numeric ones)
* ``modelcanary_router_weight{rollout,version}`` and ``modelcanary_router_mirror_weight{rollout}``
* ``modelcanary_router_mirror_dropped_total{rollout}`` (every reason)
* ``modelcanary_router_mirror_eligible_total{rollout}``: copies the mirror weight asked for
  (coverage = 1 - dropped / eligible)
* ``modelcanary_router_mirror_dropped_by_reason_total{rollout,reason}``: ``saturated`` (queue,
  concurrency or buffer full: the challenger cannot keep up), ``breaker`` (it is unreachable)
  or ``budget`` (the mirror spend cap is reached)
* ``modelcanary_router_breaker_open{rollout,version}``: 1 while a connect breaker is open
* ``modelcanary_router_retried_total{rollout}``: challenger calls answered by the champion
  because the challenger never received them (connection failed or breaker open)
* ``modelcanary_router_mirror_spend_prompts_total{rollout}``,
  ``modelcanary_router_mirror_spend_tokens_total{rollout}`` (prompt plus output tokens) and
  ``modelcanary_router_mirror_spend_cost_total{rollout}`` (in the challenger's pricing currency;
  0 without a ``mirrorBudget``, which carries the prices): what mirroring cost so far (LLM
  rollouts; see ``budget.py``). Counters never go down: a copy's prompt tokens are estimated
  when it is sent and corrected to the server's ``usage`` when it ends, so a correction
  downwards shows once the spend passes the estimate again.
* ``modelcanary_router_mirror_budget_max_prompts{rollout}``, ``..._max_tokens``,
  ``..._max_cost``: the ``mirrorBudget`` caps in force (gauges; a cap that is not set is absent)

All updates happen on the router's event-loop thread, so no lock is taken per request.
"""

from __future__ import annotations

import bisect
import math
import re
from typing import Any, Protocol

from ...spec._traffic import Routes
from .matching import parse_json

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREDICTION_BUCKETS = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2, 5, 10, 100)
MAX_LABELS = 100
"""Distinct string prediction labels per version; more are counted as ``__other__``."""
PREFERRED_KEYS = ("prediction", "label", "score", "probability", "value", "output")
"""Keys tried, in order, when a prediction is an object (then its first scalar value)."""

Prediction = float | str | None


class SpendCaps(Protocol):
    """The mirror budget's caps (``budget.MirrorBudget``; None: not capped)."""

    @property
    def max_prompts(self) -> int | None: ...

    @property
    def max_tokens(self) -> int | None: ...

    @property
    def max_cost(self) -> float | None: ...


class SpendReading(Protocol):
    """What mirroring cost so far (``budget.MirrorSpend``, a sibling module: read by shape)."""

    @property
    def prompts(self) -> int: ...

    @property
    def tokens(self) -> int: ...

    @property
    def cost(self) -> float: ...

    @property
    def budget(self) -> SpendCaps | None: ...


_VERSIONS = ("champion", "challenger")
_MIRRORED = ("false", "true")


_FAST = re.compile(
    rb'\s*\{\s*"predictions"\s*:\s*\[\s*'
    rb'(?:(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|"([^"\\]*)")\s*[,\]]'
)
"""The common ``{"predictions": [number or plain string, ...`` answer, read without json."""


def first_prediction(body: bytes) -> Prediction:
    """The first prediction of a response body, as a scalar (None when there is none).

    Shapes: ``{"predictions": [...]}`` (MLflow, KServe v1), ``{"outputs": [{"data": [...]}]}``
    (KServe v2), ``{"predictions": {"col": [...]}}`` and a bare JSON list. The first element
    is reduced to a scalar: a list gives its first element (recursively), an object its first
    ``PREFERRED_KEYS`` entry, else its first scalar value; booleans become 1.0/0.0.
    """
    fast = _FAST.match(body)
    if fast is not None:
        number, text = fast.groups()
        return float(number) if number is not None else text.decode("utf-8", "replace")
    doc = parse_json(body)
    if isinstance(doc, dict):
        if "predictions" in doc:
            doc = doc["predictions"]
        elif isinstance(doc.get("outputs"), list) and doc["outputs"]:
            first = doc["outputs"][0]
            doc = first.get("data") if isinstance(first, dict) else first
        else:
            return None
        if isinstance(doc, dict):  # column orientation: {"col": [v0, v1, ...]}
            doc = next(iter(doc.values()), None)
    if isinstance(doc, list):
        return _scalar(doc[0]) if doc else None
    return _scalar(doc)


def _scalar(value: Any, depth: int = 0) -> Prediction:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if depth > 4:
        return None
    if isinstance(value, list):
        return _scalar(value[0], depth + 1) if value else None
    if isinstance(value, dict):
        for key in PREFERRED_KEYS:
            if key in value and not isinstance(value[key], dict | list):
                return _scalar(value[key], depth + 1)
        for item in value.values():
            scalar = _scalar(item, depth + 1) if not isinstance(item, dict | list) else None
            if scalar is not None:
                return scalar
    return None


class Histogram:
    """Per-bucket counts (non-cumulative until rendered), sum and count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Add one observation (``le`` semantics: a value equal to a bound is inside it)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1


class RouterMetrics:
    """Counters and histograms of one router, rendered as Prometheus text."""

    def __init__(self, rollout: str) -> None:
        self.rollout = _escape(rollout)
        self.requests: dict[tuple[int, int, bool], int] = {}
        self.durations = [[Histogram(DURATION_BUCKETS) for _ in "mr"] for _ in _VERSIONS]
        self.predictions = [[Histogram(PREDICTION_BUCKETS) for _ in "mr"] for _ in _VERSIONS]
        self.labels: list[list[dict[str, int]]] = [[{}, {}], [{}, {}]]
        self.mirror_dropped = 0
        """Mirror copies dropped, every reason."""
        self.mirror_eligible = 0
        """Mirror copies the mirror weight asked for."""
        self.mirror_drop_reasons = {"breaker": 0, "saturated": 0, "budget": 0}
        """Drops by reason (fixed keys: other threads copy it while the loop counts)."""
        self.retried = 0
        """Challenger calls retried on the champion."""
        self.spend: SpendReading | None = None
        """The router's mirror spend (set by the router that owns both; None: not exported)."""
        self._spend_shown = [0.0, 0.0, 0.0]
        """Highest prompts, tokens and cost rendered so far (counters never go down)."""

    def drop_mirror(self, reason: str) -> None:
        """Count one mirror copy dropped for ``reason`` (``saturated``, ``breaker``, ``budget``)."""
        self.mirror_dropped += 1
        self.mirror_drop_reasons[reason] = self.mirror_drop_reasons.get(reason, 0) + 1

    def observe(
        self, version: int, mirrored: bool, status: int, seconds: float, prediction: Prediction
    ) -> None:
        """Count one upstream call of ``version`` (0 champion, 1 challenger)."""
        key = (version, status, mirrored)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        self.durations[version][mirrored].observe(seconds)
        if prediction is None:
            return
        if isinstance(prediction, str):
            labels = self.labels[version][mirrored]
            if prediction not in labels and len(labels) >= MAX_LABELS:
                prediction = "__other__"
            labels[prediction] = labels.get(prediction, 0) + 1
        elif math.isfinite(prediction):
            self.predictions[version][mirrored].observe(prediction)

    def render(self, routes: Routes, breakers: tuple[bool, bool] = (False, False)) -> bytes:
        """The exposition text of every metric (``breakers``: connect breaker open, by version)."""
        r = self.rollout
        out: list[str] = []
        add = out.append
        add("# HELP modelcanary_router_requests_total Upstream calls by version and status.")
        add("# TYPE modelcanary_router_requests_total counter")
        for (v, status, mirrored), n in sorted(self.requests.items()):
            add(
                f'modelcanary_router_requests_total{{rollout="{r}",version="{_VERSIONS[v]}",'
                f'status="{status}",mirrored="{_MIRRORED[mirrored]}"}} {n}'
            )
        self._histograms(out, "request_duration_seconds", self.durations, "Upstream round trip.")
        add("# HELP modelcanary_router_predictions_total String predictions by label.")
        add("# TYPE modelcanary_router_predictions_total counter")
        for v, per_version in enumerate(self.labels):
            for m, labels in enumerate(per_version):
                for label, n in sorted(labels.items()):
                    add(
                        f'modelcanary_router_predictions_total{{rollout="{r}",'
                        f'version="{_VERSIONS[v]}",mirrored="{_MIRRORED[m]}",'
                        f'label="{_escape(label)}"}} {n}'
                    )
        self._histograms(out, "prediction", self.predictions, "Numeric predictions.")
        add("# HELP modelcanary_router_weight Percent of traffic routed to each version.")
        add("# TYPE modelcanary_router_weight gauge")
        for version, weight in zip(
            _VERSIONS, (routes.champion_weight, routes.challenger_weight), strict=True
        ):
            add(f'modelcanary_router_weight{{rollout="{r}",version="{version}"}} {weight}')
        add("# HELP modelcanary_router_mirror_weight Percent of champion traffic mirrored.")
        add("# TYPE modelcanary_router_mirror_weight gauge")
        add(f'modelcanary_router_mirror_weight{{rollout="{r}"}} {routes.mirror_weight}')
        add("# HELP modelcanary_router_mirror_dropped_total Mirror calls dropped (saturated).")
        add("# TYPE modelcanary_router_mirror_dropped_total counter")
        add(f'modelcanary_router_mirror_dropped_total{{rollout="{r}"}} {self.mirror_dropped}')
        add(
            "# HELP modelcanary_router_mirror_eligible_total Mirror copies asked for by the weight."
        )
        add("# TYPE modelcanary_router_mirror_eligible_total counter")
        add(f'modelcanary_router_mirror_eligible_total{{rollout="{r}"}} {self.mirror_eligible}')
        name = "modelcanary_router_mirror_dropped_by_reason_total"
        add(f"# HELP {name} Mirror calls dropped: saturated (queue full) or breaker (unreachable).")
        add(f"# TYPE {name} counter")
        for reason, count in self.mirror_drop_reasons.items():
            add(f'{name}{{rollout="{r}",reason="{reason}"}} {count}')
        name = "modelcanary_router_breaker_open"
        add(f"# HELP {name} 1 while the connect breaker of a version is open.")
        add(f"# TYPE {name} gauge")
        for version, is_open in zip(_VERSIONS, breakers, strict=True):
            add(f'{name}{{rollout="{r}",version="{version}"}} {int(is_open)}')
        add("# HELP modelcanary_router_retried_total Challenger calls answered by the champion.")
        add("# TYPE modelcanary_router_retried_total counter")
        add(f'modelcanary_router_retried_total{{rollout="{r}"}} {self.retried}')
        if self.spend is not None:
            self._spend(out, self.spend)
        return ("\n".join(out) + "\n").encode()

    def _spend(self, out: list[str], spend: SpendReading) -> None:
        """The mirror spend counters and the budget's caps."""
        r = self.rollout
        shown = self._spend_shown
        now = (float(spend.prompts), float(spend.tokens), float(spend.cost))
        for i, value in enumerate(now):
            shown[i] = max(shown[i], value)
        helps = (
            ("prompts", "Prompts mirrored to the challenger."),
            ("tokens", "Prompt and output tokens of the mirrored prompts."),
            ("cost", "Cost of the mirrored prompts at the challenger's pricing."),
        )
        for (what, help_text), value in zip(helps, shown, strict=True):
            name = f"modelcanary_router_mirror_spend_{what}_total"
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} counter")
            out.append(f'{name}{{rollout="{r}"}} {_number(value)}')
        budget = spend.budget
        caps = (
            ("prompts", budget.max_prompts if budget is not None else None),
            ("tokens", budget.max_tokens if budget is not None else None),
            ("cost", budget.max_cost if budget is not None else None),
        )
        for what, cap in caps:
            if cap is None:
                continue
            name = f"modelcanary_router_mirror_budget_max_{what}"
            out.append(f"# HELP {name} The mirrorBudget cap on mirrored {what}.")
            out.append(f"# TYPE {name} gauge")
            out.append(f'{name}{{rollout="{r}"}} {_number(float(cap))}')

    def _histograms(
        self, out: list[str], name: str, table: list[list[Histogram]], help_text: str
    ) -> None:
        full = f"modelcanary_router_{name}"
        out.append(f"# HELP {full} {help_text}")
        out.append(f"# TYPE {full} histogram")
        for v, per_version in enumerate(table):
            for m, hist in enumerate(per_version):
                if not hist.count:
                    continue
                labels = (
                    f'rollout="{self.rollout}",version="{_VERSIONS[v]}",mirrored="{_MIRRORED[m]}"'
                )
                total = 0
                for bound, n in zip((*hist.bounds, math.inf), hist.counts, strict=True):
                    total += n
                    out.append(f'{full}_bucket{{{labels},le="{_le(bound)}"}} {total}')
                out.append(f"{full}_sum{{{labels}}} {hist.sum!r}")
                out.append(f"{full}_count{{{labels}}} {hist.count}")


def _number(value: float) -> str:
    """A sample value: integers without a fraction, others as Python writes them."""
    return str(int(value)) if value.is_integer() else repr(value)


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else f"{bound:g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
