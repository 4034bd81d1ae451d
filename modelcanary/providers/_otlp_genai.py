"""LLM SLIs from the OpenTelemetry GenAI semantic conventions, over OTLP series.

Model servers and gateways instrumented with the GenAI conventions push (OTLP, through the
receiver of :mod:`._otlp_receiver`):

- ``gen_ai.server.request.duration`` (histogram, s; ``error.type`` set on a failed request):
  request counts, errors and latency, so ``error-rate``, ``throughput``, ``latency-pNN`` come
  out of the usual path;
- ``gen_ai.server.time_to_first_token`` (histogram, s): ``ttft-p50|p95|p99``;
- ``gen_ai.server.time_per_output_token`` (histogram, s): ``tpot-p50|p95|p99``, and its count
  over its sum for ``output-tokens-per-second`` (a request's mean decode speed);
- ``gen_ai.client.token.usage`` (histogram, tokens; ``gen_ai.token.type`` ``input`` or
  ``output``): mean tokens per request, with the versions' ``pricing``,
  ``cost-per-1k-requests``.

A series belongs to a version by its attributes (resource attributes included): behind the
``inference-model-rewrite`` router, ``gen_ai.response.model`` is the champion's or the
challenger's model name; otherwise the Kubernetes resource attributes name the version's
workload (``k8s.deployment.name``: ``<target>-primary`` / the target, ``k8s.namespace.name``
when present). Series of neither version are left out. What these series cannot give (refusal
rate, win rate...) stays NoData.

A rollout reads these series when the provider's option ``scheme`` is ``otel-genai``, when its
``modelcanary.io/metrics-scheme`` annotation says ``otel-genai``, when its router is one of
the LLM routers (inference-pool, inference-model-rewrite, kserve-llm), or when a cluster
router fronts two explicit ``protocol: openai`` versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..analysis._measurements import (
    IntervalData,
    NoData,
    Scalar,
    Side,
    Value,
    VersionData,
    Window,
)
from ..analysis._sli import latency_quantile
from ..spec import ModelRollout
from ..spec._catalogue import TOKEN_LATENCY_QUANTILES
from ..spec._inference_routing import LLM_ROUTERS, rewrite_models
from ..spec._naming import names
from . import _vectors as vectors
from ._otlp_series import Series, seconds_increase

GENAI_SCHEME = "otel-genai"
SCHEME_ANNOTATION = "modelcanary.io/metrics-scheme"
DURATION = "gen_ai.server.request.duration"
TTFT = "gen_ai.server.time_to_first_token"
TPOT = "gen_ai.server.time_per_output_token"
TOKENS = "gen_ai.client.token.usage"
NAMES = (DURATION, TTFT, TPOT, TOKENS)
NO_PAIRS = "GenAI metrics cannot pair the two versions' answers per request"
Delta = tuple[Side, Mapping[str, str], tuple[float, ...], tuple[float, ...], float, float]
"""(side, attributes, bounds in seconds, bucket counts, count, sum) of one histogram series."""


def reads_genai(rollout: ModelRollout, scheme: str = "auto") -> bool:
    """Whether ``rollout``'s built-in SLIs come from the GenAI series."""
    wanted = (rollout.metadata.annotations or {}).get(SCHEME_ANNOTATION)
    if wanted is not None:
        return wanted == GENAI_SCHEME
    if scheme != "auto":
        return scheme == GENAI_SCHEME
    provider = rollout.spec.router.provider
    versions = (rollout.spec.champion, rollout.spec.challenger)
    llm_versions = all(v is not None and v.is_llm for v in versions)
    return provider in LLM_ROUTERS or (provider != "local" and llm_versions)


def side_of(rollout: ModelRollout, attributes: Mapping[str, str]) -> Side | None:
    """The version a series belongs to (None: neither)."""
    n = names(rollout)
    if rollout.spec.router.provider == "inference-model-rewrite":
        _, champion, challenger = rewrite_models(rollout)
        wanted = {"champion": champion, "challenger": challenger}
        found = attributes.get("gen_ai.response.model")
    else:
        namespace = attributes.get("k8s.namespace.name")
        if namespace is not None and namespace != n.namespace:
            return None
        wanted = {"champion": n.primary_workload, "challenger": n.challenger_workload}
        found = attributes.get("k8s.deployment.name")
    if found == wanted["champion"]:
        return "champion"
    if found == wanted["challenger"]:
        return "challenger"
    return None


