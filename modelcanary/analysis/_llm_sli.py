"""LLM SLI values of one version in one window, from its LLM exchanges (``IntervalData.llm``).

A version's exchanges are all it answered, served or mirrored: during a shadow stage the
challenger's are the mirrored copies, as the request-level SLIs count its mirrored requests.
Every function returns a number or :class:`NoData` (never a pass on missing data):

- ``ttft-pNN`` / ``tpot-pNN``: quantile of time to first token / per output token over the
  streamed answers (all answers when the window has no stream: then TTFT is the whole
  latency), **stratified by prompt length** (direct standardisation): the quantile is taken per
  prompt-length bucket, and a version's value is the average of its bucket quantiles weighted
  by the pooled (both versions') share of each bucket; buckets one version lacks are dropped
  and the weights renormalised. So a version that got longer prompts is not blamed for them;
- ``output-tokens-per-second``: median over streamed answers of ``(output_tokens - 1) /
  (latency - ttft)`` (the tokens after the first, over the time after the first);
- ``cost-per-1k-requests``: 1000 times the mean price of an answered request at the version's
  ``pricing`` (``IntervalData.pricing``);
- ``refusal-rate`` / ``json-valid-rate``: share of answers that open like a refusal / parse as
  JSON (answers cut at the record's limit are left out of the latter: unknowable);
- ``output-length-drift``: drift (``method``) between the versions' output-token counts;
- ``error-rate`` with ``errorClass``: share of requests failed with that class;
- ``win-rate``: ``(wins + ties / 2) / judged`` over the window's judged pairs (judge errors
  left out), the challenger's view; the champion's is ``(losses + ties / 2) / judged``.

Pure: no I/O; numpy is imported by the functions that compute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..spec._catalogue import LLM_METRICS, TOKEN_LATENCY_QUANTILES
from ..spec._llm import Pricing
from ..spec._metric_spec import DriftMethod, MetricSpec
from ._answer_judges import is_refusal
from ._llm_records import MAX_ANSWER_CHARS, PROMPT_BUCKETS, LLMExchange, prompt_bucket
from ._measurements import IntervalData, NoData, Predictions, Side, as_predictions

if TYPE_CHECKING:
    from ..spec._rollout import ModelRollout
    from ._shadow_eval import JudgedPair

_NO_EXCHANGES = (
    "no LLM exchanges recorded (versions without protocol: openai, or a provider that cannot "
    "see requests)"
)


def is_llm_sli(metric: MetricSpec) -> bool:
    """True for a built-in SLI computed from LLM exchanges (error-rate only by errorClass)."""
    if not metric.is_builtin:
        return False
    return metric.name in LLM_METRICS or (
        metric.name == "error-rate" and metric.error_class is not None
    )


def llm_sli_value(metric: MetricSpec, data: IntervalData, side: Side) -> float | NoData:
    """The LLM SLI ``metric`` of version ``side`` in this window."""
    name = metric.name
    if name == "win-rate":
        return win_rate(data.judged, side)
    if data.llm is None:
        return NoData(_NO_EXCHANGES, side)
    mine = [e for e in data.llm if e.side == side]
    if name in TOKEN_LATENCY_QUANTILES:
        field = _ttft if name.startswith("ttft") else _tpot
        edges = tuple(metric.prompt_buckets or PROMPT_BUCKETS)
        q = TOKEN_LATENCY_QUANTILES[name]
        return stratified_quantile(_timed(data.llm), side, field, q, edges)
    if name == "error-rate":
        return class_error_rate(mine, metric.error_class or "", side)
    if name == "output-tokens-per-second":
        return output_tokens_per_second(mine, side)
    if name == "cost-per-1k-requests":
        prices = data.pricing or {}
        return cost_per_1k_requests(mine, prices.get(side), side)
    if name == "refusal-rate":
        return _share(mine, lambda e: is_refusal(e.answer), side, "answers")
    if name == "json-valid-rate":
        whole = [e for e in mine if len(e.answer) < MAX_ANSWER_CHARS]
        return _share(whole, lambda e: _is_json(e.answer), side, "whole answers")
    if name == "output-length-drift":
        return output_length_drift(data.llm, metric.method or "psi")
    raise ValueError(f"no LLM SLI named {name!r}")  # pragma: no cover - rules reject it


def _timed(exchanges: Sequence[LLMExchange]) -> Sequence[LLMExchange]:
    """The exchanges whose first token was timed: the streamed ones when the window has any
    (a blocking answer's "first token" is its whole latency, another quantity, which would
    blame the version that got more blocking requests), else all of them."""
    streamed = [e for e in exchanges if e.stream]
    return streamed or exchanges


def _ttft(e: LLMExchange) -> float | None:
    return e.ttft_ms


def _tpot(e: LLMExchange) -> float | None:
    return e.tpot_ms


def stratified_quantile(
    exchanges: Iterable[LLMExchange],
    side: Side,
    field: Callable[[LLMExchange], float | None],
    q: float,
    edges: Sequence[int] = PROMPT_BUCKETS,
) -> float | NoData:
    """The q-quantile of ``field`` for ``side``, standardised on the pooled prompt-length mix.

    Per bucket of prompt tokens (``edges``), the quantile of ``side``'s answered exchanges;
    weighted by the bucket's share of both versions' exchanges, over the buckets both have
    (the version's own buckets when the other version has none in the window).
    """
    import numpy as np

    by_side: dict[str, dict[int, list[float]]] = {"champion": {}, "challenger": {}}
    for e in exchanges:
        value = field(e)
        if e.ok and value is not None:
            bucket = prompt_bucket(e.prompt_tokens, tuple(edges))
            by_side[e.side].setdefault(bucket, []).append(value)
    mine = by_side[side]
    other = by_side["challenger" if side == "champion" else "champion"]
    if not mine:
        return NoData("no answered LLM exchanges with this timing", side)
    shared = sorted(set(mine) & set(other)) if other else sorted(mine)
    if not shared:
        return NoData("the two versions' prompts share no prompt-length bucket", side)
    weights = np.array([len(mine[b]) + len(other.get(b, ())) for b in shared], dtype=float)
    values = np.array([np.quantile(mine[b], q) for b in shared], dtype=float)
    return float(np.dot(weights, values) / weights.sum())


def pooled_quantile(
    exchanges: Iterable[LLMExchange],
    side: Side,
    field: Callable[[LLMExchange], float | None],
    q: float,
) -> float | NoData:
    """The raw q-quantile of ``field`` over ``side``'s answered exchanges (not stratified):
    what :func:`stratified_quantile` corrects."""
    import numpy as np

    values = [v for e in exchanges if e.side == side and e.ok and (v := field(e)) is not None]
    return float(np.quantile(values, q)) if values else NoData("no exchanges", side)


def class_error_rate(mine: Sequence[LLMExchange], error_class: str, side: Side) -> float | NoData:
    """Share of ``mine`` that failed with ``error_class``."""
    if not mine:
        return NoData("no LLM requests in the window", side)
    return sum(e.error_class == error_class for e in mine) / len(mine)


def output_tokens_per_second(mine: Sequence[LLMExchange], side: Side) -> float | NoData:
    """Median decode speed of streamed answers: tokens after the first per second after it."""
    import numpy as np

    rates = [
        (e.output_tokens - 1) / ((e.latency_ms - e.ttft_ms) / 1000.0)
        for e in mine
        if e.ok
        and e.stream
        and e.ttft_ms is not None
        and e.output_tokens >= 2
        and e.latency_ms > e.ttft_ms
    ]
    if not rates:
        return NoData("no streamed answers of two or more tokens", side)
    return float(np.median(rates))


def cost_per_1k_requests(
    mine: Sequence[LLMExchange], pricing: Pricing | None, side: Side
) -> float | NoData:
    """1000 times the mean price of an answered request (prompt and output tokens)."""
    if pricing is None:
        return NoData(f"no pricing for the {side} (add pricing to spec.{side})", side)
    answered = [e for e in mine if e.ok]
    if not answered:
        return NoData("no answered LLM requests in the window", side)
    total = sum(pricing.cost(e.prompt_tokens, e.output_tokens) for e in answered)
    return 1000.0 * total / len(answered)


def output_length_drift(exchanges: Iterable[LLMExchange], method: DriftMethod) -> float | NoData:
    """Drift of the challenger's output-token counts from the champion's (answered only)."""
    from ._drift import drift

    lengths: dict[Side, list[float]] = {"champion": [], "challenger": []}
    for e in exchanges:
        if e.ok:
            lengths[e.side].append(float(e.output_tokens))
    for side, values in lengths.items():
        if not values:
            return NoData("no answers", side)
    champion = Predictions(as_predictions(lengths["champion"]), "champion")
    challenger = Predictions(as_predictions(lengths["challenger"]), "challenger")
    return drift(champion, challenger, method)


def win_rate(judged: Sequence[JudgedPair] | None, side: Side) -> float | NoData:
    """``(wins + ties / 2) / judged`` from the challenger's side (losses for the champion)."""
    if judged is None:
        return NoData("no answer pairs judged (no judging worker for win-rate)", side)
    outcomes = [p.outcome for p in judged if p.outcome != "error"]
    if not outcomes:
        return NoData("no answer pairs judged in the window", side)
    good = "win" if side == "challenger" else "loss"
    score = sum(1.0 if o == good else 0.5 if o == "tie" else 0.0 for o in outcomes)
    return score / len(outcomes)


def version_prices(rollout: ModelRollout) -> dict[Side, Pricing]:
    """Each version's ``pricing`` from the spec (for ``IntervalData.pricing``)."""
    spec = rollout.spec
    out: dict[Side, Pricing] = {}
    if spec.champion is not None and spec.champion.pricing is not None:
        out["champion"] = spec.champion.pricing
    if spec.challenger is not None and spec.challenger.pricing is not None:
        out["challenger"] = spec.challenger.pricing
    return out


def _share(
    rows: Sequence[LLMExchange], hit: Callable[[LLMExchange], bool], side: Side, what: str
) -> float | NoData:
    answered = [e for e in rows if e.ok]
    if not answered:
        return NoData(f"no {what} in the window", side)
    return sum(1 for e in answered if hit(e)) / len(answered)


def _is_json(text: str) -> bool:
    import json

    try:
        json.loads(text)
    except ValueError:
        return False
    return True
