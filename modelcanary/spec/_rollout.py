"""The ModelRollout resource: ``apiVersion: modelcanary.io/v1alpha1``, ``kind: ModelRollout``."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from ._analysis import Analysis
from ._base import MAX_DURATION_SECONDS, Duration, MaybeEmpty, SpecModel
from ._metric_spec import MetricProviderSpec
from ._service import ObjectRef, RouterSpec, ServiceSpec
from ._status import RolloutStatus
from ._versions import AutoscalerRef, ModelVersion, TargetRef
from ._wire import HeaderValue, LabelKey, LabelValue, Token

API_GROUP = "modelcanary.io"
API_VERSION = f"{API_GROUP}/v1alpha1"
KIND = "ModelRollout"
PLURAL = "modelrollouts"

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_RPS = 10_000
"""Highest ``load.rps``: the embedded generator is one Python process (use a load tester beyond)."""
MAX_CONCURRENCY = 1024
"""Highest ``load.concurrency`` (each request in flight holds a connection and a descriptor)."""
MAX_USERS = 1_000_000
"""Highest ``load.users`` (the generator keeps each simulated user's cookies in memory)."""


class Metadata(SpecModel):
    """Kubernetes object metadata (the parts a rollout author sets)."""

    multiline_fields = frozenset({"annotations"})

    name: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    """Rollout name: lowercase letters, digits and '-', e.g. ``fraud-model``."""
    namespace: str | None = Field(default=None, max_length=63, pattern=NAME_PATTERN)
    """Namespace (default: the current one, ``default`` locally)."""
    labels: dict[LabelKey, LabelValue] | None = None
    """Labels (Kubernetes syntax: ``[prefix/]name`` keys, values of at most 63 characters)."""
    annotations: dict[LabelKey, MaybeEmpty] | None = None
    """Annotations."""
    generation: int | None = Field(default=None, ge=0)
    """Set by the API server."""
    resource_version: str | None = None
    """Set by the API server."""
    uid: str | None = None
    """Set by the API server."""
    creation_timestamp: str | None = None
    """Set by the API server."""


class LoadCohort(SpecModel):
    """A share of the load's requests that carries an A/B cohort's header, cookie or query value."""

    share: float = Field(gt=0, le=1)
    """Fraction of all requests in this cohort, e.g. ``0.2`` (cohorts' shares add up to at most 1)."""
    match: int | None = Field(default=None, ge=0, le=99)
    """Send requests satisfying this ``analysis.match`` condition (index; custom steps: their conditions in order). Default ``0`` when neither ``value`` nor ``headers`` is given."""
    value: str | None = None
    """Send requests satisfying the match condition one of whose parts has this value (e.g. ``beta`` for ``x-cohort: {exact: beta}``)."""
    headers: dict[Token, HeaderValue] | None = None
    """Send exactly these headers (a cookie: ``{cookie: type=insider}``) instead of values derived from a match condition."""

    @model_validator(mode="after")
    def _one_source(self) -> LoadCohort:
        given = [k for k in ("match", "value", "headers") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of match, value, headers (got {', '.join(given)})")
        return self


class LoadSpec(SpecModel):
    """Built-in load generator of the local runtime."""

    rps: float = Field(default=20.0, gt=0, le=MAX_RPS)
    """Target requests per second (at most 10000)."""
    duration: Duration | None = None
    """Stop after this long (default: until the rollout ends)."""
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    """Maximum requests in flight (at most 1024)."""
    requests: str | None = None
    """JSONL file of MLflow ``/invocations`` payloads, replayed in a loop."""
    dataset: str | None = None
    """CSV or parquet file; each row becomes a ``dataframe_split`` payload."""
    headers: dict[Token, HeaderValue] | None = None
    """Headers sent with every request (e.g. to exercise A/B matches); names are RFC 9110 tokens, values printable ASCII."""
    cohorts: list[LoadCohort] | None = Field(default=None, max_length=100)
    """A/B cohorts: the share of requests that satisfy an ``analysis.match`` condition (e.g. ``[{share: 0.2}]``: 20 % match the first), so both versions get traffic in an A/B stage."""
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    """Simulated users (at most 1000000): each request belongs to one (a hash of the request's number, the same on every run), which keeps its own cookies (session affinity pins it) and sends its id (``user-17``) in ``analysis.unitKey.header`` when set, so the analysis judges per user. Default: every request on its own."""


class RolloutSpec(SpecModel):
    """Desired rollout: what to compare, how to route, what to check."""

    champion: ModelVersion | None = None
    """The version serving now (url, modelUri or image)."""
    challenger: ModelVersion | None = None
    """The version under test (url, modelUri or image)."""
    target_ref: TargetRef | None = None
    """Operator alternative to champion/challenger: a Deployment whose new revision starts a rollout."""
    autoscaler_ref: AutoscalerRef | None = None
    """A HorizontalPodAutoscaler (or KEDA ScaledObject) to copy for the champion (operator)."""
    route_ref: ObjectRef | None = None
    """APISIX only: the ApisixRoute to copy for the canary route."""
    upstream_ref: ObjectRef | None = None
    """Gloo only: the Upstream to copy for the two versions."""
    router: RouterSpec = Field(default_factory=RouterSpec)
    """Traffic router."""
    service: ServiceSpec | None = None
    """Service fronting the two versions (required in clusters)."""
    analysis: Analysis
    """Traffic steps and checks."""
    metrics_provider: MetricProviderSpec | None = None
    """Backend for built-in SLIs (default: embedded locally, prometheus in a cluster)."""
    load: LoadSpec | None = None
    """Local runtime only: generate traffic while the rollout runs."""
    progress_deadline_seconds: int = Field(default=600, ge=1, le=MAX_DURATION_SECONDS)
    """Seconds the versions may take to become ready before the rollout fails (at most 30 days)."""
    skip_analysis: bool = False
    """Promote without running the analysis (webhooks still run)."""
    suspend: bool = False
    """Pause the rollout where it is."""
    revert_on_deletion: bool = False
    """On deletion, route all traffic back to the champion and remove generated objects."""


class ModelRollout(SpecModel):
    """A champion/challenger rollout of an ML model, decided by inference SLIs."""

    api_version: Literal["modelcanary.io/v1alpha1"] = "modelcanary.io/v1alpha1"
    """Always ``modelcanary.io/v1alpha1``."""
    kind: Literal["ModelRollout"] = "ModelRollout"
    """Always ``ModelRollout``."""
    metadata: Metadata
    """Name, namespace, labels, annotations."""
    spec: RolloutSpec
    """Desired rollout."""
    status: RolloutStatus | None = None
    """Observed state (written by the runtime)."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> ModelRollout:
        from ._rules import check_rules  # local import: rules imports this module's types

        check_rules(self)
        return self

    def _repr_html_(self) -> str:
        """Notebook view: versions, strategy, SLOs (and the status when there is one)."""
        from ._html import rollout_html

        return rollout_html(self)

    @property
    def name(self) -> str:
        """Shortcut for ``metadata.name``."""
        return self.metadata.name

    def spec_hash(self) -> str:
        """Stable hash of the spec (Flagger's lastAppliedSpec): changes when the rollout changes."""
        payload = json.dumps(self.spec.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
