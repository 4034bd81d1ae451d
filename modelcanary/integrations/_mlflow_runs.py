"""The MLflow run of an analysis: per-interval metrics, params, the HTML report.

``record_run`` writes a finished analysis in one go (the local runtime: the hook has the whole
status when the run ends). :class:`RunLog` writes it **as the rollout progresses** (cluster
mode: the operator runs the rollout, the hook follows its status): each new analysis interval
is logged once, at its step and with its own time, and the report is replaced at each stage.
A hook that restarts re-opens the run by id and carries on after the last logged interval
(read back from the run's ``canary_weight`` history), so nothing is logged twice.
mlflow is imported inside functions only.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ModelCanaryError
from ..spec import AnalysisRecord, ModelRollout, RolloutStatus

log = logging.getLogger("modelcanary.mlflow")

LINK_TAG = "modelcanary.model_version"
"""Run tag: ``NAME/VERSION`` of the model version the run analysed."""
EXPERIMENT = "modelcanary"
"""Experiment of the analysis runs."""
PHASE_TAG = "modelcanary.phase"
"""Run tag (cluster mode): the rollout's phase as last seen."""
RESOURCE_TAG = "modelcanary.resource"
"""Run tag (cluster mode): ``namespace/name`` of the ModelRollout resource."""
WEIGHT = "canary_weight"
"""The metric logged once per interval (its history says which intervals are logged)."""


def outcome_of(status: RolloutStatus) -> str:
    """The status' outcome (``error`` when the run stopped without one)."""
    return str(status.outcome or "error")


def record_run(
    client: Any,
    name: str,
    version: str,
    rollout: ModelRollout,
    status: RolloutStatus,
    *,
    experiment: str = EXPERIMENT,
) -> str:
    """Record the analysis as an MLflow run linked to the version; returns the run id."""
    from mlflow.entities import RunTag

    tags = {
        LINK_TAG: f"{name}/{version}",
        "modelcanary.outcome": outcome_of(status),
        "mlflow.runName": rollout.name,
    }
    run = client.create_run(experiment_id(client, experiment), tags=tags, run_name=rollout.name)
    run_id = str(run.info.run_id)
    metrics = interval_metrics(status.history, 0, int(time.time() * 1000))
    extra = [RunTag("modelcanary.reason", (status.message or "")[:4000])]
    log_metrics(client, run_id, metrics, params=version_params(rollout), tags=extra)
    log_report(client, run_id, rollout, status)
    client.set_terminated(run_id, "FINISHED" if outcome_of(status) == "promoted" else "FAILED")
    return run_id


def experiment_id(client: Any, experiment: str) -> str:
    """The id of the experiment named ``experiment`` (created when missing)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(experiment))
    except MlflowException:  # created meanwhile (two rollouts finishing at once)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return str(found.experiment_id)


def version_params(rollout: ModelRollout) -> list[Any]:
    """The run's ``champion`` and ``challenger`` params (the two model URIs)."""
    from mlflow.entities import Param

    return [
        Param("champion", str(rollout.spec.champion and rollout.spec.champion.model_uri)),
        Param("challenger", str(rollout.spec.challenger and rollout.spec.challenger.model_uri)),
    ]


def interval_metrics(
    records: Sequence[AnalysisRecord], first_step: int, now: int | None = None
) -> list[Any]:
    """MLflow metrics of analysis intervals: ``canary_weight``, each SLI's value and
    ``<sli>.pass`` (1/0), at step ``first_step + i``; timestamped ``now`` (ms), else at the
    interval's own time (so a run logged as the rollout progresses shows when it happened)."""
    from mlflow.entities import Metric

    metrics = []
    for step, record in enumerate(records, start=first_step):
        stamp = now if now is not None else record_millis(record)
        metrics.append(Metric(WEIGHT, record.canary_weight, stamp, step))
        used: dict[str, int] = {}
        for check in record.checks:
            key = _metric_key(check.metric, used)
            if check.value is not None:
                metrics.append(Metric(key, float(check.value), stamp, step))
            metrics.append(Metric(f"{key}.pass", float(check.verdict == "pass"), stamp, step))
    return metrics


def record_millis(record: AnalysisRecord) -> int:
    """The interval's RFC 3339 time in milliseconds since the epoch."""
    return stamp_millis(record.time)