def _deltas(
    found: Sequence[Series], rollout: ModelRollout, name: str, start: float, end: float
) -> list[Delta]:
    """The window's observations of each histogram series ``name`` of either version."""
    out: list[Delta] = []
    for s in found:
        side = side_of(rollout, s.attributes) if s.name == name else None
        if side is None or s.kind != "histogram":
            continue
        delta = seconds_increase(s, start, end)
        if delta is not None:
            out.append((side, s.attributes, *delta))
    return out


def _bucket_rows(deltas: Sequence[Delta]) -> list[vectors.Row]:
    """Cumulative ``le`` rows labelled with ``version`` (bounds in seconds)."""
    rows: list[vectors.Row] = []
    for side, _, bounds, counts, _, _ in deltas:
        rows += vectors.le_rows({"version": side}, bounds, counts)
    return rows


def genai_collect(found: Sequence[Series], rollout: ModelRollout, window: Window) -> IntervalData:
    """Both versions' measurements in ``window`` from the GenAI series ``found``."""
    start, end = window.start, window.end
    durations = _deltas(found, rollout, DURATION, start, end)
    requests: list[vectors.Row] = [
        ({"version": side, "status": "500" if attrs.get("error.type") else "200"}, count)
        for side, attrs, _, _, count, _ in durations
    ]
    latency = _bucket_rows(durations)
    values = _values(found, rollout, start, end)
    sides = {
        side: VersionData(
            side,
            vectors.counts(requests, side),
            vectors.latency_histogram(vectors.cumulative(latency, side), side),
            NoData("GenAI metrics carry no predictions", side),
            values[side],
        )
        for side in vectors.SIDES
    }
    return IntervalData(window, sides["challenger"], sides["champion"], NoData(NO_PAIRS), None)


def _values(
    found: Sequence[Series],
    rollout: ModelRollout,
    start: float,
    end: float,
) -> dict[Side, dict[str, Value]]:
    wanted = {m.name for m in rollout.spec.analysis.metrics if m.is_builtin}
    out: dict[Side, dict[str, Value]] = {side: {} for side in vectors.SIDES}
    for prefix, metric in (("ttft-", TTFT), ("tpot-", TPOT)):
        chosen = sorted(n for n in wanted if n.startswith(prefix) and n in TOKEN_LATENCY_QUANTILES)
        if not chosen:
            continue
        rows = _bucket_rows(_deltas(found, rollout, metric, start, end))
        for side in vectors.SIDES:
            histogram = vectors.latency_histogram(vectors.cumulative(rows, side), side)
            for name in chosen:
                value = latency_quantile(histogram, TOKEN_LATENCY_QUANTILES[name])
                out[side][name] = (
                    NoData(f"no {side} {metric} observations in the window", side)
                    if isinstance(value, NoData)
                    else Scalar(value, side)
                )
    if "output-tokens-per-second" in wanted:
        tpot = _deltas(found, rollout, TPOT, start, end)
        for side in vectors.SIDES:
            n = sum(d[4] for d in tpot if d[0] == side)
            seconds = sum(d[5] for d in tpot if d[0] == side)
            out[side]["output-tokens-per-second"] = (
                Scalar(n / seconds, side)
                if n > 0 and seconds > 0
                else NoData(f"no {side} {TPOT} observations in the window", side)
            )
    if "cost-per-1k-requests" in wanted:
        _cost(out, found, rollout, start, end)
    return out


def _cost(
    out: dict[Side, dict[str, Value]],
    found: Sequence[Series],
    rollout: ModelRollout,
    start: float,
    end: float,
) -> None:
    """Mean input and output tokens per request at the version's prices, per 1000 requests."""
    tokens = _deltas(found, rollout, TOKENS, start, end)
    for side in vectors.SIDES:
        version = getattr(rollout.spec, side)
        price = version.pricing if version is not None else None
        used = {
            kind: sum(
                d[5] for d in tokens if d[0] == side and d[1].get("gen_ai.token.type") == kind
            )
            for kind in ("input", "output")
        }
        n = sum(d[4] for d in tokens if d[0] == side and d[1].get("gen_ai.token.type") == "input")
        if price is None:
            out[side]["cost-per-1k-requests"] = NoData(f"the {side} has no pricing", side)
        elif n <= 0:
            out[side]["cost-per-1k-requests"] = NoData(
                f"no {side} {TOKENS} observations in the window", side
            )
        else:
            per_request = (
                (used["input"] * price.input_per_1k + used["output"] * price.output_per_1k)
                / 1000.0
                / n
            )
            out[side]["cost-per-1k-requests"] = Scalar(1000.0 * per_request, side)
