"""New Relic metric provider: NRQL through NerdGraph (the GraphQL API).

``POST <address>/graphql`` with the ``API-Key`` header (a user key, ``NRAK-...``) and
``{"query": "query($accountId: Int!, $nrql: Nrql!) {actor {account(id: $accountId)
{nrql(query: $nrql) {results}}}}", "variables": {...}}``
(https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/).

NerdGraph rather than the Insights query API Flagger's first New Relic provider used
(``GET insights-api.newrelic.com/v1/accounts/<id>/query`` with an ``X-Query-Key``): Insights
query keys are deprecated and can no longer be created, NerdGraph is New Relic's supported
query API (Flagger moved to it too) and its user keys work for every account they can see.

The window is appended as ``SINCE <start ms> UNTIL <end ms>`` unless the query has its own
``SINCE``. The value is the one number of the one result row (``{"count": 12}``,
``{"percentile.duration": {"99": 0.4}}``); no rows or a null value is ``NoData``; several rows
(``FACET``/``TIMESERIES``) or several numbers are a ``PermanentProviderError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import (
    PermanentProviderError,
    ProviderError,
    SpecError,
    SpecIssue,
    TransientProviderError,
)
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ._context import ProviderContext
from ._credentials import env_parts, secret_keys
from ._httpapi import Headers, HTTPProvider, http_options, render_query
from ._vendor_http import builtins_unsupported

DEFAULT_ADDRESS = "https://api.newrelic.com"
"""US region; EU accounts use https://api.eu.newrelic.com."""
API_KEY, ACCOUNT_ID = "newrelic_api_key", "newrelic_account_id"
"""Kubernetes Secret keys (Flagger's NerdGraph provider names)."""
ACCOUNT_VARIABLE = "accountId"
"""``templateVariables`` key giving the account id when the credential has none."""
NRQL_QUERY = (
    "query($accountId: Int!, $nrql: Nrql!) "
    "{ actor { account(id: $accountId) { nrql(query: $nrql) { results } } } }"
)
PING_QUERY = "{ actor { user { name } } }"
TRANSIENT_CLASSES = frozenset({"TIMEOUT", "INTERNAL_SERVER_ERROR", "SERVER_ERROR"})
"""NerdGraph ``extensions.errorClass`` values worth retrying (as newrelic-client-go)."""
HINTS = {
    400: "check the NRQL",
    401: "check provider.secretRef (NerdGraph refused the user API key)",
    403: "check provider.secretRef (the user API key cannot read this account)",
}
_SINCE = re.compile(r"\bSINCE\b", re.IGNORECASE)


class NewRelicProvider(HTTPProvider):
    """Custom NRQL queries through NerdGraph (built-in SLIs need custom queries here)."""

    name = "newrelic"
    example = DEFAULT_ADDRESS
    hints = HINTS

    def __init__(
        self,
        api_key: str,
        *,
        account_id: int | None = None,
        address: str = DEFAULT_ADDRESS,
        headers: Headers | None = None,
        timeout: float = 5.0,
        verify: bool = True,
    ) -> None:
        keys = {"Content-Type": "application/json", "API-Key": api_key}
        super().__init__(address, headers=headers, set_headers=keys, timeout=timeout, verify=verify)
        self.account_id = account_id
        self.path = "" if self.api.address.endswith("/graphql") else "/graphql"

    def __repr__(self) -> str:
        return f"NewRelicProvider({self.api.where!r}, account_id={self.account_id!r})"

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The ``data`` of one NerdGraph call; GraphQL ``errors`` become provider errors."""
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = dict(variables)
        body = self.api.json("POST", self.path, body=payload)
        if not isinstance(body, dict):
            raise PermanentProviderError(
                f"newrelic at {self.api.where} did not answer a GraphQL response; "
                "fix: point provider.address at https://api.newrelic.com (or the EU region)"
            )
        errors = body.get("errors") or []
        if errors:
            raise _graphql_error(errors, self.api.where)
        return body.get("data")

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when NerdGraph answers ``{ actor { user { name } } }`` without errors."""
        self.graphql(PING_QUERY)
        return ""

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The one number the templated NRQL returns for ``window``."""
        nrql = render_query(metric, rollout, window, "newrelic")
        if not _SINCE.search(nrql):
            start, end = math.floor(window.start * 1000), math.ceil(window.end * 1000)
            nrql = f"{nrql} SINCE {start} UNTIL {end}"
        account = self._account(metric)
        data = self.graphql(NRQL_QUERY, {"accountId": account, "nrql": nrql})
        try:
            results = data["actor"]["account"]["nrql"]["results"]
        except (KeyError, TypeError):
            raise PermanentProviderError(
                "newrelic answer has no data.actor.account.nrql.results"
            ) from None
        return _value(metric.name, results)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Not supported: New Relic has no documented names for the router's metrics."""
        raise builtins_unsupported(
            "newrelic",
            "SELECT percentage(count(*), WHERE error IS true) FROM Transaction "
            "WHERE appName = '{{ name }}'",
        )

    def _account(self, metric: MetricSpec) -> int:
        variable = (metric.template_variables or {}).get(ACCOUNT_VARIABLE)
        if variable is not None:
            if not variable.strip().isdigit():
                raise PermanentProviderError(
                    f"metric {metric.name!r}: templateVariables.{ACCOUNT_VARIABLE} "
                    f"{variable!r} is not a New Relic account id (fix: a number such as 1234567)"
                )
            return int(variable)
        if self.account_id is None:
            raise PermanentProviderError(
                f"metric {metric.name!r}: no New Relic account id (fix: put "
                f"{ACCOUNT_ID} in the Secret, <account id>:<api key> in the variable, or "
                f"templateVariables.{ACCOUNT_VARIABLE})"
            )
        return self.account_id


