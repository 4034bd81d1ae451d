"""A real MLflow tracking server (sqlite, webhooks enabled) and real models, once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow_launch import start_mlflow, stop_mlflow

TEMPLATE = """\
apiVersion: modelcanary.io/v1alpha1
kind: ModelRollout
metadata: {name: template}
spec:
  champion: {modelUri: "models:/any@champion"}
  challenger: {modelUri: "models:/any@challenger"}
  router: {provider: local}
  progressDeadlineSeconds: 60
  analysis:
    interval: 1s
    threshold: 1
    stepWeights: [50]
    metrics:
      - name: error-rate
        thresholdRange: {max: 0.01}
      - name: latency-p99
        thresholdRange: {max: 2000}
  load: {rps: 40, concurrency: 4}
"""


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a real ``mlflow server`` that may call loopback webhooks."""
    root = tmp_path_factory.mktemp("mlflow-server")
    env = dict(
        os.environ,
        MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
        MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
        MLFLOW_WEBHOOK_CACHE_TTL="1",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    server, url = start_mlflow(root, env)
    try:
        import mlflow

        mlflow.set_tracking_uri(url)
        yield url
    finally:
        stop_mlflow(server)


@dataclass(frozen=True)
class Trained:
    """Logged models (``models:/m-...`` URIs) and load payloads from the dataset rows."""

    champion: str
    healthy: str
    faulty: str
    payloads: list[bytes]
    uri: str


@pytest.fixture(scope="session")
def trained(mlflow_server: str) -> Trained:
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelcanary.integrations._mlflow_demo_models import FaultyModel
    from modelcanary.local._load import rows_to_payloads

    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    healthy = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=500)).fit(x, y)
    limit = float(x["mean radius"].quantile(0.8))  # about one request in five fails
    faulty = FaultyModel(healthy, "mean radius", limit, delay_ms=5.0)
    example = x[x["mean radius"] < limit].head(2)
    requirements = ["scikit-learn", "mlflow"]
    mlflow.set_experiment("training")
    uris: list[str] = []
    for model in (champion, healthy, faulty):
        with mlflow.start_run():
            info: Any
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
        uris.append(info.model_uri)
    return Trained(*uris, payloads=rows_to_payloads(x.to_dict("split")), uri=mlflow_server)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "rollout.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


@pytest.fixture
def register_versions(trained: Trained) -> Any:
    """``register_versions(name, "champion", "healthy")``: versions 1.. with v1 the champion."""
    import mlflow
    from mlflow import MlflowClient

    def make(name: str, *labels: str) -> list[str]:
        client = MlflowClient(trained.uri)
        versions = []
        for label in labels:
            found = mlflow.register_model(getattr(trained, label), name)
            versions.append(str(found.version))
        client.set_registered_model_alias(name, "champion", versions[0])
        return versions

    return make
