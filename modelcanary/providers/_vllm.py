"""vLLM's Prometheus series: the ``vllm`` series scheme and the LLM SLIs read from them.

vLLM's OpenAI-compatible server exports (prefix ``vllm:``, label ``model_name``):

- ``vllm:request_success_total{finished_reason}``: finished requests (``stop``, ``length``;
  ``abort`` and ``error`` are failures): the scheme's request counter, so ``error-rate``,
  ``request-success-rate`` and ``throughput`` come out of the usual count path;
- ``vllm:e2e_request_latency_seconds``: the scheme's request latency (``latency-p99``...);
- ``vllm:time_to_first_token_seconds``: ``ttft-p50|p95|p99``;
- ``vllm:time_per_output_token_seconds`` (vLLM < 0.11; ``vllm:inter_token_latency_seconds``
  after it, read when the first has no series): ``tpot-p50|p95|p99``;
- the same histogram's count over its sum: ``output-tokens-per-second``, the mean decode
  speed of a request (tokens after the first per second), so a version taking 10 % of the
  traffic is not slower for producing fewer tokens in total;
- ``vllm:prompt_tokens_total`` / ``vllm:generation_tokens_total``: the mean tokens in and out
  of a finished request, which with the versions' ``pricing`` give ``cost-per-1k-requests``.

The versions are told apart by Kubernetes pod (namespace and ``pod`` of the champion's and the
challenger's workloads, as the ``modelcanary-model`` scheme), except for the
``inference-model-rewrite`` router, where both versions run in the same pool and are told
apart by namespace and ``model_name`` (the rewrite's champion and challenger model names; vLLM
labels a LoRA adapter's requests with its base model's name, so an adapter rollout needs
distinct served model names). The quantiles are read from the histograms' buckets over the window
(``promql.delta_by``); unlike the router's exchanges they are not stratified by prompt length
(vLLM's histograms carry no prompt length). SLIs vLLM's series cannot give (refusal-rate,
json-valid-rate, win-rate, error-rate by ``errorClass``...) are left to the exchanges, which a
cluster provider does not have: NoData, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..analysis._measurements import NoData, Scalar, Side, Value
from ..analysis._sli import latency_quantile
from ..spec import ModelRollout
from ..spec._catalogue import TOKEN_LATENCY_QUANTILES, TOKEN_SERIES_METRICS
from ..spec._inference_routing import rewrite_models
from ..spec._naming import Names
from . import _vectors as vectors

if TYPE_CHECKING:
    from ._schemes import Matchers

Rows = list[vectors.Row]

VLLM_REQUESTS = "vllm:request_success_total"
VLLM_LATENCY = "vllm:e2e_request_latency_seconds_bucket"
VLLM_STATUS_LABEL = "finished_reason"
VLLM_OK = frozenset({"stop", "length"})
"""Finish reasons of a request answered in full; any other (abort, error) is a failure."""
TTFT = "vllm:time_to_first_token_seconds"
TPOT = "vllm:time_per_output_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
VLLM_NOTE = "vLLM servers (vllm:* series) by Kubernetes namespace and pod, or by model_name"
VLLM_METRICS = TOKEN_SERIES_METRICS
"""The LLM SLIs the vllm scheme answers from vLLM's series."""
POD_SUFFIX = "-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"


class VectorAPI(Protocol):
    """Instant queries (``_promapi.PrometheusAPI``)."""

    def vector(self, query: str, at: float) -> Rows:
        """The instant vector of ``query`` at ``at``."""
        ...


Grouped = Callable[[str, tuple[str, ...], bool], str]
"""``(metric, by, exact)`` -> the query of a ``version``-labelled count of ``metric`` per
version and ``by`` over the window (the Prometheus provider's ``grouped``, for one scheme,
rollout and range; ``exact``: ``delta_by``, not ``count_by``)."""


def vllm_sides(n: Names, rollout: ModelRollout) -> dict[Side, Matchers]:
    """Each version's matchers (``_schemes.SideMatchers``): its pods, or its model name
    behind an ``inference-model-rewrite`` router."""
    from ._schemes import Matcher  # _schemes imports this module: resolved at call time

    if rollout.spec.router.provider == "inference-model-rewrite":
        _, champion, challenger = rewrite_models(rollout)
        return {
            "champion": (Matcher("namespace", n.namespace), Matcher("model_name", champion)),
            "challenger": (Matcher("namespace", n.namespace), Matcher("model_name", challenger)),
        }
    return {
        "champion": (
            Matcher("namespace", n.namespace),
            Matcher("pod", f"{n.primary_workload}{POD_SUFFIX}", "=~"),
        ),
        "challenger": (
            Matcher("namespace", n.namespace),
            Matcher("pod", f"{n.challenger_workload}{POD_SUFFIX}", "=~"),
        ),
    }


