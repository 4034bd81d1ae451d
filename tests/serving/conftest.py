"""Fixtures of the serving tests: tiny models saved with mlflow, servers, an MLflow server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from mlflow_launch import start_mlflow, stop_mlflow
from serving_helpers import PIP, Models, Tracking

from modelcanary.serving import ServerProcess, start_server_process

ECHO_LOADER = '''"""A pyfunc loader module: predicts column x; a negative x makes it raise."""


import numpy as np


class _Echo:
    def predict(self, model_input, params=None):
        x = np.asarray(model_input["x"], dtype=float)
        if (x < 0).any():
            raise ValueError("negative x")
        return x


def _load_pyfunc(data_path):
    return _Echo()
'''


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LogisticRegression, Ridge

    root = tmp_path_factory.mktemp("models")
    X_iris, y_iris = load_iris(return_X_y=True, as_frame=True)
    classifier = LogisticRegression(max_iter=500).fit(X_iris, y_iris)
    X_diabetes, y_diabetes = load_diabetes(return_X_y=True, as_frame=True)
    regressor = Ridge(alpha=0.1).fit(X_diabetes, y_diabetes / y_diabetes.max())
    for estimator, X, name in ((classifier, X_iris, "iris"), (regressor, X_diabetes, "diabetes")):
        signature = infer_signature(X, estimator.predict(X))
        mlflow.sklearn.save_model(estimator, root / name, pip_requirements=PIP, signature=signature)
    code = root / "echo_loader.py"  # a loader module: no PythonModel, no type-hint warnings
    code.write_text(ECHO_LOADER)
    mlflow.pyfunc.save_model(
        root / "echo", loader_module="echo_loader", code_paths=[str(code)], pip_requirements=PIP
    )
    return Models(
        root / "iris", root / "diabetes", root / "echo",
        classifier, regressor, X_iris, X_diabetes,
    )  # fmt: skip


@pytest.fixture(scope="session")
def classifier_server(models: Models) -> Iterator[ServerProcess]:
    """The iris classifier served by a child process (shared: tests must not count on it)."""
    with start_server_process(str(models.classifier_dir)) as server:
        yield server


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def mlflow_tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    """A real ``mlflow server`` (sqlite backend, served artifacts) on a port it binds itself."""
    root = tmp_path_factory.mktemp("mlflow")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no 8 huey workers
    process, url = start_mlflow(root, env)
    try:
        yield Tracking(url, root)
    finally:
        stop_mlflow(process)
