"""The analysis: how traffic moves and what is checked at each interval (Flagger's ``spec.analysis``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._base import Duration, Model, Severity, SpecModel
from ._llm import MirrorBudget
from ._metric_spec import MetricSpec, NoDataPolicy, SecretRef
from ._wire import CookieDomain, CookiePath, LabelKey, LabelValue, ProxyUrl, Token, check_url

WebhookType = Literal[
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
]
WEBHOOK_TYPES: tuple[str, ...] = WebhookType.__args__  # type: ignore[attr-defined]
MAX_THRESHOLD = 1000
"""Highest ``threshold``/``inconclusiveLimit``: beyond it a rollout never rolls back."""
MAX_ITERATIONS = 10_000
"""Highest ``iterations`` (A/B, blue/green, shadow): 10000 intervals of even 10 s is 28 hours."""
MAX_COOKIE_AGE = 400 * 24 * 3600
"""Browsers cap cookie lifetimes at 400 days (RFC 6265bis)."""


class StringMatch(Model):
    """Match a string value: exactly one of exact, prefix, suffix, regex."""

    exact: str | None = None
    """The value equals this."""
    prefix: str | None = None
    """The value starts with this."""
    suffix: str | None = None
    """The value ends with this."""
    regex: str | None = None
    """The value matches this regular expression in RE2 syntax (as Envoy and Istio; linear-time matching, checked at validation)."""

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        """RE2, as the meshes and the local router match it (linear time, no backtracking)."""
        from ._patterns import check_pattern  # PatternError is a ValueError: a SpecIssue here

        return None if value is None else check_pattern(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> StringMatch:
        given = [k for k in ("exact", "prefix", "suffix", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of exact, prefix, suffix, regex (got {', '.join(given) or 'none'})"
            )
        return self


class MatchCondition(SpecModel):
    """One A/B routing rule; a request matching all of its parts goes to the challenger."""

    headers: dict[Token, StringMatch] | None = None
    """HTTP header matches, e.g. ``{x-cohort: {exact: beta}}``."""
    cookies: dict[Token, StringMatch] | None = None
    """Cookie matches by cookie name, e.g. ``{type: {exact: insider}}``."""
    query_params: dict[str, StringMatch] | None = None
    """Query parameter matches."""
    source_labels: dict[LabelKey, LabelValue] | None = None
    """Mesh only: match requests from workloads with these labels."""
    body: dict[str, StringMatch] | None = None
    """Local router only: match a JSON body field by dotted path, e.g. ``{inputs.country: {exact: FR}}`` (payload-based routing)."""

    @model_validator(mode="after")
    def _not_empty(self) -> MatchCondition:
        if not any((self.headers, self.cookies, self.query_params, self.source_labels, self.body)):
            raise ValueError(
                "a match needs at least one of headers, cookies, queryParams, sourceLabels, body"
            )
        return self


class Webhook(SpecModel):
    """A Flagger-compatible webhook called at a point of the rollout (gates, tests, events)."""

    multiline_fields = frozenset({"metadata"})  # a load-test ``cmd`` may be a script

    name: str = Field(min_length=1)
    """Webhook name (unique in the rollout)."""
    type: WebhookType = "rollout"
    """confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback or event."""
    url: str
    """HTTP(S) address receiving the JSON payload; 2xx (<= 202) passes."""
    timeout: Duration = "10s"
    """Request timeout."""
    retries: int = Field(default=0, ge=0, le=100)
    """Retries before the call counts as failed (at most 100)."""
    mute_alert: bool | None = None
    """Do not send alerts when this webhook fails."""
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    """Skip TLS verification (Flagger's spelling: ``disableTLS``)."""
    metadata: dict[str, str] | None = None
    """Extra key/values sent in the payload's metadata (e.g. a load-test ``cmd``)."""
    secret_ref: SecretRef | None = None
    """Bearer token sent as ``Authorization: Bearer`` (e.g. for ``modelcanary gate serve --token-file``): an environment variable, or the ``token`` key of a Kubernetes Secret in the operator."""

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return check_url(value)


class AlertProvider(SpecModel):
    """An inline notification target (instead of a Flagger AlertProvider reference)."""

    type: Literal["slack", "msteams", "discord", "googlechat", "rocket", "webhook", "datadog"]
    """Service: slack, msteams, discord, googlechat, rocket, webhook (generic JSON) or datadog (events)."""
    address: str | None = None
    """Webhook/API address (prefer ``secretRef`` for addresses that embed a token)."""
    channel: str | None = None
    """Channel name where the service supports one."""
    username: str | None = None
    """Sender name shown in the message."""
    secret_ref: SecretRef | None = None
    """Where the address or token is kept."""
    proxy: ProxyUrl | None = None
    """HTTP(S) proxy to reach the service through."""

    @field_validator("address")
    @classmethod
    def _address_is_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # datadog takes a site name (datadoghq.eu) as well as a URL; the others take a URL
        if value is not None:
            site = info.data.get("type") == "datadog" and "://" not in value
            check_url(f"https://{value}" if site else value)
        return value


class Alert(SpecModel):
    """Send rollout events of a minimum severity to a notification provider."""

    name: str = Field(min_length=1)
    """Alert name."""
    severity: Severity = "info"
    """Lowest severity that is sent."""
    provider_ref: dict[str, str] | None = None
    """A Flagger AlertProvider by ``{name, namespace}``."""
    provider: AlertProvider | None = None
    """An inline provider (modelcanary extension)."""

    @model_validator(mode="after")
    def _one_provider(self) -> Alert:
        if (self.provider_ref is None) == (self.provider is None):
            raise ValueError("give exactly one of providerRef or provider")
        if self.provider_ref is not None and not self.provider_ref.get("name"):
            raise ValueError("providerRef needs a name")
        return self


class SessionAffinity(SpecModel):
    """Keep a user on the version they first saw during a canary (cookie based)."""

    cookie_name: Token
    """Cookie set for users routed to the challenger (an RFC 6265 token: letters, digits, ``!#$%&'*+-.^_`|~``)."""
    primary_cookie_name: Token | None = None
    """Cookie set for users routed to the champion (a token, like cookieName)."""
    max_age: int = Field(default=86400, ge=1, le=MAX_COOKIE_AGE)
    """Cookie lifetime in seconds (at most 400 days, as browsers cap it)."""
    domain: CookieDomain | None = None
    """Cookie Domain attribute."""
    path: CookiePath | None = None
    """Cookie Path attribute."""
    http_only: bool | None = None
    """Cookie HttpOnly attribute."""
    secure: bool | None = None
    """Cookie Secure attribute."""
    same_site: Literal["Strict", "Lax", "None"] | None = None
    """Cookie SameSite attribute."""
    partitioned: bool | None = None
    """Cookie Partitioned attribute."""


class UnitKey(SpecModel):
    """Where a request's randomisation unit (its user or session) is read from."""

    header: Token
    """HTTP request header holding the user or session id (e.g. ``x-user-id``): requests with the same value are one unit, and the analysis judges per unit (see docs/analysis.md, "Sticky sessions")."""


class Step(SpecModel):
    """One stage of an ordered plan (Argo Rollouts' steps): canary, shadow, A/B or a pause.

    A step holds a canary weight, a mirror-only (shadow) phase, an A/B phase routing matching
    requests, or waits for approval. Kinds, read from the fields (the stage's ``kind`` in the plan, the status and the CLI):
    ``match`` given: **ab**; ``weight`` above 0: **canary** (mirroring too when
    ``mirrorWeight`` is set); weight 0 with ``mirrorWeight``: **shadow**; otherwise a plain
    **step** (hold or pause with no live challenger traffic).
    """

    weight: int = Field(default=0, ge=0, le=100)
    """Challenger traffic percent during this step (default 0; must be 0 with ``match``: an A/B step routes only the matching requests)."""
    duration: Duration | None = None
    """How long to hold (analysis runs every interval meanwhile)."""
    iterations: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    """Passing analysis intervals to hold this step (instead of ``duration``; at most 10000)."""
    pause: bool = False
    """Wait for a manual approval before leaving this step."""
    mirror_weight: int | None = Field(default=None, ge=0, le=100)
    """Percent of champion traffic mirrored to the challenger during this step (with weight 0: a shadow step)."""
    match: list[MatchCondition] | None = Field(default=None, min_length=1)
    """A/B step: requests matching any condition go to the challenger, the others to the champion (same schema as ``analysis.match``; needs a router that can match)."""

    @model_validator(mode="after")
    def _has_end(self) -> Step:
        if self.duration is None and self.iterations is None and not self.pause:
            raise ValueError(
                "a step needs a duration (e.g. '5m'), iterations (e.g. 3) or pause: true"
            )
        if self.duration is not None and self.iterations is not None:
            raise ValueError(
                "duration and iterations cannot both be set; keep iterations (passing "
                "intervals) or duration (time held)"
            )
        return self

    @property
    def kind(self) -> str:
        """``ab``, ``canary``, ``shadow`` or ``step`` (see the class docstring)."""
        if self.match:
            return "ab"
        if self.weight > 0:
            return "canary"
        return "shadow" if self.mirror_weight else "step"


class Shadow(SpecModel):
    """A mirror-only phase before traffic shifting: the challenger sees copies, answers nobody."""

    iterations: int = Field(default=1, ge=1, le=MAX_ITERATIONS)
    """Number of analysis intervals of mirror-only traffic."""


class Analysis(SpecModel):
    """Traffic steps and checks (Flagger's ``spec.analysis``, same names and defaults)."""

    interval: Duration = "1m"
    """Time between two analysis runs."""
    threshold: int = Field(default=1, ge=1, le=MAX_THRESHOLD)
    """Failed checks that trigger a rollback (at most 1000)."""
    max_weight: int | None = Field(default=None, ge=1, le=100)
    """Largest challenger weight of a stepWeight canary (default 100)."""
    step_weight: int | None = Field(default=None, ge=1, le=100)
    """Weight added at each passing interval (canary)."""
    step_weights: list[int] | None = Field(default=None, max_length=100)
    """Explicit increasing weights (canary), e.g. [5, 10, 25, 50]."""
    step_weight_promotion: int | None = Field(default=None, ge=1, le=100)
    """Weight moved back per interval during promotion (default: all at once)."""
    iterations: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    """Intervals of A/B (with match) or blue/green analysis (at most 10000)."""
    mirror: bool = False
    """Mirror traffic to the challenger (shadow) where the router supports it."""
    mirror_weight: int | None = Field(default=None, ge=0, le=100)
    """Percent of requests mirrored (default 100 when mirror is on)."""
    shadow: Shadow | None = None
    """A mirror-only phase of N intervals before traffic shifting."""
    mirror_budget: MirrorBudget | None = None
    """Spend cap on mirrored prompts for the whole rollout (LLM versions): ``{maxPrompts, maxTokens, maxCost}``; once reached, no more copies are sent."""
    match: list[MatchCondition] | None = None
    """A/B routing: requests matching any condition go to the challenger."""
    primary_ready_threshold: int = Field(default=100, ge=0, le=100)
    """Percent of champion replicas that must be ready."""
    canary_ready_threshold: int = Field(default=100, ge=0, le=100)
    """Percent of challenger replicas that must be ready."""
    session_affinity: SessionAffinity | None = None
    """Sticky canary sessions (cookie)."""
    unit_key: UnitKey | None = None
    """The user key of each request (``{header: x-user-id}``): requests with the same key are one unit and the analysis tests per user instead of per request (request logs carry the key in their ``unit`` column). The local router reads it (over the affinity cookie); its built-in load sends it with ``load.users``."""
    metrics: list[MetricSpec] = Field(default_factory=list)
    """SLIs checked at every interval."""
    webhooks: list[Webhook] = Field(default_factory=list)
    """Gates, tests and event hooks."""
    alerts: list[Alert] = Field(default_factory=list)
    """Notification targets."""
    steps: list[Step] | None = None
    """Custom phases (weight + duration or pause) instead of stepWeight(s)."""
    no_data: NoDataPolicy = "fail"
    """What a metric without data counts as: fail (default, never promote blind), skip or inconclusive."""
    inconclusive_limit: int = Field(default=3, ge=1, le=MAX_THRESHOLD)
    """Consecutive inconclusive or errored intervals that fail the rollout."""
    warmup: Duration | None = None
    """Challenger traffic of this first period (e.g. ``1m``) is recorded but not judged: cold caches, JIT and lazy loading make a new version slow at first. An interval that starts inside it is not judged, so it rounds up to whole intervals. Default none (as Flagger, Argo's initialDelay and Kayenta's warmup): a warm-up delays every detection by its length."""
    score_thresholds: dict[str, float] | None = None
    """mann-whitney: ``{pass: 95, marginal: 75}`` score thresholds."""
    group_weights: dict[str, float] | None = None
    """mann-whitney: weight of each metric group in the score."""

    @property
    def strategy(self) -> str:
        """``canary``, ``ab``, ``bluegreen`` or ``steps`` (``shadow``/mirror is a phase on top)."""
        if self.steps:
            return "steps"
        if self.match and self.iterations:
            return "ab"
        if self.iterations and not (self.step_weight or self.step_weights):
            return "bluegreen"
        return "canary"

    def weights(self) -> list[int]:
        """The canary weight plan: stepWeights, or stepWeight up to maxWeight."""
        if self.step_weights:
            return list(self.step_weights)
        if self.step_weight:
            top = self.max_weight or 100
            plan = list(range(self.step_weight, top, self.step_weight))
            return [*plan, top]  # Flagger caps the last step at maxWeight
        return []
