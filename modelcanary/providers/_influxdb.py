"""InfluxDB metric provider: 1.x InfluxQL (``/query``) and 2.x Flux (``/api/v2/query``).

The query language picks the API, so the spec needs no version field: a query containing
``|>`` (or starting with ``from(``/``import``) is Flux, sent to ``/api/v2/query?org=ORG``
(InfluxDB 2.x, Cloud, and 1.8 with Flux enabled); anything else is InfluxQL, sent to the
1.x ``/query?db=DB&rp=RP`` API (1.x, and 2.x's v1-compatibility API with a DBRP mapping).
``db``, ``rp``, ``org`` and ``bucket`` ride on the address as query parameters
(``http://influxdb:8086?db=telegraf``); a path prefix is kept.

Built-in SLIs are read with InfluxQL from the layout Telegraf's ``prometheus`` input writes
with ``metric_version = 2`` (measurement ``prometheus``, one field per metric name, labels
as tags; see docs/providers.md). Credentials become ``Authorization``: ``user:password`` is
HTTP basic (1.x), a token is ``Token <token>`` (2.x).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from . import _vectors as vectors
from ._context import ProviderContext
from ._credentials import authorization
from ._httpapi import Headers, HTTPProvider, http_options, render_query, spec_address, spec_secret
from ._prometheus import NO_PAIRS, PREFIX

MEASUREMENT = "prometheus"
"""Measurement Telegraf's prometheus input (metric_version = 2) writes every metric into."""
LOOKBACK = 300.0
"""Seconds before a time within which a counter's last point counts (as Prometheus' 5m)."""
_HINTS = {
    400: "check the query (try it in the influx shell or the InfluxDB UI)",
    404: "check provider.address (path prefix, org or API version)",
}
_FLUX_META = {"", "result", "table", "_start", "_stop", "_time", "_field", "_measurement"}


def is_flux(query: str) -> bool:
    """True for a Flux query (pipe-forward ``|>``, or ``from(``/``import``/``option`` first)."""
    text = query.lstrip()
    return "|>" in text or text.startswith(("from(", "import ", "option "))


def influx_authorization(secret: str) -> str:
    """``Authorization`` for InfluxDB: ``Token`` for tokens, basic auth for user:password."""
    text = secret.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() in ("token", "bearer") and rest:
        return f"Token {rest.strip()}"
    if (scheme.lower() == "basic" and rest) or ":" in text:
        return authorization(text)
    return f"Token {text}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(round(seconds, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _number(value: Any, where: str) -> Scalar | NoData:
    if value is None or value == "":
        return NoData(f"{where} returned null")
    if isinstance(value, bool):
        raise PermanentProviderError(f"{where} returned a boolean, not a number")
    try:
        return to_scalar(float(value))
    except (TypeError, ValueError):
        raise PermanentProviderError(f"{where} returned {value!r}, not a number") from None