def wanted(rollout: ModelRollout) -> set[str]:
    """The built-in LLM SLIs of ``rollout`` that vLLM's series answer."""
    return {
        m.name
        for m in rollout.spec.analysis.metrics
        if m.is_builtin and m.name in VLLM_METRICS and m.error_class is None
    }


@dataclass(frozen=True)
class _Window:
    """The queries of one window: the API, the grouped query of the scheme and rollout whose
    versions they count, and the evaluation time."""

    api: VectorAPI
    grouped: Grouped
    at: float

    def rows(self, metric: str, by: tuple[str, ...] = (), *, exact: bool = False) -> Rows:
        """The ``version``-labelled counts of ``metric`` per ``by`` over the window."""
        return self.api.vector(self.grouped(metric, by, exact), self.at)

    def sums(self, metric: str) -> dict[Side, float]:
        """Each version's change of counter ``metric`` over the window (absent: no series)."""
        rows = self.rows(metric)
        found: dict[Side, float] = {}
        for side in vectors.SIDES:
            values = [value for labels, value in rows if labels.get("version") == side]
            if values:
                found[side] = sum(values)
        return found


def llm_values(
    api: VectorAPI, grouped: Grouped, rollout: ModelRollout, at: float
) -> dict[Side, dict[str, Value]]:
    """Each version's values of the LLM SLIs the rollout asks for (``VersionData.values``),
    from the instant vectors at ``at`` of the ``grouped`` queries."""
    names = wanted(rollout)
    out: dict[Side, dict[str, Value]] = {side: {} for side in vectors.SIDES}
    if not names:
        return out
    window = _Window(api, grouped, at)

    def buckets(metric: str) -> Rows:
        return window.rows(f"{metric}_bucket", ("le",), exact=True)

    if any(n.startswith("ttft-") for n in names):
        _quantiles(out, names, "ttft-", buckets(TTFT), TTFT)
    if any(n.startswith("tpot-") for n in names) or "output-tokens-per-second" in names:
        rows, used = buckets(TPOT), TPOT
        if not any(vectors.cumulative(rows, side) for side in vectors.SIDES):
            rows, used = buckets(ITL), ITL  # vLLM >= 0.11 names it inter-token latency
        _quantiles(out, names, "tpot-", rows, used)
        if "output-tokens-per-second" in names:
            _speed(out, window, used)
    if "cost-per-1k-requests" in names:
        _tokens(out, window, rollout)
    return out


def _no_observations(side: Side, metric: str) -> NoData:
    return NoData(f"no {side} {metric} observations in the window", side)


def _quantiles(
    out: dict[Side, dict[str, Value]], names: set[str], prefix: str, rows: Rows, metric: str
) -> None:
    for side in vectors.SIDES:
        histogram = vectors.latency_histogram(vectors.cumulative(rows, side), side, 1000.0)
        for name in sorted(n for n in names if n.startswith(prefix)):
            value = latency_quantile(histogram, TOKEN_LATENCY_QUANTILES[name])
            out[side][name] = (
                _no_observations(side, metric) if isinstance(value, NoData) else Scalar(value, side)
            )


def _speed(out: dict[Side, dict[str, Value]], window: _Window, metric: str) -> None:
    """Output tokens per second: the time-per-output-token histogram's count over its sum."""
    counts = window.sums(f"{metric}_count")
    seconds = window.sums(f"{metric}_sum")
    for side in vectors.SIDES:
        n, total = counts.get(side, 0.0), seconds.get(side, 0.0)
        out[side]["output-tokens-per-second"] = (
            Scalar(n / total, side) if n > 0 and total > 0 else _no_observations(side, metric)
        )


def _tokens(out: dict[Side, dict[str, Value]], window: _Window, rollout: ModelRollout) -> None:
    """``cost-per-1k-requests`` at the versions' prices, from the mean tokens per request."""
    from ..spec._llm import Pricing

    requests = window.sums(VLLM_REQUESTS)
    prompt = window.sums(PROMPT_TOKENS)
    generated = window.sums(GENERATION_TOKENS)
    prices: Mapping[Side, Pricing | None] = {
        "champion": rollout.spec.champion.pricing if rollout.spec.champion else None,
        "challenger": rollout.spec.challenger.pricing if rollout.spec.challenger else None,
    }
    for side in vectors.SIDES:
        price, n = prices[side], requests.get(side, 0.0)
        if price is None:
            out[side]["cost-per-1k-requests"] = NoData(f"the {side} has no pricing", side)
        elif n <= 0:
            out[side]["cost-per-1k-requests"] = NoData(f"no {side} requests in the window", side)
        else:
            cost = (
                prompt.get(side, 0.0) * price.input_per_1k
                + generated.get(side, 0.0) * price.output_per_1k
            ) / 1000.0
            out[side]["cost-per-1k-requests"] = Scalar(1000.0 * cost / n, side)