def _graphql_error(errors: Any, where: str) -> ProviderError:
    """Transient for NerdGraph timeouts and server errors, permanent otherwise."""
    items = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    message = "; ".join(str(e.get("message", "")) for e in items)[:300] or str(errors)[:300]
    ext = [e.get("extensions") or {} for e in items]
    classes = {str(x.get("errorClass", "")) for x in ext if isinstance(x, dict)}
    codes = {str(x.get("error_code", "")) for x in ext if isinstance(x, dict)}
    if classes & TRANSIENT_CLASSES:
        return TransientProviderError(f"newrelic at {where} failed the query: {message}")
    if "BAD_API_KEY" in codes:
        hint = "check provider.secretRef (NerdGraph refused the user API key)"
    else:
        hint = "check the NRQL (try it in the query builder) and the account id"
    return PermanentProviderError(f"newrelic at {where} rejected the query: {message}; fix: {hint}")


def _numbers(value: Any) -> list[float | None]:
    """Numbers of a result row value, flattening ``{"99": 0.4}`` (None for null)."""
    if value is None:
        return [None]
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    return []


def _value(name: str, results: Any) -> Scalar | NoData:
    if not isinstance(results, list):
        raise PermanentProviderError("newrelic nrql results is not a list")
    if not results:
        return NoData(f"NRQL for {name} returned no rows")
    if len(results) > 1:
        raise PermanentProviderError(
            f"metric {name!r}: the NRQL returns {len(results)} rows, not one "
            "(fix: remove FACET/TIMESERIES or aggregate)"
        )
    row = results[0]
    if not isinstance(row, dict):
        raise PermanentProviderError(f"newrelic result row {row!r} is not an object")
    numbers = [n for key, v in row.items() if key not in _TIME_KEYS for n in _numbers(v)]
    if not numbers:
        return NoData(f"NRQL for {name} returned no number")
    if len(numbers) > 1:
        raise PermanentProviderError(
            f"metric {name!r}: the NRQL row has {len(numbers)} values ({', '.join(row)}), "
            "not one (fix: select one aggregate)"
        )
    if numbers[0] is None:
        return NoData(f"NRQL for {name} returned null (no data in the window)")
    return to_scalar(numbers[0])


_TIME_KEYS = frozenset({"beginTimeSeconds", "endTimeSeconds"})


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> NewRelicProvider:
    """A NewRelicProvider from ``provider: {type: newrelic, address?, secretRef}``."""
    api_key, account = _credentials(spec, ctx)
    return NewRelicProvider(
        api_key,
        account_id=account,
        address=spec.address or DEFAULT_ADDRESS,
        **http_options(spec, ctx),
    )


def _credentials(spec: MetricProviderSpec, ctx: ProviderContext) -> tuple[str, int | None]:
    """(user API key, account id or None) from ``secretRef``."""
    path = f"{ctx.path}.secretRef"
    ref = spec.secret_ref
    if ref is None:
        raise SpecError(
            SpecIssue(
                path,
                "a newrelic provider needs a user API key",
                f"secretRef: {{name: newrelic}} (a Secret with keys {API_KEY} and "
                f"{ACCOUNT_ID}), or secretRef: {{env: NEW_RELIC_KEY}} holding "
                "<account id>:<user api key>",
            )
        )
    if ref.env is not None:
        parts = env_parts(
            ref,
            ctx.env,
            path,
            what="account id:user api key",
            form="<account id>:<user api key>",
            example="1234567:NRAK-...",
            counts=(1, 2),
            maxsplit=1,
            valid=lambda found: len(found) == 1 or found[0].isdigit(),
        )
        return (parts[0], None) if len(parts) == 1 else (parts[1], int(parts[0]))
    found = secret_keys(
        ref,
        (API_KEY, ACCOUNT_ID),
        reader=ctx.secret_reader,
        namespace=ctx.namespace,
        path=path,
        required=(API_KEY,),
        hint=f"kubectl create secret generic {ref.name} --from-literal={API_KEY}=NRAK-... "
        f"--from-literal={ACCOUNT_ID}=1234567",
    )
    key_value, account_value = str(found[API_KEY]), found[ACCOUNT_ID]
    if account_value is not None and not account_value.isdigit():
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {ref.name} key {ACCOUNT_ID} is not a number",
                "put the numeric New Relic account id there",
            )
        )
    return key_value, int(account_value) if account_value else None


__all__ = ["DEFAULT_ADDRESS", "NewRelicProvider", "factory"]