def influxql_results(body: Any) -> list[list[dict[str, Any]]]:
    """Each statement's series of a 1.x ``/query`` answer; an ``error`` is permanent."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise PermanentProviderError(
            "InfluxDB answered without 'results'; fix: point provider.address at the "
            "InfluxDB HTTP API root (e.g. http://influxdb:8086?db=telegraf)"
        )
    out: list[list[dict[str, Any]]] = []
    for result in results:
        if not isinstance(result, dict):
            raise PermanentProviderError(f"unexpected InfluxDB result {result!r}")
        if result.get("error"):
            raise PermanentProviderError(f"InfluxDB rejected the query: {result['error']}")
        out.append(list(result.get("series") or []))
    return out


def influxql_value(body: Any, metric: str) -> Scalar | NoData:
    """The single value of a one-statement InfluxQL answer (first column after ``time``)."""
    results = influxql_results(body)
    if len(results) != 1:
        raise PermanentProviderError(
            f"metric {metric!r}: the query has {len(results)} statements, not one "
            "(fix: remove the extra statements)"
        )
    series = results[0]
    if not series:
        return NoData(f"query for {metric} returned no series")
    if len(series) > 1:
        shown = ", ".join(str(s.get("tags") or s.get("name")) for s in series[:3])
        raise PermanentProviderError(
            f"metric {metric!r}: the query returns {len(series)} series ({shown}...), not one "
            "(fix: drop GROUP BY tags or aggregate across them)"
        )
    columns, rows = series[0].get("columns") or [], series[0].get("values") or []
    if not rows:
        return NoData(f"query for {metric} returned no rows")
    if len(rows) > 1:
        raise PermanentProviderError(
            f"metric {metric!r}: the query returns {len(rows)} rows, not one "
            "(fix: aggregate over the window, e.g. mean(...) without GROUP BY time())"
        )
    index = next((i for i, c in enumerate(columns) if c != "time"), None)
    if index is None or index >= len(rows[0]):
        return NoData(f"query for {metric} returned no value column")
    return _number(rows[0][index], f"query for {metric}")


def flux_tables(text: str) -> list[list[dict[str, str]]]:
    """Tables of an annotated-CSV Flux answer (rows as header -> cell); errors permanent."""
    tables: dict[tuple[int, str], list[dict[str, str]]] = {}
    header: list[str] | None = None
    for block, row in _csv_rows(text):
        if not row or all(cell == "" for cell in row):
            header = None
            continue
        if row[0].startswith("#"):
            header = None
            continue
        if header is None:
            header = row
            continue
        record = dict(zip(header, row, strict=False))
        if "error" in header and "table" not in header:
            raise PermanentProviderError(
                f"InfluxDB rejected the Flux query: {record.get('error', '')}"
            )
        tables.setdefault((block, record.get("table", "")), []).append(record)
    return list(tables.values())


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """CSV rows with a block number that changes at each blank line (a new table schema)."""
    out: list[tuple[int, list[str]]] = []
    block = 0
    for row in csv.reader(io.StringIO(text.replace("\r\n", "\n"))):
        if not row or all(cell == "" for cell in row):
            block += 1
        out.append((block, row))
    return out


def flux_value(text: str, metric: str) -> Scalar | NoData:
    """The single ``_value`` of a Flux answer (one table of one row)."""
    tables = [t for t in flux_tables(text) if t]
    if not tables:
        return NoData(f"query for {metric} returned no tables")
    if len(tables) > 1:
        raise PermanentProviderError(
            f"metric {metric!r}: the query returns {len(tables)} tables, not one "
            "(fix: |> group() then aggregate, e.g. |> sum())"
        )
    rows = tables[0]
    if len(rows) > 1:
        raise PermanentProviderError(
            f"metric {metric!r}: the query returns {len(rows)} rows, not one "
            "(fix: end with an aggregate such as |> mean() or |> last())"
        )
    row = rows[0]
    if "_value" in row:
        return _number(row["_value"], f"query for {metric}")
    data = [k for k in row if k not in _FLUX_META]
    if len(data) != 1:
        raise PermanentProviderError(
            f"metric {metric!r}: the answer has no _value column (columns: {sorted(row)}); "
            'fix: keep one value column, e.g. |> keep(columns: ["_value"])'
        )
    return _number(row[data[0]], f"query for {metric}")


class InfluxDBProvider(HTTPProvider):
    """Custom InfluxQL/Flux queries and built-in SLIs (InfluxQL) from InfluxDB 1.x or 2.x."""

    name = "influxdb"
    example = "http://influxdb:8086?db=telegraf"
    hints = _HINTS

    def __init__(
        self,
        address: str,
        *,
        headers: Headers | None = None,
        secret: str | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        measurement: str = MEASUREMENT,
        rollout_label: str = "rollout",
        prefix: str = PREFIX,
        namespace_label: str | None = None,
        lookback: float = LOOKBACK,
        name: str = "influxdb",
        path: str = "provider",
    ) -> None:
        super().__init__(
            address,
            headers=headers,
            secret=secret,
            timeout=timeout,
            verify=verify,
            name=name,
            path=path,
        )
        params = self.address_params
        self.db = params.get("db", "")
        self.rp = params.get("rp", "")
        self.org = params.get("org", "")
        self.bucket = params.get("bucket", "")
        self.measurement = measurement
        self.rollout_label = rollout_label
        self.prefix = prefix
        self.namespace_label = namespace_label
        self.lookback = lookback

    def __repr__(self) -> str:
        return f"InfluxDBProvider({self.api.where!r}, db={self.db!r}, org={self.org!r})"

    def authorization(self, secret: str) -> str:
        """``Token`` for tokens, basic auth for user:password (:func:`influx_authorization`)."""
        return influx_authorization(secret)

    # -- HTTP ------------------------------------------------------------------------------
    def influxql(self, query: str) -> Any:
        """The JSON answer of an InfluxQL query (``epoch=ms`` timestamps)."""
        params = {"q": query, "epoch": "ms"}
        params.update({k: v for k, v in (("db", self.db), ("rp", self.rp)) if v})
        fix = "point provider.address at the InfluxDB HTTP API root"
        return self.api.json("POST", "/query", params=params, fix=fix)

    def flux(self, query: str) -> str:
        """The annotated CSV answer of a Flux query (``POST /api/v2/query``)."""
        body = {
            "query": query,
            "type": "flux",
            "dialect": {
                "header": True,
                "annotations": ["datatype", "group", "default"],
                "delimiter": ",",
            },
        }
        params = {"org": self.org} if self.org else {}
        response = self.api.request(
            "POST", "/api/v2/query", params=params, body=body, accept="application/csv"
        )
        return response.text

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when ``GET /ping`` answers 204 (1.x and 2.x)."""
        self.api.request("GET", "/ping")
        return ""

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The templated InfluxQL or Flux query's single value (see the module docstring)."""
        flux = is_flux(metric.query or "")
        times = {
            "start": _rfc3339(window.start) if flux else f"{round(window.start * 1000)}ms",
            "end": _rfc3339(window.end) if flux else f"{round(window.end * 1000)}ms",
        }
        text = render_query(metric, rollout, window, self.name, extra=times)
        if flux:
            return flux_value(self.flux(text), metric.name)
        return influxql_value(self.influxql(text), metric.name)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Counts and histograms of both versions from Telegraf-written router metrics.

        Each counter's window count is its last value at ``window.end`` minus its last value
        at ``window.start`` (each within ``lookback`` seconds), per series; a series absent
        at the start counts from 0, a counter that went down (restart) counts its last value.
        """
        if window.seconds <= 0:
            return vectors.empty_window(window)
        if not self.db:
            raise PermanentProviderError(
                f"{self.name}: built-in SLIs are read with InfluxQL and need a database "
                "(fix: add ?db=<database> to provider.address, e.g. "
                "http://influxdb:8086?db=telegraf; InfluxDB 2.x needs a DBRP mapping)"
            )
        match = {self.rollout_label: rollout.name}
        if self.namespace_label:
            match[self.namespace_label] = rollout.metadata.namespace or "default"
        p = self.prefix
        fields = (
            f"{p}_requests_total",
            f"{p}_request_duration_seconds_bucket",
            f"{p}_predictions_total",
            f"{p}_prediction_bucket",
        )
        statements = [
            self._last_statement(f, match, at) for f in fields for at in (window.start, window.end)
        ]
        results = influxql_results(self.influxql("; ".join(statements)))
        if len(results) != len(statements):
            raise PermanentProviderError(
                f"InfluxDB answered {len(results)} results for {len(statements)} statements"
            )
        rows = [
            _increase(_last_rows(results[2 * i]), _last_rows(results[2 * i + 1]))
            for i in range(len(fields))
        ]
        requests, latency, labels, buckets = rows
        preds = vectors.predictions(labels, buckets)
        sides = vectors.versions(requests, latency, preds)
        return IntervalData(
            window,
            sides["challenger"],
            sides["champion"],
            NoData(NO_PAIRS.replace("Prometheus", "InfluxDB")),
            vectors.mirrored(requests),
        )

    def _last_statement(self, field: str, match: Mapping[str, str], at: float) -> str:
        where = " AND ".join(f"{_quote_ident(k)} = {_quote_str(v)}" for k, v in match.items())
        lo, hi = round((at - self.lookback) * 1000), round(at * 1000)
        return (
            f"SELECT last({_quote_ident(field)}) FROM {_quote_ident(self.measurement)} "
            f"WHERE {where} AND time > {lo}ms AND time <= {hi}ms GROUP BY *"
        )


SeriesKey = tuple[tuple[str, str], ...]


def _last_rows(series: Sequence[Mapping[str, Any]]) -> dict[SeriesKey, float]:
    """Tags -> last value of each series of a ``SELECT last(f) ... GROUP BY *`` answer."""
    out: dict[SeriesKey, float] = {}
    for item in series:
        tags = item.get("tags") or {}
        for row in item.get("values") or []:
            value = row[1] if len(row) > 1 else None
            if isinstance(value, int | float) and math.isfinite(value):
                out[tuple(sorted((str(k), str(v)) for k, v in tags.items()))] = float(value)
    return out


def _increase(before: Mapping[SeriesKey, float], after: Mapping[SeriesKey, float]) -> list[Any]:
    """Per-series window counts as (labels, value) rows (see ``collect``)."""
    rows: list[Any] = []
    for key, last in after.items():
        first = before.get(key)
        count = last if first is None or last < first else last - first
        rows.append((dict(key), count))
    return rows


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> InfluxDBProvider:
    """An :class:`InfluxDBProvider` for ``spec`` (``address`` required)."""
    address = spec_address(
        spec,
        ctx,
        "an influxdb provider needs an address",
        "e.g. address: http://influxdb:8086?db=telegraf (1.x) or "
        "http://influxdb:8086?org=acme (2.x, Flux)",
    )
    options = {
        k: v
        for k, v in ctx.options.items()
        if k in ("measurement", "rollout_label", "prefix", "namespace_label", "lookback")
    }
    return InfluxDBProvider(
        address,
        secret=spec_secret(spec, ctx),
        path=ctx.path,
        **http_options(spec, ctx),
        **options,
    )


__all__ = ["InfluxDBProvider", "factory", "flux_value", "influxql_value", "is_flux"]
