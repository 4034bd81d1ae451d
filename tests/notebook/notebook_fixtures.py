"""Two tiny saved scikit-learn models (MLflow format) and request payloads for widget tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modelcanary as mc
from modelcanary.analysis._sequential import GaussianState, OddsMixture
from modelcanary.spec._status import AnalysisRecord, CheckRecord, RolloutStatus


@dataclass(frozen=True)
class TinyModels:
    champion: str
    challenger: str
    payloads: list[bytes]


def save_models(root: Path) -> TinyModels:
    """Train two logistic regressions on iris and save them with mlflow.sklearn."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from modelcanary.local._load import rows_to_payloads

    x, y = load_iris(return_X_y=True, as_frame=True)
    for name, c in (("champion", 1.0), ("challenger", 0.3)):
        model = LogisticRegression(C=c, max_iter=300).fit(x, y)
        mlflow.sklearn.save_model(model, root / name, pip_requirements=["scikit-learn"])
    return TinyModels(
        str(root / "champion"),
        str(root / "challenger"),
        rows_to_payloads(x.head(20).to_dict("split")),
    )


def rollout(models: TinyModels, name: str, steps: list[int], **kw: Any) -> Any:
    """A 1 s-interval canary with error-rate and latency SLOs and built-in load."""
    return (
        mc.Rollout(name)
        .champion(models.champion)
        .challenger(models.challenger)
        .canary(steps=steps, interval="1s", threshold=2)
        .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "500ms")
        .load(rps=30, concurrency=4)
        .progress_deadline(30)
        .build()
    )


class FixedRun:
    """A run that always reports one status (a widget reads only ``status()``, ``rollout``
    and ``done``); any button press fails the test."""

    def __init__(self, rollout: Any, status: RolloutStatus, done: bool = False) -> None:
        self.rollout, self._status, self.done = rollout, status, done

    def status(self) -> RolloutStatus:
        return self._status

    def act(self, kind: str, reason: str = "") -> None:
        raise AssertionError(f"no button may act here (pressed {kind})")


def rolled_back_status(checks: Callable[[int], list[CheckRecord]], **extra: Any) -> RolloutStatus:
    """Two intervals at 25 % (``checks(second)`` each), a sequential error-rate band stored,
    then the analysis failed: the challenger is back at 0 %."""
    history = [
        AnalysisRecord(
            time=f"2026-01-01T00:00:0{s}Z",
            phase="Progressing",
            canary_weight=25,
            verdict="pass",
            checks=checks(s),
        )
        for s in (1, 2)
    ]
    pairs = GaussianState(n0=3000, x0=30, n1=1000, x1=9)
    slo = OddsMixture().update(OddsMixture().start(), 9, 1000, 0.01)
    stored = {"slo": slo.model_dump(mode="json"), "pairs": pairs.model_dump(mode="json")}
    return RolloutStatus(
        phase="Failed",
        outcome="rolled_back",
        canary_weight=0,
        history=history,
        analysis_state={"iterations": 2, "sequential": {"error-rate": stored}},
        last_analysis_time="2026-01-01T00:00:02Z",
        last_transition_time="2026-01-01T00:00:03Z",
        **extra,
    )
