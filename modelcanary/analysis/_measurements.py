"""What metric providers return: a small, explicit data model (no I/O, no exceptions for gaps).

A provider fills one :class:`VersionData` per version (champion, challenger) and analysis
window: request counts, latencies (per-request samples or Prometheus histogram buckets),
predictions (raw values/labels or a histogram) and any provider-computed value by metric
name. Mirrored requests seen by both versions give :class:`PairedPredictions`. Anything
missing is an explicit :class:`NoData` (empty, NaN, provider down) that the analysis turns
into a failed, skipped or inconclusive check as the spec says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:  # numpy is imported by the functions that compute, not with the package
    import numpy as np
    from numpy.typing import NDArray

    from ..spec._llm import Pricing
    from ._llm_records import LLMExchange
    from ._shadow_eval import JudgedPair

    FloatArray: TypeAlias = NDArray[np.float64]
    BoolArray: TypeAlias = NDArray[np.bool_]
    IntArray: TypeAlias = NDArray[np.int64]

Side = Literal["champion", "challenger"]
Label: TypeAlias = str


@dataclass(frozen=True)
class Window:
    """A time window in seconds (start inclusive, end exclusive)."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Length of the window in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class NoData:
    """An explicit absence of data, with why (empty result, NaN, provider down...)."""

    reason: str = "no data"
    side: Side | None = None


@dataclass(frozen=True)
class Scalar:
    """One value a provider computed (e.g. a PromQL result or a custom query)."""

    value: float
    side: Side = "challenger"


@dataclass(frozen=True, eq=False)
class Samples:
    """Per-request observations of one version (e.g. latencies in ms)."""

    values: FloatArray
    side: Side = "challenger"

    def __post_init__(self) -> None:
        import numpy as np

        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64).ravel())


@dataclass(frozen=True)
class Counts:
    """Request counts of one version: total requests and failed ones (HTTP 5xx or error)."""

    total: int
    errors: int
    side: Side = "challenger"

    def __post_init__(self) -> None:
        if self.total < 0 or not 0 <= self.errors <= self.total:
            raise ValueError(f"counts need 0 <= errors <= total (got {self.errors}/{self.total})")

    @property
    def successes(self) -> int:
        """Requests that did not fail."""
        return self.total - self.errors


