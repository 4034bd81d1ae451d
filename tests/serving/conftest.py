"""Fixtures of the serving tests: tiny models saved with mlflow, servers, an MLflow server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from serving_helpers import PIP, Models, Tracking, free_port

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
    """A real ``mlflow server`` (sqlite backend, served artifacts) on a free loopback port."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no 8 huey workers
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # ~12 s on an idle machine; much more while the rest of the suite loads both CPUs
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server not healthy within 180 s"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield Tracking(url, root)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
