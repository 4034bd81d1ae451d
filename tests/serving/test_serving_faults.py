"""Fault injection (tests and demos only): seeded error rate, added latency, validation."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time

import httpx
import pytest
from serving_helpers import Models, buckets, parse_metrics, value, wait_gone

from modelcanary.errors import SpecError
from modelcanary.serving import Faults, start_server_process

RATE, LATENCY_MS, SEED, N = 0.3, 10.0, 7, 200


def test_seeded_faults_fail_the_drawn_requests_and_add_latency(models: Models) -> None:
    X = models.X_iris.iloc[:2]
    body = json.dumps({"inputs": {c: X[c].tolist() for c in X.columns}}).encode()
    faults = Faults(error_rate=RATE, latency_ms=LATENCY_MS, seed=SEED)
    server = start_server_process(str(models.classifier_dir), faults=faults)
    statuses, slowest_fast = [], math.inf
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(N):
            started = time.perf_counter()
            reply = client.post(
                "/invocations", content=body, headers={"Content-Type": "application/json"}
            )
            slowest_fast = min(slowest_fast, time.perf_counter() - started)
            statuses.append(reply.status_code)
            if reply.status_code == 500:
                assert reply.json()["error_code"] == "INTERNAL_ERROR"
            else:
                assert reply.json() == {"predictions": models.classifier.predict(X).tolist()}
        samples = parse_metrics(client.get("/metrics").text)
        pid = server.pid
        server.stop()
        assert server.returncode == 0  # SIGTERM: a clean exit
    assert wait_gone(pid, 5), "the server process is still running after stop()"
    failures = statuses.count(500)
    bound = 4 * math.sqrt(N * RATE * (1 - RATE))  # binomial: mean 60, sd 6.5
    assert abs(failures - N * RATE) <= bound, failures
    draws = random.Random(SEED)  # sequential requests: exactly the seeded draws
    assert statuses == [500 if draws.random() < RATE else 200 for _ in range(N)]
    assert value(samples, "modelcanary_model_requests_total", status="500") == failures
    assert value(samples, "modelcanary_model_requests_total", status="200") == N - failures
    assert slowest_fast >= LATENCY_MS / 1000
    latency = buckets(samples, "modelcanary_model_request_duration_seconds")
    assert latency["0.005"] == 0 and latency["+Inf"] == N  # every request waited 10 ms


def test_fault_options_are_validated() -> None:
    with pytest.raises(SpecError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(SpecError, match="latency_ms"):
        Faults(latency_ms=-1)
    assert not Faults().active and Faults().to_args() == []
    assert Faults(0.5, 3, 1).to_args() == [
        "--fault-error-rate", "0.5", "--fault-latency-ms", "3", "--fault-seed", "1",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "modelcanary.serving", ".", "--fault-error-rate", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "error_rate" in done.stderr and "Traceback" not in done.stderr
