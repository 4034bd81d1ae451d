"""/metrics counts exactly what was sent: the CLI server, numeric and label predictions."""

from __future__ import annotations

import json
import math
import re
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_helpers import Models, buckets, parse_metrics, value

from modelcanary.serving import ModelServer, ServerMetrics
from modelcanary.serving._exposition import (
    LATENCY_BUCKETS,
    MAX_LABELS,
    OTHER_LABEL,
    PREDICTION_BUCKETS,
    Histogram,
    escape_label,
    format_number,
)

LATENCY_LE = [format_number(b) for b in LATENCY_BUCKETS] + ["+Inf"]
PREDICTION_LE = [format_number(b) for b in PREDICTION_BUCKETS] + ["+Inf"]


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("modelcanary")
    return [str(script)] if script.exists() else [sys.executable, "-m", "modelcanary.cli._main"]


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        raise AssertionError(f"no output within {timeout} s")
    return process.stdout.readline().decode().strip()


def _split(X: pd.DataFrame) -> bytes:
    split = {"columns": list(X.columns), "data": X.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def test_cli_server_counts_requests_latency_and_labels_exactly(
    models: Models, tmp_path: Path
) -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [*_cli(), "serve", str(models.classifier_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("wb"),
    )
    try:
        line = _read_line(process, 60)
        ready_after = time.monotonic() - started
        match = re.fullmatch(
            rf"serving {re.escape(str(models.classifier_dir))} on (http://\S+)", line
        )
        assert match, line
        url = match.group(1)
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/ping").status_code == 200
            print(f"\n[startup] modelcanary serve (typer CLI): ready in {ready_after:.2f} s")
            expected: Counter[str] = Counter()
            for start, size in ((0, 1), (10, 5), (50, 20), (120, 7)):
                X = models.X_iris.iloc[start : start + size]
                reply = client.post(
                    "/invocations", content=_split(X),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                assert reply.status_code == 200
                expected.update(str(p) for p in models.classifier.predict(X))
            headers = {"Content-Type": "application/json"}
            assert client.post("/invocations", content=b"{", headers=headers).status_code == 400
            assert client.post("/invocations", content=b"{}", headers=headers).status_code == 400
            plain = {"Content-Type": "text/plain"}
            assert client.post("/invocations", content=b"x", headers=plain).status_code == 415
            text = client.get("/metrics")
        assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse_metrics(text.text)
        labels = {"model": "iris", "version": "local"}
        assert (
            value(samples, "modelcanary_model_info", uri=str(models.classifier_dir), **labels) == 1
        )
        requests = {
            dict(ls)["status"]: v
            for (n, ls), v in samples.items()
            if n == "modelcanary_model_requests_total"
        }
        assert requests == {"200": 4, "400": 2, "415": 1}
        latency = buckets(samples, "modelcanary_model_request_duration_seconds")
        assert list(latency) == LATENCY_LE
        counts = list(latency.values())
        assert counts == sorted(counts) and counts[-1] == 7
        assert value(samples, "modelcanary_model_request_duration_seconds_count", **labels) == 7
        total = value(samples, "modelcanary_model_request_duration_seconds_sum")
        assert total is not None and 0 < total < 7 * 10
        predicted = {
            dict(ls)["label"]: v
            for (n, ls), v in samples.items()
            if n == "modelcanary_model_predictions_total"
        }
        assert predicted == dict(expected)
        assert value(samples, "modelcanary_model_prediction_count") == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_numeric_predictions_and_model_errors_in_process(models: Models) -> None:
    values = [0.0, 0.05, 0.1, 0.3, 0.55, 1.0, 1.5, 2.0, 7.0, 50.0, 500.0, 99.5]
    server = ModelServer(str(models.echo_dir), model_name="fraud", model_version="7")
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        ok = client.post("/invocations", json={"dataframe_records": [{"x": v} for v in values]})
        assert ok.json() == {"predictions": values}
        failed = client.post("/invocations", json={"inputs": {"x": [1.0, -1.0]}})
        assert failed.status_code == 500
        assert failed.json()["error_code"] == "INTERNAL_ERROR"
        assert "ValueError: negative x" in failed.json()["message"]
        samples = parse_metrics(client.get("/metrics").text)
    labels = {"model": "fraud", "version": "7"}
    assert value(samples, "modelcanary_model_info", uri=str(models.echo_dir), **labels) == 1
    assert value(samples, "modelcanary_model_requests_total", status="200", **labels) == 1
    assert value(samples, "modelcanary_model_requests_total", status="500", **labels) == 1
    histogram = buckets(samples, "modelcanary_model_prediction")
    assert list(histogram) == PREDICTION_LE
    expected = [sum(v <= b for v in values) for b in (*PREDICTION_BUCKETS, math.inf)]
    assert list(histogram.values()) == expected
    assert value(samples, "modelcanary_model_prediction_sum") == pytest.approx(sum(values))
    assert value(samples, "modelcanary_model_prediction_count") == len(values)
    assert not any(n == "modelcanary_model_predictions_total" for n, _ in samples)


def test_histogram_bounds_are_inclusive_and_cumulative() -> None:
    histogram = Histogram((0.1, 1.0))
    for v in (0.1, 0.1000001, 1.0, 3.0, -2.0):
        histogram.observe(v)
    assert histogram.render("h", 'a="b"') == [
        'h_bucket{a="b",le="0.1"} 2',
        'h_bucket{a="b",le="1"} 4',
        'h_bucket{a="b",le="+Inf"} 5',
        f'h_sum{{a="b"}} {format_number(0.1 + 0.1000001 + 1.0 + 3.0 - 2.0)}',
        'h_count{a="b"} 5',
    ]


def test_number_and_label_formatting() -> None:
    assert [format_number(v) for v in (1.0, 0.25, 0.0025, 100.0, math.inf, 3)] == [
        "1", "0.25", "0.0025", "100", "+Inf", "3",
    ]  # fmt: skip
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    metrics = ServerMetrics('we"ird\nname', "1", "models:/x@y")
    samples = parse_metrics(metrics.render())
    assert value(samples, "modelcanary_model_info", model='we"ird\nname') == 1


def test_label_kinds_and_cardinality_cap() -> None:
    metrics = ServerMetrics("m", "1", "dir")
    metrics.observe_predictions(np.array(["cat", "dog", "cat"]))
    metrics.observe_predictions(pd.Series([True, False]))
    metrics.observe_predictions([1, 2, 2])
    metrics.observe_predictions(pd.DataFrame({"a": [1, 2], "b": [3, 4]}))  # multi-output: skipped
    metrics.observe_predictions([{"x": 1}])  # not scalar: skipped
    metrics.observe_predictions(np.array([[0.5], [np.nan]]))  # one column, NaN ignored
    metrics.observe_predictions([str(i) for i in range(MAX_LABELS + 10)])
    samples = parse_metrics(metrics.render())
    got = {
        dict(ls)["label"]: v for (n, ls), v in samples.items() if n.endswith("predictions_total")
    }
    assert got["cat"] == 2 and got["dog"] == 1 and got["True"] == 1 and got["False"] == 1
    assert got["1"] == 2 and got["2"] == 3  # [1, 2, 2] and "1", "2" from the last batch
    assert len(got) == MAX_LABELS + 1 and got[OTHER_LABEL] > 0
    assert sum(got.values()) == 3 + 2 + 3 + MAX_LABELS + 10
    assert value(samples, "modelcanary_model_prediction_count") == 1
