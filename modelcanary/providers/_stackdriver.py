"""Google Cloud Monitoring (Stackdriver) metric provider: PromQL and MQL over HTTP.

- **PromQL** (default): Cloud Monitoring's Prometheus-compatible API,
  ``GET https://monitoring.googleapis.com/v1/projects/<project>/location/global/prometheus/api/v1/query``
  (https://cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui). It is the
  Prometheus HTTP API, so this provider drives a :class:`PrometheusProvider` there: custom
  PromQL, and the built-in SLIs (``collect``) when the router's ``modelcanary_router_*`` metrics
  reach Google Cloud Managed Service for Prometheus (their names are kept).
- **MQL**: a query starting with ``fetch``, ``fetch_cumulative``, ``metric`` or ``{ fetch``
  (Flagger's stackdriver queries) is sent to
  ``POST https://monitoring.googleapis.com/v3/projects/<project>/timeSeries:query``
  (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/query); the
  value is the newest point of the one time series (MQL has no window parameter: write the
  range in the query, e.g. ``| within {{ interval }}``).

Credentials: a bearer access token by reference, or, without ``secretRef``, the workload's
service account token from the GKE/GCE metadata server (Workload Identity), refreshed before
it expires. No Google SDK: two documented HTTP endpoints and a token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .._secretref import from_env
from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError, SpecError, SpecIssue
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._context import ProviderContext, backend_options
from ._credentials import secret_keys
from ._httpapi import Endpoint, http_options, parse_address, render_query
from ._online import OnlineCheck
from ._prometheus import PrometheusProvider

DEFAULT_ADDRESS = "https://monitoring.googleapis.com"
PROJECT_KEY, TOKEN_KEY, SA_KEY = "project", "token", "serviceAccountKey"
"""Kubernetes Secret keys (``project`` and ``serviceAccountKey`` are Flagger's)."""
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
METADATA_ENV, METADATA_HOST = "GCE_METADATA_HOST", "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
_PROMQL_ADDRESS = re.compile(
    r"^(?P<base>.+?)/v1/projects/(?P<project>[^/]+)/location/global/prometheus/?$"
)
_MQL = re.compile(r"^\s*(\{\s*)?(fetch|fetch_cumulative|metric)\s")
HINTS = {
    400: "check the MQL (try it in Metrics Explorer)",
    401: "check provider.secretRef (the access token is invalid or expired)",
    403: "the service account needs roles/monitoring.viewer on the project",
    404: "check the project and provider.address",
}
TokenSource = Callable[[], str]
"""Returns a current OAuth2 access token (may call the metadata server)."""


def is_mql(query: str) -> bool:
    """True when ``query`` is MQL (starts with a fetch/metric table operation)."""
    return bool(_MQL.match(query))


class MetadataToken:
    """Access tokens of the workload's service account from the metadata server, cached
    until one minute before they expire."""

    def __init__(self, host: str = METADATA_HOST, *, timeout: float = 5.0) -> None:
        self.client = Endpoint(
            f"http://{host}",
            name="google metadata server",
            set_headers={"Metadata-Flavor": "Google"},
            timeout=timeout,
        )
        self._token = ""
        self._expires = 0.0

    def __repr__(self) -> str:
        return f"MetadataToken({self.client.where!r})"

    def __call__(self) -> str:
        now = time.monotonic()
        if self._token and now < self._expires:
            return self._token
        body = self.client.json("GET", TOKEN_PATH)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PermanentProviderError(
                f"the metadata server at {self.client.where} gave no access_token; fix: run "
                "with Workload Identity or set provider.secretRef to a token"
            )
        try:
            lifetime = float(body.get("expires_in", 0))
        except (TypeError, ValueError):
            lifetime = 0.0
        self._token, self._expires = token, now + max(0.0, lifetime - 60.0)
        return token


class StackdriverProvider(OnlineCheck):
    """Custom PromQL/MQL queries and PromQL built-in SLIs from Google Cloud Monitoring."""

    def __init__(
        self,
        project: str,
        *,
        token: str | TokenSource,
        address: str = DEFAULT_ADDRESS,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        **prometheus_options: Any,
    ) -> None:
        self.name = "stackdriver"
        self.project = project
        self.base, _ = parse_address(address, "provider", DEFAULT_ADDRESS)
        self.prometheus_address = f"{self.base}/v1/projects/{project}/location/global/prometheus"
        self._token: TokenSource = (lambda: token) if isinstance(token, str) else token
        self._headers = headers
        self._timeout = timeout
        self._verify = verify
        self._options = prometheus_options
        self._prom: PrometheusProvider | None = None
        self._prom_token = ""
        self.mql = Endpoint(
            self.base,
            name="stackdriver",
            headers=headers,
            timeout=timeout,
            verify=verify,
            hints=HINTS,
        )

    def __repr__(self) -> str:
        return f"StackdriverProvider({self.base!r}, project={self.project!r})"

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self.mql.close()
        if self._prom is not None:
            self._prom.close()

    def _bearer(self) -> str:
        token = self._token().strip()
        return token if token.lower().startswith("bearer ") else f"Bearer {token}"

    def promql(self) -> PrometheusProvider:
        """The Prometheus provider on the project's PromQL API (rebuilt on a new token)."""
        bearer = self._bearer()
        if self._prom is None or bearer != self._prom_token:
            if self._prom is not None:
                self._prom.close()
            self._prom = PrometheusProvider(
                self.prometheus_address,
                headers=self._headers,
                secret=bearer,
                timeout=self._timeout,
                verify=self._verify,
                name="stackdriver",
                **self._options,
            )
            self._prom_token = bearer
        return self._prom

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when the PromQL API answers ``vector(1)`` with the current token."""
        prom = self.promql()
        prom.is_online()
        return prom.last_error

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """A PromQL query's value at the window's end, or an MQL query's newest point."""
        if is_mql(metric.query or ""):
            text = render_query(metric, rollout, window, "stackdriver")
            return self._mql(metric.name, text)
        return self.promql().query(metric, rollout, window)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Built-in SLIs from the router's metrics in Managed Service for Prometheus."""
        return self.promql().collect(rollout, window)

    def _mql(self, name: str, text: str) -> Scalar | NoData:
        self.mql.set_header("Authorization", self._bearer())
        body = self.mql.json(
            "POST", f"/v3/projects/{self.project}/timeSeries:query", body={"query": text}
        )
        return _mql_value(name, body)


def _mql_value(name: str, body: Any) -> Scalar | NoData:
    """The newest point of the one series of a ``timeSeries:query`` answer."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise PermanentProviderError("stackdriver answered timeSeries:query without an object")
    series = body.get("timeSeriesData") or []
    if not series:
        return NoData(f"MQL for {name} returned no time series")
    if len(series) > 1:
        raise PermanentProviderError(
            f"metric {name!r}: the MQL returns {len(series)} time series, not one "
            "(fix: aggregate it, e.g. | group_by [], sum(val()))"
        )
    raw = (series[0].get("pointData") or []) if isinstance(series[0], dict) else []
    points = [p for p in raw if isinstance(p, dict)]
    if not points:
        return NoData(f"MQL for {name} returned a series without points")
    newest = max(points, key=_end_time)
    values = newest.get("values") or []
    if len(values) != 1:
        raise PermanentProviderError(
            f"metric {name!r}: the MQL point has {len(values)} values, not one "
            "(fix: select one value column, e.g. | value val(0))"
        )
    return _typed_value(name, values[0])


def _end_time(point: dict[str, Any]) -> float:
    interval = point.get("timeInterval")
    text = interval.get("endTime", "") if isinstance(interval, dict) else ""
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return float("-inf")


def _typed_value(name: str, value: Any) -> Scalar | NoData:
    """A Cloud Monitoring TypedValue as a number (distributions give their mean)."""
    if not isinstance(value, dict):
        raise PermanentProviderError(f"stackdriver value {value!r} is not a TypedValue")
    if "doubleValue" in value:
        raw: Any = value["doubleValue"]
    elif "int64Value" in value:
        raw = value["int64Value"]  # a decimal string in JSON
    elif "boolValue" in value:
        raw = 1.0 if value["boolValue"] else 0.0
    elif "distributionValue" in value:
        dist = value["distributionValue"] or {}
        if not int(dist.get("count", 0) or 0):
            return NoData(f"MQL for {name} returned an empty distribution")
        raw = dist.get("mean", 0.0)
    else:
        raise PermanentProviderError(
            f"metric {name!r}: the MQL value {sorted(value)} is not a number "
            "(fix: select a numeric or distribution value)"
        )
    try:
        # Cloud Monitoring writes non-finite doubles as the strings "NaN"/"Infinity"
        return to_scalar(float(raw))
    except (TypeError, ValueError):
        raise PermanentProviderError(f"stackdriver value {raw!r} is not a number") from None


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> StackdriverProvider:
    """A StackdriverProvider from ``provider: {type: stackdriver, address?, secretRef?}``."""
    address = spec.address or DEFAULT_ADDRESS
    path = ctx.path
    match = _PROMQL_ADDRESS.match(address)
    project = match.group("project") if match else None
    if match:
        address = match.group("base")
    token: str | TokenSource | None = None
    ref = spec.secret_ref
    ref_path = f"{path}.secretRef"
    http = http_options(spec, ctx)
    if ref is not None and ref.env is not None:
        token = from_env(ref, ctx.env, ref_path, "access token")
    elif ref is not None:
        found = secret_keys(
            ref,
            (TOKEN_KEY, PROJECT_KEY, SA_KEY),
            reader=ctx.secret_reader,
            namespace=ctx.namespace,
            path=ref_path,
        )
        project = project or found[PROJECT_KEY]
        token = found[TOKEN_KEY]
        if token is None and found[SA_KEY]:
            raise SpecError(
                SpecIssue(
                    f"{ref_path}.name",
                    f"Kubernetes Secret {ref.name} holds a {SA_KEY} (Flagger's), which "
                    "modelcanary does not exchange for tokens (no Google SDK)",
                    f"use Workload Identity (drop {SA_KEY}; the metadata server gives the "
                    f"token) or add a {TOKEN_KEY!r} key with an access token",
                )
            )
    project = project or ctx.env.get(PROJECT_ENV, "").strip() or None
    if not project:
        raise SpecError(
            SpecIssue(
                f"{path}.address",
                "a stackdriver provider needs the Google Cloud project",
                f"address: {DEFAULT_ADDRESS}/v1/projects/<project>/location/global/prometheus, "
                f"a {PROJECT_KEY!r} key in the Secret, or {PROJECT_ENV}=<project>",
            )
        )
    if token is None:
        host = ctx.env.get(METADATA_ENV, "").strip() or METADATA_HOST
        token = MetadataToken(host, timeout=http["timeout"])
    options = backend_options(ctx)
    return StackdriverProvider(
        project,
        token=token,
        address=address,
        **http,
        **options,
    )


__all__ = ["DEFAULT_ADDRESS", "MetadataToken", "StackdriverProvider", "factory", "is_mql"]