def stamp_millis(text: str) -> int:
    """An RFC 3339 time of the status (``...Z`` or an offset; naive = UTC) in ms."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def log_metrics(
    client: Any,
    run_id: str,
    metrics: Sequence[Any],
    *,
    params: Sequence[Any] = (),
    tags: Sequence[Any] = (),
) -> None:
    """``log_batch`` in chunks (MLflow takes at most 1000 metrics a call)."""
    for start in range(0, len(metrics), 900):
        chunk = list(metrics[start : start + 900])
        first = start == 0
        client.log_batch(
            run_id, metrics=chunk, params=list(params) if first else [], tags=list(tags)
        )
    if not metrics and (params or tags):
        client.log_batch(run_id, params=list(params), tags=list(tags))


def _metric_key(metric: str, used: dict[str, int]) -> str:
    key = re.sub(r"[^A-Za-z0-9_\-./ ]", "_", metric) or "metric"
    used[key] = used.get(key, 0) + 1
    return key if used[key] == 1 else f"{key}.{used[key]}"


def log_report(client: Any, run_id: str, rollout: ModelRollout, status: RolloutStatus) -> None:
    """Log the HTML report as the run's artifact ``report.html`` (replacing an earlier one)."""
    from .._report import write

    with tempfile.TemporaryDirectory(prefix="modelcanary-report-") as tmp:
        try:
            path = write(Path(tmp) / "report.html", rollout, status)
        except ModelCanaryError as exc:  # plotly missing: the run still holds the metrics
            log.warning("no HTML report for %s: %s", rollout.name, exc)
            return
        client.log_artifact(run_id, str(path))


class RunLog:
    """One MLflow run written as a rollout progresses (see the module docstring)."""

    def __init__(self, client: Any, run_id: str, logged: int = 0, last: int = -1) -> None:
        self.client = client
        self.run_id = run_id
        self.logged = logged
        """Intervals logged so far (the next one is at this step)."""
        self.last = last
        """Time (ms) of the last logged interval."""
        self._stage: tuple[str, int] | None = None

    @classmethod
    def create(
        cls,
        client: Any,
        name: str,
        version: str,
        rollout: ModelRollout,
        *,
        resource: str,
        experiment: str = EXPERIMENT,
    ) -> RunLog:
        """A new run for ``name`` v``version`` (status RUNNING until :meth:`finish`)."""
        tags = {
            LINK_TAG: f"{name}/{version}",
            RESOURCE_TAG: resource,
            "mlflow.runName": rollout.name,
        }
        run = client.create_run(experiment_id(client, experiment), tags=tags, run_name=rollout.name)
        made = cls(client, str(run.info.run_id))
        log_metrics(client, made.run_id, [], params=version_params(rollout))
        return made

    @classmethod
    def reopen(cls, client: Any, run_id: str) -> RunLog | None:
        """The run ``run_id`` if it is still running (None: gone or already finished)."""
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(run_id)
        except MlflowException:
            return None
        if run.info.status != "RUNNING":
            return None
        history = client.get_metric_history(run_id, WEIGHT)
        last = max((int(m.timestamp) for m in history), default=-1)
        return cls(client, run_id, logged=len(history), last=last)

    def log(self, records: Sequence[AnalysisRecord]) -> int:
        """Log the intervals of ``records`` not logged yet (later than the last one); returns
        how many were new."""
        new = [r for r in records if record_millis(r) > self.last]
        if not new:
            return 0
        log_metrics(self.client, self.run_id, interval_metrics(new, self.logged))
        self.logged += len(new)
        self.last = max(record_millis(r) for r in new)
        return len(new)

    def progress(self, rollout: ModelRollout, status: RolloutStatus) -> None:
        """Log new intervals, tag the phase; replace the report when the stage changed (phase
        or challenger weight), so the run shows the rollout as far as it went."""
        self.log(status.history)
        stage = (str(status.phase), status.canary_weight)
        if stage == self._stage:
            return
        self.client.set_tag(self.run_id, PHASE_TAG, stage[0])
        if self._stage is not None or status.history:
            log_report(self.client, self.run_id, rollout, status)
        self._stage = stage

    def finish(self, rollout: ModelRollout, status: RolloutStatus, outcome: str) -> None:
        """Last intervals, outcome and reason tags, the final report; end the run."""
        from mlflow.entities import RunTag

        self.log(status.history)
        tags = [
            RunTag("modelcanary.outcome", outcome),
            RunTag("modelcanary.reason", (status.message or outcome)[:4000]),
            RunTag(PHASE_TAG, str(status.phase)),
        ]
        log_metrics(self.client, self.run_id, [], tags=tags)
        log_report(self.client, self.run_id, rollout, status)
        self.client.set_terminated(self.run_id, "FINISHED" if outcome == "promoted" else "FAILED")
