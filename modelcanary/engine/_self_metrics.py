"""Self-metrics of the engine in Prometheus text format (Flagger's canary_* metrics, renamed).

- ``modelcanary_rollout_weight`` / ``modelcanary_rollout_mirror_weight``: current weights;
- ``modelcanary_rollout_status``: 0 running, 1 succeeded, 2 failed (Flagger's canary_status);
- ``modelcanary_rollout_phase``: 1 for the current phase;
- ``modelcanary_rollouts_total``: rollouts started, by namespace (Flagger's canary_total);
- ``modelcanary_rollout_failed_checks``, ``modelcanary_analysis_total`` (by verdict),
  ``modelcanary_metric_value`` (latest value of each check, Flagger's canary_metric_analysis),
  with ``modelcanary_metric_champion_value`` and the bounds applied, ``modelcanary_metric_min``
  / ``modelcanary_metric_max`` (what the Grafana dashboard draws each SLI against),
  ``modelcanary_tick_seconds`` (sum/count of tick durations).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from ..rollout._commands import Command, Notify, RecordAnalysis
from ..spec import ModelRollout, RolloutStatus

Labels = tuple[tuple[str, str], ...]


class EngineMetrics:
    """Collects engine figures per rollout; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))

    def observe(
        self, rollout: ModelRollout, status: RolloutStatus, commands: list[Command], seconds: float
    ) -> None:
        """Record one tick's outcome."""
        base = (("name", rollout.name), ("namespace", rollout.metadata.namespace or "default"))
        with self._lock:
            self._gauges["modelcanary_rollout_weight"][base] = status.canary_weight
            self._gauges["modelcanary_rollout_mirror_weight"][base] = status.mirror_weight
            gauge = float(status.phase.traits.status_gauge)
            self._gauges["modelcanary_rollout_status"][base] = gauge
            self._gauges["modelcanary_rollout_failed_checks"][base] = status.failed_checks
            phases = self._gauges["modelcanary_rollout_phase"]
            for key in [k for k in phases if k[:2] == base]:
                del phases[key]
            phases[(*base, ("phase", status.phase.value))] = 1.0
            for command in commands:
                if isinstance(command, Notify) and command.event == "RolloutStarted":
                    self._counters["modelcanary_rollouts_total"][base[1:]] += 1
                if isinstance(command, RecordAnalysis):
                    key = (*base, ("verdict", command.verdict))
                    self._counters["modelcanary_analysis_total"][key] += 1
            if status.history and any(isinstance(c, RecordAnalysis) for c in commands):
                for check in status.history[-1].checks:
                    key = (*base, ("metric", check.metric))
                    for family, value in (
                        ("modelcanary_metric_value", check.value),
                        ("modelcanary_metric_champion_value", check.champion_value),
                        ("modelcanary_metric_min", check.min),
                        ("modelcanary_metric_max", check.max),
                    ):
                        if value is not None:
                            self._gauges[family][key] = value
                        else:  # a bound or value that no longer applies is not kept stale
                            self._gauges[family].pop(key, None)
            self._counters["modelcanary_tick_seconds_sum"][()] += seconds
            self._counters["modelcanary_tick_seconds_count"][()] += 1

    def value(self, metric: str, /, **labels: str) -> float | None:
        """One sample's value (for tests and the CLI)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            for family in (self._gauges, self._counters):
                for labelset, value in family.get(metric, {}).items():
                    if tuple(sorted(labelset)) == key:
                        return value
        return None

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        with self._lock:
            for kind, family in (("gauge", self._gauges), ("counter", self._counters)):
                for name in sorted(family):
                    if not name.endswith(("_sum", "_count")):
                        lines.append(f"# TYPE {name} {kind}")
                    for labels, value in sorted(family[name].items()):
                        lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
