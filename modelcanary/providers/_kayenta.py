"""Kayenta metric provider: a Spinnaker canary judgement as one metric (score 0-100).

For teams whose canary configs already live in Kayenta. ``query()`` starts a canary execution
for the analysis window (``POST /canary/<canaryConfigId>``, or ``POST /canary`` with an inline
config), polls ``GET /canary/<canaryExecutionId>`` and returns the judge's
``result.judgeResult.score.score`` as a :class:`Scalar` (the shapes of Kayenta's
``CanaryController`` and Orca's ``KayentaService``; https://github.com/spinnaker/kayenta/blob/master/docs/kayenta-standalone.md).

An execution still running after ``wait`` seconds is kept: the call returns ``NoData`` and the
next call for the same rollout and metric polls it again instead of starting another (its
score is then that of the earlier window). A failed or canceled execution, or a judgement
where every metric had no data, is ``NoData`` with Kayenta's reason.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..analysis._measurements import IntervalData, NoData, Scalar, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ..spec._base import parse_duration
from ._context import ProviderContext
from ._httpapi import Headers, HTTPProvider, http_options, render_query, spec_address, spec_secret

log = logging.getLogger(__name__)

HINTS = {
    400: "check the canary config id and templateVariables (scopes, accounts, thresholds)",
    404: "check the canary config id (query) and provider.address",
}
ACCOUNTS = ("metricsAccountName", "configurationAccountName", "storageAccountName")
"""templateVariables passed to Kayenta as query parameters when set."""


@dataclass
class Execution:
    """A canary execution this provider started and has not read yet."""

    id: str
    window: Window


class KayentaProvider(HTTPProvider):
    """A Kayenta canary judgement (score 0-100) per analysis window."""

    name = "kayenta"
    example = "http://kayenta.spinnaker:8090"
    hints = HINTS

    def __init__(
        self,
        address: str,
        *,
        secret: str | None = None,
        headers: Headers | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        wait: float = 20.0,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(address, headers=headers, secret=secret, timeout=timeout, verify=verify)
        self.wait = wait
        self.poll_interval = poll_interval
        self._sleep = sleep
        self.pending: dict[str, Execution] = {}
        """Executions started and not yet read, by ``namespace/rollout/metric``."""

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when Kayenta's ``/health`` answers (and does not say ``DOWN``)."""
        body = self.api.json("GET", "/health")
        status = body.get("status") if isinstance(body, dict) else None
        return "" if status in (None, "UP") else f"kayenta /health says {status}"

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The canary score of ``window`` (or of a still-pending earlier execution)."""
        key = f"{rollout.metadata.namespace or 'default'}/{rollout.name}/{metric.name}"
        execution = self.pending.get(key)
        if execution is None:
            execution = Execution(self._start(metric, rollout, window), window)
            self.pending[key] = execution
        variables = metric.template_variables or {}
        try:
            wait = parse_duration(variables["wait"]) if "wait" in variables else self.wait
        except ValueError:
            raise PermanentProviderError(
                f"templateVariables.wait {variables['wait']!r} is not a duration (fix: e.g. 30s)"
            ) from None
        deadline = time.monotonic() + wait
        while True:
            try:
                status = self._status(execution.id, variables)
            except PermanentProviderError:
                del self.pending[key]
                raise
            if status.get("complete") is True or _halted(status):
                del self.pending[key]
                return _score(execution, status)
            if time.monotonic() >= deadline:
                return NoData(
                    f"Kayenta canary execution {execution.id} is still running "
                    f"({status.get('status', 'running')}); its score is read next interval"
                )
            self._sleep(self.poll_interval)

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """Not supported: Kayenta judges canary configs, it does not store metrics."""
        raise PermanentProviderError(
            "built-in SLIs are not supported on kayenta: it judges a canary config and "
            "returns a score; use it for a custom metric (query: <canaryConfigId>, "
            "thresholdRange: {min: 95}) and a metric store provider for built-in SLIs"
        )

    # -- Kayenta API -----------------------------------------------------------------------
    def _start(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> str:
        """Start a canary execution for ``window``; its id."""
        text = render_query(metric, rollout, window, "kayenta").strip()
        variables = metric.template_variables or {}
        request = execution_request(variables, rollout, window)
        params = {k: variables[k] for k in ACCOUNTS if variables.get(k)}
        if text.startswith("{"):
            try:
                config = json.loads(text)
            except ValueError as exc:
                raise PermanentProviderError(
                    f"metric {metric.name!r}: the inline Kayenta canary config is not JSON "
                    f"({exc}); fix: give a canary config id or valid JSON"
                ) from None
            params.pop("configurationAccountName", None)
            body: Any = {"canaryConfig": config, "executionRequest": request}
            answer = self.api.json("POST", "/canary", params=params, body=body)
        else:
            params["application"] = variables.get("application", "modelcanary")
            params["parentPipelineExecutionId"] = f"{rollout.name}-{math.floor(window.end)}"
            path = f"/canary/{quote(text, safe='')}"
            answer = self.api.json("POST", path, params=params, body=request)
        execution_id = answer.get("canaryExecutionId") if isinstance(answer, dict) else None
        if not isinstance(execution_id, str) or not execution_id:
            raise PermanentProviderError(
                f"kayenta at {self.api.where} started no canary execution (no "
                "canaryExecutionId); fix: check provider.address points at Kayenta"
            )
        log.info("kayenta: execution %s for %s/%s", execution_id, rollout.name, metric.name)
        return execution_id

    def _status(self, execution_id: str, variables: Mapping[str, str]) -> dict[str, Any]:
        params = {}
        if variables.get("storageAccountName"):
            params["storageAccountName"] = variables["storageAccountName"]
        body = self.api.json("GET", f"/canary/{quote(execution_id, safe='')}", params=params)
        if not isinstance(body, dict):
            raise PermanentProviderError("kayenta answered the execution status without JSON")
        return body


def execution_request(
    variables: Mapping[str, str], rollout: ModelRollout, window: Window
) -> dict[str, Any]:
    """Kayenta's ``CanaryExecutionRequest`` for ``window`` from ``templateVariables``."""
    location = variables.get("location", rollout.metadata.namespace or "default")
    try:
        step = int(parse_duration(variables.get("step", "60s")))
    except ValueError:
        raise PermanentProviderError(
            f"templateVariables.step {variables['step']!r} is not a duration (fix: e.g. 60s)"
        ) from None
    extended = {
        k.removeprefix("extendedScopeParams."): v
        for k, v in variables.items()
        if k.startswith("extendedScopeParams.")
    }

    def scope(name: str, where: str) -> dict[str, Any]:
        return {
            "scope": name,
            "location": where,
            "start": _iso(math.floor(window.start)),
            "end": _iso(math.ceil(window.end)),
            "step": max(1, step),
            "extendedScopeParams": extended,
        }

    request: dict[str, Any] = {
        "scopes": {
            variables.get("scopeName", "default"): {
                "controlScope": scope(
                    variables.get("controlScope", "champion"),
                    variables.get("controlLocation", location),
                ),
                "experimentScope": scope(
                    variables.get("experimentScope", "challenger"),
                    variables.get("experimentLocation", location),
                ),
            }
        },
        "siteLocal": {},
    }
    if "passThreshold" in variables or "marginalThreshold" in variables:
        try:
            request["thresholds"] = {
                "pass": float(variables.get("passThreshold", "95")),
                "marginal": float(variables.get("marginalThreshold", "75")),
            }
        except ValueError:
            raise PermanentProviderError(
                "templateVariables.passThreshold/marginalThreshold must be numbers (e.g. 95)"
            ) from None
    return request


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _halted(status: Mapping[str, Any]) -> bool:
    return str(status.get("status", "")).lower() in {"terminal", "canceled", "stopped"}


