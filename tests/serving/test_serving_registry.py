"""A real MLflow tracking server: ``models:/name@alias`` resolves to its version's labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from serving_helpers import PIP, Models, Tracking, parse_metrics, value

from modelcanary.errors import SpecError
from modelcanary.serving import ModelServer, start_server_process

NAME = "mc-serving-iris"


@dataclass(frozen=True)
class Registered:
    versions: dict[str, Any]  # version -> fitted estimator
    run_uri: str
    logged_uri: str


@pytest.fixture(scope="module")
def registered(models: Models, mlflow_tracking: Tracking) -> Iterator[Registered]:
    """Two versions of an iris classifier; alias ``champion`` points at version 1."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_tracking.url)
    # another test in this process may have left mlflow's active experiment pointing elsewhere
    mlflow.set_experiment("serving-tests")
    try:
        versions: dict[str, Any] = {}
        for strength in (0.01, 1.0):  # v1 underfits: it predicts differently from v2
            estimator = LogisticRegression(C=strength, max_iter=500)
            estimator.fit(models.X_iris, models.classifier.predict(models.X_iris))
            with mlflow.start_run() as run:
                info = mlflow.sklearn.log_model(
                    estimator, name="model", pip_requirements=PIP,
                    registered_model_name=NAME,
                )  # fmt: skip
            versions[str(info.registered_model_version)] = estimator
        MlflowClient().set_registered_model_alias(NAME, "champion", "1")
        yield Registered(versions, f"runs:/{run.info.run_id}/model", info.model_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def _inputs(models: Models) -> bytes:
    X = models.X_iris  # no signature logged: a DataFrame keeps the column names
    split = {"columns": list(X.columns), "data": X.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def test_alias_resolves_to_the_registered_version(
    models: Models, mlflow_tracking: Tracking, registered: Registered
) -> None:
    v1, v2 = registered.versions["1"], registered.versions["2"]
    assert (v1.predict(models.X_iris) != v2.predict(models.X_iris)).any()
    uri = f"models:/{NAME}@champion"
    server = start_server_process(uri, tracking_uri=mlflow_tracking.url)
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        headers = {"Content-Type": "application/json"}
        reply = client.post("/invocations", content=_inputs(models), headers=headers)
        samples = parse_metrics(client.get("/metrics").text)
    assert reply.json() == {"predictions": v1.predict(models.X_iris).tolist()}
    assert value(samples, "modelcanary_model_info", model=NAME, version="1", uri=uri) == 1
    assert value(samples, "modelcanary_model_requests_total", status="200", version="1") == 1


def test_other_registry_uris_and_missing_models(
    models: Models, mlflow_tracking: Tracking, registered: Registered
) -> None:
    url = mlflow_tracking.url
    for uri, name, version in [
        (f"models:/{NAME}/2", NAME, "2"),
        (f"models:/{NAME}/latest", NAME, "2"),
        (registered.run_uri, "model", registered.run_uri.split("/")[1]),
        (registered.logged_uri, "model", registered.logged_uri.removeprefix("models:/")),
    ]:  # in process: mlflow is already imported here, each load takes ~0.1 s
        with ModelServer(uri, tracking_uri=url) as server:
            samples = parse_metrics(httpx.get(f"{server.url}/metrics", timeout=10).text)
        assert value(samples, "modelcanary_model_info", model=name, version=version) == 1, uri
    with pytest.raises(SpecError, match="not found"):
        start_server_process(f"models:/{NAME}@nobody", tracking_uri=url)
    with pytest.raises(SpecError, match="not found"):
        ModelServer("models:/no-such-model/1", tracking_uri=url).start()
