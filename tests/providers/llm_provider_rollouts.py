"""Rollouts and SLI read-outs shared by the LLM metrics provider tests (vLLM's Prometheus
series, OpenTelemetry GenAI series): the same ModelRollout ``assistant`` in namespace ``ml``
behind a cluster LLM router, or two priced OpenAI versions for the cost SLI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelcanary.analysis import NoData
from modelcanary.analysis._measurements import IntervalData
from modelcanary.analysis._sli import sli_value
from modelcanary.spec import ModelRollout, parse_rollout

PRICING = {"inputPer1k": 0.5, "outputPer1k": 1.5}


def gateway_rollout(
    metrics: Iterable[str],
    provider: str = "inference-pool",
    *,
    step_weights: list[int],
    **metadata: Any,
) -> ModelRollout:
    """Deployment ``assistant`` behind ``provider`` judged on ``metrics`` (rates at most 1,
    the rest at most 1000); ``metadata`` adds to the rollout's metadata (annotations)."""
    return parse_rollout(
        {
            "metadata": {"name": "assistant", "namespace": "ml", **metadata},
            "spec": {
                "targetRef": {"name": "assistant"},
                "router": {"provider": provider},
                "service": {"port": 8000, "gatewayRefs": [{"name": "inference-gateway"}]},
                "analysis": {
                    "interval": "1m",
                    "stepWeights": step_weights,
                    "metrics": [
                        {"name": m, "thresholdRange": {"max": 1 if "rate" in m else 1000}}
                        for m in metrics
                    ],
                },
            },
        }
    )


def priced_rollout(scheme: str, namespace: str, max_cost: float, **spec: Any) -> ModelRollout:
    """Two priced OpenAI versions judged on ``cost-per-1k-requests``, the metrics scheme
    forced to ``scheme`` by annotation; ``spec`` adds to the spec (a router)."""
    return parse_rollout(
        {
            "metadata": {
                "name": "assistant",
                "namespace": namespace,
                "annotations": {"modelcanary.io/metrics-scheme": scheme},
            },
            "spec": {
                "champion": {"url": "http://a:8000", "protocol": "openai", "pricing": PRICING},
                "challenger": {"url": "http://b:8000", "protocol": "openai", "pricing": PRICING},
                **spec,
                "analysis": {
                    "interval": "1m",
                    "stepWeights": [10],
                    "metrics": [
                        {"name": "cost-per-1k-requests", "thresholdRange": {"max": max_cost}}
                    ],
                },
            },
        }
    )


def sli_values(data: IntervalData, rollout: ModelRollout) -> dict[str, dict[str, float | NoData]]:
    """Side (champion, challenger) -> each of the rollout's metrics' value on ``data``."""
    return {
        side.side: {m.name: sli_value(m, data, side) for m in rollout.spec.analysis.metrics}
        for side in (data.champion, data.challenger)
    }
