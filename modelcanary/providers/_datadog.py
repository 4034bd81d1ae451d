"""Datadog metric provider: custom queries through the metrics query API v1.

``GET /api/v1/query?from=<start>&to=<end>&query=<q>`` (seconds since the epoch) with the
``DD-API-KEY`` and ``DD-APPLICATION-KEY`` headers, as Flagger's Datadog provider does
(https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/); ``is_online`` calls
``GET /api/v1/validate`` (https://docs.datadoghq.com/api/latest/authentication/validate-api-key/).
httpx against the documented API rather than ``datadog-api-client``: the client is large
(hundreds of generated models), wraps every failure in one exception type, and this provider
needs two GET endpoints.

The value of a query is the last non-null point of its one series inside the analysis window
(Flagger took the first point of a window ten intervals long). No series, or only null points,
is ``NoData``; several series is a ``PermanentProviderError`` (aggregate the query).
"""

from __future__ import annotations

import math
from typing import Any

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError, SpecError, SpecIssue
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._context import ProviderContext
from ._credentials import env_parts, secret_keys
from ._httpapi import Headers, HTTPProvider, http_options, render_query
from ._vendor_http import builtins_unsupported

DEFAULT_ADDRESS = "https://api.datadoghq.com"
"""US1 site; others: https://api.datadoghq.eu, https://api.us3.datadoghq.com, ..."""
API_KEY, APPLICATION_KEY = "datadog_api_key", "datadog_application_key"
"""Kubernetes Secret keys (Flagger's names)."""
QUERY_PATH, VALIDATE_PATH = "/api/v1/query", "/api/v1/validate"
HINTS = {
    400: "check the Datadog query (try it in a notebook or the metrics explorer)",
    403: "check the API and application keys (the application key needs the "
    "timeseries_query permission) and the site in provider.address",
}


class DatadogProvider(HTTPProvider):
    """Custom Datadog metric queries (built-in SLIs need custom queries on Datadog)."""

    name = "datadog"
    example = DEFAULT_ADDRESS
    hints = HINTS

    def __init__(
        self,
        api_key: str,
        application_key: str,
        *,
        address: str = DEFAULT_ADDRESS,
        headers: Headers | None = None,
        timeout: float = 5.0,
        verify: bool = True,
    ) -> None:
        keys = {
            "Accept": "application/json",
            "DD-API-KEY": api_key,
            "DD-APPLICATION-KEY": application_key,
        }
        super().__init__(address, headers=headers, set_headers=keys, timeout=timeout, verify=verify)

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when ``/api/v1/validate`` accepts the API key (``{"valid": true}``)."""
        body = self.api.json("GET", VALIDATE_PATH)
        online = isinstance(body, dict) and body.get("valid") is True
        return "" if online else "datadog /api/v1/validate did not answer valid: true"

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The last non-null point of the templated query's one series in ``window``."""
        text = render_query(metric, rollout, window, "datadog")
        params = {
            "from": str(math.floor(window.start)),
            "to": str(math.ceil(window.end)),
            "query": text,
        }
        body = self.api.json("GET", QUERY_PATH, params=params)
        return _value(metric.name, body)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Not supported: Datadog has no documented names for the router's metrics."""
        raise builtins_unsupported(
            "datadog",
            "sum:trace.http.request.errors{service:{{ name }}}.as_count() / "
            "sum:trace.http.request.hits{service:{{ name }}}.as_count()",
        )


def _value(name: str, body: Any) -> Scalar | NoData:
    """The value of a ``/api/v1/query`` answer (see the module docstring)."""
    if not isinstance(body, dict):
        raise PermanentProviderError("datadog answered /api/v1/query without a JSON object")
    if body.get("status") == "error":
        raise PermanentProviderError(
            f"datadog rejected the query for {name}: {body.get('error') or 'status error'} "
            "(fix: check the Datadog query)"
        )
    series = body.get("series")
    if series is None:
        series = []
    if not isinstance(series, list):
        raise PermanentProviderError("datadog answer has a 'series' that is not a list")
    if not series:
        return NoData(f"datadog query for {name} returned no series")
    if len(series) > 1:
        scopes = ", ".join(str(s.get("scope", "?")) for s in series[:3] if isinstance(s, dict))
        raise PermanentProviderError(
            f"metric {name!r}: the datadog query returns {len(series)} series ({scopes}...), "
            "not one (fix: aggregate it, e.g. drop 'by {...}' or use sum:/avg:)"
        )
    points = series[0].get("pointlist") if isinstance(series[0], dict) else None
    valid = [
        (float(p[0]), p[1])
        for p in points or ()
        if isinstance(p, list | tuple) and len(p) >= 2 and p[1] is not None
    ]
    if not valid:
        return NoData(f"datadog query for {name} has no points in the window")
    _, value = max(valid, key=lambda point: point[0])
    try:
        return to_scalar(float(value))
    except (TypeError, ValueError):
        raise PermanentProviderError(f"datadog point value {value!r} is not a number") from None


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> DatadogProvider:
    """A DatadogProvider from ``provider: {type: datadog, address?, secretRef}``."""
    api_key, application_key = _keys(spec, ctx)
    return DatadogProvider(
        api_key,
        application_key,
        address=spec.address or DEFAULT_ADDRESS,
        **http_options(spec, ctx),
    )


def _keys(spec: MetricProviderSpec, ctx: ProviderContext) -> tuple[str, str]:
    """(API key, application key) from ``secretRef`` (see docs/providers.md)."""
    path = f"{ctx.path}.secretRef"
    ref = spec.secret_ref
    if ref is None:
        raise SpecError(
            SpecIssue(
                path,
                "a datadog provider needs an API key and an application key",
                f"secretRef: {{name: datadog}} (a Secret with keys {API_KEY} and "
                f"{APPLICATION_KEY}), or secretRef: {{env: DATADOG_KEYS}} holding "
                "<api key>:<application key>",
            )
        )
    if ref.env is not None:
        form = "<api key>:<application key>"
        api_key, application_key = env_parts(
            ref,
            ctx.env,
            path,
            what="api key:application key",
            form=form,
            example=form,
            counts=(2,),
            maxsplit=1,
        )
        return api_key, application_key
    keys = (API_KEY, APPLICATION_KEY)
    found = secret_keys(
        ref,
        keys,
        reader=ctx.secret_reader,
        namespace=ctx.namespace,
        path=path,
        required=keys,
        hint=f"kubectl create secret generic {ref.name} --from-literal={API_KEY}=... "
        f"--from-literal={APPLICATION_KEY}=...",
    )
    return str(found[API_KEY]), str(found[APPLICATION_KEY])


__all__ = ["DEFAULT_ADDRESS", "DatadogProvider", "factory"]