def _score(execution: Execution, status: Mapping[str, Any]) -> Scalar | NoData:
    """The judge's score of a finished execution, or NoData saying why there is none."""
    state = str(status.get("status", "")).lower()
    if state != "succeeded":
        reason = status.get("exception")
        detail = json.dumps(reason)[:300] if reason is not None else "no reason given"
        return NoData(f"Kayenta canary execution {execution.id} ended {state}: {detail}")
    judge = ((status.get("result") or {}).get("judgeResult")) or {}
    results = judge.get("results") or []
    classes = [r.get("classification") for r in results if isinstance(r, dict)]
    if classes and all(c == "Nodata" for c in classes):
        return NoData(f"Kayenta canary execution {execution.id}: no data for any metric")
    score = (judge.get("score") or {}).get("score")
    if score is None:
        return NoData(f"Kayenta canary execution {execution.id} has no judge score")
    classification = (judge.get("score") or {}).get("classification", "")
    log.info("kayenta: execution %s scored %s (%s)", execution.id, score, classification)
    try:
        return to_scalar(float(score))
    except (TypeError, ValueError):
        raise PermanentProviderError(f"kayenta score {score!r} is not a number") from None


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> KayentaProvider:
    """A KayentaProvider from ``provider: {type: kayenta, address, secretRef?}``."""
    address = spec_address(
        spec,
        ctx,
        "a kayenta provider needs the address of Kayenta's API",
        "e.g. address: http://kayenta.spinnaker:8090",
    )
    return KayentaProvider(address, secret=spec_secret(spec, ctx), **http_options(spec, ctx))


__all__ = ["KayentaProvider", "execution_request", "factory"]
