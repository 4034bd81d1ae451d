"""MLflow scoring protocol over real HTTP: every input format, errors, health, keep-alive."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from serving_helpers import Models, buckets, parse_metrics, value

from modelcanary.serving import ServerProcess
from modelcanary.serving._exposition import PREDICTION_BUCKETS


def _bodies(frame: Any) -> dict[str, tuple[str, bytes]]:
    """The same rows (a pandas DataFrame) in every format MLflow accepts."""
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    records = frame.to_dict(orient="records")  # (pandas to_json would round to 10 digits)
    columns = {c: frame[c].tolist() for c in frame.columns}
    as_json = "application/json"
    return {
        "dataframe_split": (as_json, json.dumps({"dataframe_split": split}).encode()),
        "dataframe_records": (as_json, json.dumps({"dataframe_records": records}).encode()),
        "instances": (as_json, json.dumps({"instances": records}).encode()),
        "inputs": (as_json, json.dumps({"inputs": columns}).encode()),
        "csv": ("text/csv", frame.to_csv(index=False).encode()),
        "csv+charset": ("text/csv; charset=utf-8", frame.to_csv(index=False).encode()),
    }


@pytest.fixture(scope="module")
def regressor_server(models: Models) -> Iterator[ServerProcess]:
    from modelcanary.serving import start_server_process

    with start_server_process(str(models.regressor_dir)) as server:
        yield server


def test_every_input_format_gives_sklearn_predictions(
    models: Models, classifier_server: ServerProcess, client: httpx.Client
) -> None:
    X = models.X_iris.iloc[::7]
    expected = models.classifier.predict(X).tolist()
    for name, (content_type, body) in _bodies(X).items():
        reply = client.post(
            f"{classifier_server.url}/invocations",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert reply.status_code == 200, (name, reply.text)
        assert reply.headers["content-type"] == "application/json"
        assert reply.json() == {"predictions": expected}, name


def test_numeric_predictions_match_sklearn(
    models: Models, regressor_server: ServerProcess, client: httpx.Client
) -> None:
    X = models.X_diabetes.iloc[:40]
    expected = models.regressor.predict(X).tolist()
    served: list[float] = []
    for name, (content_type, body) in _bodies(X).items():
        reply = client.post(
            f"{regressor_server.url}/invocations",
            content=body,
            headers={"Content-Type": content_type},
        )
        assert reply.status_code == 200, (name, reply.text)
        # equal up to the last bit or two: BLAS sums a row-major batch in another order
        assert reply.json()["predictions"] == pytest.approx(expected, rel=1e-12, abs=0), name
        served += reply.json()["predictions"]
    samples = parse_metrics(client.get(f"{regressor_server.url}/metrics").text)
    histogram = buckets(samples, "modelcanary_model_prediction")
    bounds = (*PREDICTION_BUCKETS, math.inf)
    assert list(histogram.values()) == [sum(v <= b for v in served) for b in bounds]
    assert value(samples, "modelcanary_model_prediction_count") == len(served) == 6 * 40


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error_code"),
    [
        ("application/json", b"{not json", 400, "BAD_REQUEST"),
        ("application/json", b'{"rows": [[1, 2, 3, 4]]}', 400, "BAD_REQUEST"),
        ("application/json", b"[[1, 2, 3, 4]]", 400, "BAD_REQUEST"),
        ("application/json", b'{"inputs": [[1, 2, 3, 4]]}', 400, "INVALID_PARAMETER_VALUE"),
        ("application/json", b"\xff\xfe", 400, "BAD_REQUEST"),
        ("text/csv", b"a,b\n1", 400, "INVALID_PARAMETER_VALUE"),
        (
            "application/json",
            b'{"dataframe_split": {"columns": ["x"], "data": [[1]]}}',
            400,
            "INVALID_PARAMETER_VALUE",
        ),
    ],
)
def test_bad_requests_are_400_in_mlflow_error_shape(
    classifier_server: ServerProcess,
    client: httpx.Client,
    content_type: str,
    body: bytes,
    status: int,
    error_code: str,
) -> None:
    reply = client.post(
        f"{classifier_server.url}/invocations", content=body, headers={"Content-Type": content_type}
    )
    assert reply.status_code == status, reply.text
    error = reply.json()
    assert error["error_code"] == error_code
    assert isinstance(error["message"], str) and error["message"]


def test_unsupported_content_types_are_415_as_in_mlflow(
    classifier_server: ServerProcess, client: httpx.Client
) -> None:
    url = f"{classifier_server.url}/invocations"
    for content_type in ("application/xml", "application/json; charset=latin-1", "text/csv; x=1"):
        reply = client.post(url, content=b"{}", headers={"Content-Type": content_type})
        assert reply.status_code == 415, content_type
        assert reply.headers["content-type"] == "text/plain"


def test_health_version_and_unknown_paths(
    classifier_server: ServerProcess, client: httpx.Client
) -> None:
    import mlflow.version

    url = classifier_server.url
    for path in ("/ping", "/health"):
        reply = client.get(f"{url}{path}")
        assert (reply.status_code, reply.text) == (200, "\n")
    assert client.get(f"{url}/version").text == mlflow.version.VERSION
    missing = client.get(f"{url}/nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert client.post(f"{url}/predict", content=b"{}").status_code == 404


def test_keep_alive_and_chunked_bodies(models: Models, classifier_server: ServerProcess) -> None:
    X = models.X_iris.iloc[:3]
    content_type, body = _bodies(X)["dataframe_split"]
    expected = {"predictions": models.classifier.predict(X).tolist()}
    address = urlparse(classifier_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.connect()
    first_socket = connection.sock
    for _ in range(50):  # one TCP connection for every request (HTTP/1.1 keep-alive)
        connection.request("POST", "/invocations", body, {"Content-Type": content_type})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read()) == expected
        assert connection.sock is first_socket
    connection.request(
        "POST", "/invocations", iter([body[:10], body[10:]]),
        {"Content-Type": content_type, "Transfer-Encoding": "chunked"}, encode_chunked=True,
    )  # fmt: skip
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read()) == expected
    connection.close()
