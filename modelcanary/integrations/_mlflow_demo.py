"""``modelcanary demo``: two real rollouts on this machine, driven by a local MLflow registry.

1. Train a champion and two challengers on scikit-learn's breast-cancer dataset (shipped with
   scikit-learn: no download) and register them in an MLflow registry kept in a sqlite file.
2. Roll out the healthy challenger (shadow, then 20 % and 50 % canary steps): it is promoted
   and the registry's ``champion`` alias moves to it.
3. Roll out the faulty one (slower, and failing on some inputs): it is rolled back, the reason
   is shown, and its version is tagged with the verdict.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "breast-cancer"


@dataclass
class DemoResult:
    """What happened in one rollout of the demo."""

    name: str
    outcome: str
    message: str
    seconds: float
    report: Path


def _train(tracking_uri: str, say: Callable[[str], None]) -> tuple[list[str], Any]:
    """Register champion (v1), healthy (v2) and faulty (v3); returns the versions and data."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ._mlflow_demo_models import FaultyModel

    mlflow.set_tracking_uri(tracking_uri)
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    # a stronger-regularised challenger: a different model that mostly agrees with the champion
    healthy = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=500)).fit(x, y)
    limit = float(x["mean radius"].quantile(0.85))
    faulty = FaultyModel(healthy, "mean radius", limit, delay_ms=40.0)
    example = x[x["mean radius"] < limit].head(2)  # an input example every model answers
    requirements = ["scikit-learn", "mlflow"]
    client = MlflowClient()
    versions = []
    for label, model in (("champion", champion), ("healthy", healthy), ("faulty", faulty)):
        with mlflow.start_run(run_name=label):
            if isinstance(model, FaultyModel):
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=model,
                    input_example=example,
                    pip_requirements=requirements,
                )
            else:
                info = mlflow.sklearn.log_model(
                    model, name="model", input_example=example, pip_requirements=requirements
                )
        version = mlflow.register_model(info.model_uri, MODEL)
        versions.append(version.version)
        say(f"registered {MODEL} v{version.version} ({label})")
    client.set_registered_model_alias(MODEL, "champion", versions[0])
    return versions, x


def _payloads(frame: Any) -> list[bytes]:
    from ..local._load import rows_to_payloads

    return rows_to_payloads(frame.to_dict("split"))


def _rollout(name: str, challenger: str, interval: str) -> Any:
    from ..builder import Rollout, sli  # (not the top-level facade: it reaches every layer)

    return (
        Rollout(name)
        .champion(f"models:/{MODEL}@champion")
        .challenger(challenger)
        .shadow(percent=100, iterations=1)
        .canary(steps=[20, 50], interval=interval, threshold=2)
        .slo(sli.error_rate() < "1%", sli.latency(p=99) < "200ms", sli.agreement() >= 0.9)
        .load(rps=40, concurrency=8)
        .build()
    )


def run_demo(
    workdir: Path, *, interval: str = "3s", say: Callable[[str], None] = print
) -> list[DemoResult]:
    """Run the whole demo in ``workdir``; returns both rollouts' results."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    try:
        return _run_demo(workdir, interval, say)
    finally:  # leave mlflow's global tracking URI as the caller had it
        mlflow.set_tracking_uri(previous)


def quiet() -> None:
    """Keep a terminal demo's output to what matters (MLflow's logs and warnings hidden)."""
    for noisy in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)


def _run_demo(workdir: Path, interval: str, say: Callable[[str], None]) -> list[DemoResult]:
    import mlflow
    from mlflow import MlflowClient

    from .._report import write
    from ..local._runtime import LocalRun

    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{(workdir / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name("modelcanary-demo") is None:  # artifacts in the work dir
        artifacts = (workdir / "artifacts").resolve().as_uri()
        mlflow.create_experiment("modelcanary-demo", artifact_location=artifacts)
    mlflow.set_experiment("modelcanary-demo")
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        versions, frame = _train(tracking_uri, say)
    payloads = _payloads(frame)
    client = MlflowClient(tracking_uri)
    results = []
    for label, version in (("healthy", versions[1]), ("faulty", versions[2])):
        rollout = _rollout(f"demo-{label}", f"models:/{MODEL}/{version}", interval)
        say(f"rolling out v{version} ({label}) against @champion ...")
        began = time.monotonic()
        with LocalRun(rollout, tracking_uri=tracking_uri, payloads=payloads) as run:
            say(f"  router on {run.url}")
            status = run.wait()
        report = write(workdir / f"report-{label}.html", rollout, status)
        outcome = status.outcome or status.phase
        if outcome == "promoted":
            client.set_registered_model_alias(MODEL, "champion", version)
        client.set_model_version_tag(MODEL, version, "modelcanary.verdict", outcome)
        results.append(DemoResult(label, outcome, status.message, time.monotonic() - began, report))
        say(f"  -> {outcome} in {time.monotonic() - began:.0f}s: {status.message}")
    champion = client.get_model_version_by_alias(MODEL, "champion").version
    say(
        f"champion alias now on v{champion}; total {time.monotonic() - started:.0f}s; "
        f"reports in {workdir}"
    )
    return results
