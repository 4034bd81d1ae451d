"""Two tiny saved scikit-learn models (MLflow format) and request payloads for widget tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modelcanary as mc
from modelcanary.spec._status import RolloutStatus


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