@dataclass(frozen=True)
class LatencyHistogram:
    """Prometheus-style cumulative buckets: ``bounds`` are the ``le`` upper bounds (ms)."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    side: Side = "challenger"
    exact: bool = field(default=False, compare=False)
    """True when the counts are whole requests: the buckets' counter values at the window's
    two edges subtracted (not an extrapolated ``increase()``), so consecutive windows tile
    and the sequential latency tests may count them as requests
    (:mod:`modelcanary.analysis._histogram`). Provenance, not data: equality ignores it."""

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.cumulative) or not self.bounds:
            raise ValueError("a histogram needs one cumulative count per bucket bound")
        if self.exact and not all(
            math.isfinite(c) and c >= 0 and c == int(c) for c in self.cumulative
        ):
            raise ValueError("exact bucket counts must be whole numbers of requests")
        if any(b2 <= b1 for b1, b2 in zip(self.bounds, self.bounds[1:], strict=False)):
            raise ValueError("bucket bounds must increase")
        if any(c2 < c1 for c1, c2 in zip(self.cumulative, self.cumulative[1:], strict=False)):
            raise ValueError("cumulative bucket counts must not decrease")

    @property
    def total(self) -> float:
        """Observations counted (the ``+Inf`` or last bucket)."""
        return float(self.cumulative[-1])


@dataclass(frozen=True, eq=False)
class Predictions:
    """Raw predictions of one version: numeric scores or class labels."""

    values: FloatArray | tuple[Label, ...]
    side: Side = "challenger"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", as_predictions(self.values))

    @property
    def is_numeric(self) -> bool:
        """True for numeric scores, False for class labels."""
        import numpy as np

        return isinstance(self.values, np.ndarray)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class PredictionHistogram:
    """Predictions summarised as counts: numeric bins (``edges``) or labels (``labels``)."""

    counts: tuple[float, ...]
    edges: tuple[float, ...] | None = None
    labels: tuple[Label, ...] | None = None
    side: Side = "challenger"

    def __post_init__(self) -> None:
        if (self.edges is None) == (self.labels is None):
            raise ValueError("give numeric bin edges or class labels, not both")
        expected = len(self.edges) - 1 if self.edges is not None else len(self.labels or ())
        if expected != len(self.counts):
            raise ValueError(f"{len(self.counts)} counts for {expected} bins")


@dataclass(frozen=True, eq=False)
class PairedPredictions:
    """The same requests answered by both versions (mirrored traffic), aligned by request."""

    champion: FloatArray | tuple[Label, ...]
    challenger: FloatArray | tuple[Label, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "champion", as_predictions(self.champion))
        object.__setattr__(self, "challenger", as_predictions(self.challenger))
        if len(self.champion) != len(self.challenger):
            raise ValueError("paired predictions need the same number of champion/challenger rows")

    def __len__(self) -> int:
        return len(self.champion)


@dataclass(frozen=True, eq=False)
class UnitRequests:
    """One version's requests keyed by their randomisation unit (a user or session id).

    With sticky sessions (``sessionAffinity``) or routing by a user key, a user's requests all
    go to one version, and users differ (one client's requests fail or are slow far more than
    another's): the requests are not independent, so tests that count requests as
    independent trials overstate the evidence. Given these rows, the sequential judge tests
    per unit instead (see :mod:`modelcanary.analysis._clustered`). Rows are aligned: one key,
    one failed flag and one latency (ms, NaN when unknown) per request; an empty key is a
    request of its own (an independent unit).

    ``covariates`` (optional, aligned too): each request's pre-period covariate, the error rate
    its unit had on the champion before the challenger served any traffic (the pre-period
    mean for a unit not seen then; NaN for a request without one, e.g. from before the
    pre-period ended). Given it, the error-rate champion comparison is CUPED-adjusted
    (:mod:`modelcanary.analysis._cuped`). It must not depend on anything after assignment.
    """

    keys: tuple[str, ...]
    errors: BoolArray
    latencies: FloatArray
    side: Side = "challenger"
    covariates: FloatArray | None = None

    def __post_init__(self) -> None:
        import numpy as np

        keys = tuple(str(k) for k in self.keys)
        errors = np.asarray(self.errors, dtype=bool).ravel()
        latencies = np.asarray(self.latencies, dtype=np.float64).ravel()
        if not len(keys) == len(errors) == len(latencies):
            raise ValueError(
                f"unit rows need one key, error flag and latency per request "
                f"(got {len(keys)} keys, {len(errors)} error flags, {len(latencies)} latencies)"
            )
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "latencies", latencies)
        if self.covariates is not None:
            covariates = np.asarray(self.covariates, dtype=np.float64).ravel()
            if len(covariates) != len(keys):
                raise ValueError(
                    f"unit rows need one covariate per request when covariates are given "
                    f"(got {len(covariates)} covariates for {len(keys)} requests; NaN: none)"
                )
            if np.isinf(covariates).any():
                raise ValueError("unit covariates must be finite numbers (NaN: none)")
            object.__setattr__(self, "covariates", covariates)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class MirrorCoverage:
    """Mirror copies of a window: asked for by the mirror weight, and dropped unsent.

    A challenger that cannot keep up (queue full) or cannot be reached (connect breaker
    open) is sent only some of the copies: its SLIs then describe only the copies it
    answered, so the analysis must not pass it on them (see :func:`coverage_hold`).
    """

    eligible: int
    """Champion requests the mirror weight selected for a copy."""
    dropped: int
    """Copies never sent: mirror queue or buffer full, or the challenger's breaker open."""

    @property
    def sent(self) -> int:
        """Copies sent to the challenger."""
        return self.eligible - self.dropped

    @property
    def ratio(self) -> float | None:
        """``sent / eligible`` (None when no copy was asked for)."""
        return self.sent / self.eligible if self.eligible else None


Latencies: TypeAlias = Samples | LatencyHistogram | NoData
PredictionData: TypeAlias = Predictions | PredictionHistogram | NoData
Value: TypeAlias = Scalar | Samples | NoData


@dataclass(frozen=True)
class VersionData:
    """Everything measured for one version in one window; gaps are :class:`NoData`."""

    side: Side
    counts: Counts | NoData = field(default_factory=NoData)
    latencies: Latencies = field(default_factory=NoData)
    predictions: PredictionData = field(default_factory=NoData)
    values: Mapping[str, Value] = field(default_factory=dict)
    """Provider-computed SLIs and custom metrics by metric name (they win over raw data)."""
    series: Mapping[str, Samples] = field(default_factory=dict)
    """A metric's time series inside the window (Kayenta-style input for mann-whitney)."""
    units: UnitRequests | None = None
    """The requests keyed by user or session (sticky sessions): the sequential judge then
    tests per unit. None when requests are randomised one by one (the default)."""

    @property
    def has_requests(self) -> bool:
        """True when request counts were measured and are not empty."""
        return isinstance(self.counts, Counts) and self.counts.total > 0


@dataclass(frozen=True)
class IntervalData:
    """The measurements of one analysis interval for both versions."""

    window: Window
    challenger: VersionData
    champion: VersionData = field(default_factory=lambda: VersionData("champion"))
    paired: PairedPredictions | NoData = field(default_factory=NoData)
    mirrored: bool | None = None
    """Whether traffic was mirrored in this window (None: unknown). Without mirroring there
    are no paired predictions, so ``prediction-agreement`` is skipped rather than failed."""
    mirror_coverage: MirrorCoverage | None = None
    """Mirror copies asked for and dropped in this window (None: the provider cannot tell).
    Below 90 % of at least 20 copies, the challenger's checks cannot pass this interval."""
    llm: tuple[LLMExchange, ...] | None = None
    """The window's LLM exchanges of both versions (``protocol: openai``; None: not an LLM
    rollout or the provider cannot see requests). LLM SLIs are computed from them."""
    judged: tuple[JudgedPair, ...] | None = None
    """Answer pairs judged in this window (shadow evaluation, ``win-rate``; None: no judging
    worker). The win-rate test counts each pair once even when windows overlap."""
    pricing: Mapping[Side, Pricing] | None = None
    """Each version's ``pricing`` from the spec (``cost-per-1k-requests``; the engine adds it
    to what the provider measured). None or a missing side: not priced."""


def scalar(value: float | None, side: Side = "challenger") -> Scalar | NoData:
    """A provider value, or NoData when it is missing or not a finite number (never an
    exception): NaN and +/-Inf (a query dividing by zero) are not measurements, so no
    threshold may pass on them; the metric's ``noData`` policy decides instead."""
    if value is None:
        return NoData("provider returned no value", side)
    number = float(value)
    if not math.isfinite(number):
        return NoData(not_finite(number), side)
    return Scalar(number, side)


def not_finite(value: float, what: str = "provider returned") -> str:
    """Why a non-finite number is no data: ``provider returned +Inf (not a finite number...)``."""
    if math.isnan(value):
        return f"{what} NaN"
    sign = "+" if value > 0 else "-"
    return f"{what} {sign}Inf (not a finite number; a division by zero in the query?)"


def version_data(
    side: Side,
    *,
    latencies_ms: Iterable[float] = (),
    errors: Iterable[bool] = (),
    predictions: Sequence[float | str | None] | None = None,
    values: Mapping[str, Value] | None = None,
    series: Mapping[str, Samples] | None = None,
    units: Sequence[str] | None = None,
) -> VersionData:
    """Build a VersionData from per-request rows (latency, failed?, prediction).

    ``units``: the user or session key of each row (sticky sessions), aligned with
    ``latencies_ms`` and ``errors`` (either may be left empty: no latency, no error).
    """
    import numpy as np

    lat = np.fromiter(latencies_ms, dtype=np.float64)
    err = np.fromiter(errors, dtype=bool)
    rows: UnitRequests | None = None
    if units is not None:
        keys = tuple(units)
        rows = UnitRequests(
            keys,
            err if len(err) else np.zeros(len(keys), dtype=bool),
            lat if len(lat) else np.full(len(keys), np.nan),
            side,
        )
    counts: Counts | NoData = (
        Counts(len(err), int(err.sum()), side) if len(err) else NoData("no requests", side)
    )
    lat = lat[~np.isnan(lat)]
    latencies: Latencies = Samples(lat, side) if len(lat) else NoData("no latencies", side)
    preds: PredictionData = NoData("no predictions", side)
    if predictions is not None:
        kept = [p for p in predictions if p is not None and not _is_nan(p)]
        if kept:
            preds = Predictions(as_predictions(kept), side)
    return VersionData(side, counts, latencies, preds, dict(values or {}), dict(series or {}), rows)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def as_predictions(values: Iterable[object]) -> FloatArray | tuple[Label, ...]:
    """Numeric predictions become a float array; anything else a tuple of string labels."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64).ravel()
    items = tuple(values)
    if items and all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in items
    ):
        return np.asarray(items, dtype=np.float64)
    return tuple(str(v) for v in items)
