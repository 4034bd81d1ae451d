"""Fuzz: hostile CSV request logs through the real ``modelcanary backtest`` command, in process.

Hypothesis writes CSV files from cells chosen to hurt: millisecond timestamps among
seconds, 1e308, NaN, Inf, negative numbers, 400-digit numbers, blank cells, rows with too
many or too few fields, NUL and non-UTF-8 bytes, a byte-order mark, a missing header. Every
file must end with a verdict (exit 0, 1 or 3) or bad input (exit 2) - never a traceback -
within a generous memory and time bound (issue 12: one bad timestamp used to take 2.7 GB).
The budget is fixed (``max_examples``, ``derandomize``) so CI runs the same cases in seconds.
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelcanary._files import load
from modelcanary.cli._main import app

PEAK_BYTES = 150 * 1024 * 1024
"""Generous cap on memory traced during one run (a good 100-row log needs a few MB)."""
SECONDS_PER_RUN = 60.0
"""Generous bound on one run (a bound against hangs, not a speed target)."""
HEADER = ["timestamp", "version", "latency_ms", "status", "prediction", "request_id"]
T0 = 1_700_000_000

TIMESTAMPS = st.one_of(
    st.integers(0, 600).map(lambda s: f"{T0 + s}.{s % 1000:03d}"),  # good seconds
    st.integers(0, 600).map(lambda s: str((T0 + s) * 1000)),  # milliseconds among seconds
    st.sampled_from(
        [
            "1e308",
            "-1e308",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "+Inf",
            "-1",
            "0",
            "",
            " ",
            "x",
            "1e10",
            "10000000001",
            "9" * 400,
            "0x10",
            "1_700_000_000",
            "\uff11\uff17",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
VERSIONS = st.sampled_from(
    ["champion", "challenger", "primary", "canary", "CHAMPION", "", "blue", "x" * 5000]
)
LATENCIES = st.one_of(
    st.floats(0, 2000).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", "nan", "inf", "-inf", "-5", "1e308", "9" * 400, "86400001", "abc"]),
)
STATUSES = st.one_of(
    st.sampled_from(
        [
            "200",
            "200",
            "503",
            "500",
            "0",
            "999",
            "1000",
            "-1",
            "200.5",
            "2e2",
            "nan",
            "inf",
            "1e308",
            "",
            "OK",
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
)
PREDICTIONS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "legit", "fraud", "nan", "inf", "-inf", "1e308", "-1e308", "9" * 400]),
    st.text(max_size=8),
)
REQUEST_IDS = st.one_of(st.integers(0, 40).map(lambda i: f"r{i}"), st.just(""), st.text(max_size=8))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV log: a header (sometimes broken), rows of hostile cells, sometimes bad bytes."""
    header = list(HEADER)
    if draw(st.booleans()):
        header = draw(st.permutations(HEADER))
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    lines = [",".join(header)] if draw(st.integers(0, 14)) else []
    odds = draw(st.sampled_from([0, 0, 0, 1, 5, 40]))  # per mille of hostile cells
    every = draw(st.sampled_from([5, 50, 1000]))  # one 5xx per `every` rows: fail or pass
    for _ in range(draw(st.one_of(st.integers(0, 10), st.integers(100, 200)))):
        hostile = {
            "timestamp": TIMESTAMPS,
            "version": VERSIONS,
            "latency_ms": LATENCIES,
            "status": STATUSES,
            "prediction": PREDICTIONS,
            "request_id": REQUEST_IDS,
        }
        row = {
            k: draw(v) if draw(st.integers(1, 1000)) <= odds else None for k, v in hostile.items()
        }
        cells = [_cell(name, row[name], len(lines), every) for name in header or HEADER]
        width = (
            draw(st.sampled_from([0, 0, 0, -1, 1, 3])) if draw(st.integers(1, 1000)) <= odds else 0
        )
        cells = cells[: len(cells) + width] if width < 0 else cells + ["7"] * width
        lines.append(",".join(cells))
    text = "\n".join(lines) + ("\n" if draw(st.booleans()) else "")
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 7)) == 0:  # bytes that are not UTF-8 text, or NUL
        at = draw(st.integers(0, len(data)))
        data = (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80"]))
            + data[at:]
        )
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


def _cell(name: str, value: str | None, index: int, every: int) -> str:
    """The drawn value, or a plausible good one (so most rows are valid and the replay runs)."""
    if value is not None:
        text = value
    elif name == "timestamp":
        text = f"{T0 + index * 0.8:.3f}"
    elif name == "version":
        text = "challenger" if index % 3 == 0 else "champion"
    elif name == "status":
        text = "503" if index % every == 0 else "200"
    elif name == "latency_ms":
        text = f"{40 + (index * 37) % 60}.5"
    elif name == "prediction":
        text = "fraud" if index % 11 == 0 else "legit"
    else:
        text = f"r{index // 2}"
    if any(c in text for c in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rollout whose analysis touches every judge the log feeds: sequential, threshold
    (drift, agreement) and mann-whitney."""
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fuzz"},
        "spec": {
            "champion": {"modelUri": "models:/m@champion"},
            "challenger": {"modelUri": "models:/m@challenger"},
            "analysis": {
                "interval": "30s",
                "threshold": 2,
                "mirror": True,
                "stepWeights": [10, 50],
                "metrics": [
                    {"name": "error-rate", "thresholdRange": {"max": 0.05}},
                    {"name": "latency-p99", "thresholdRange": {"max": 500}, "noData": "skip"},
                    {
                        "name": "prediction-drift",
                        "method": "ks",
                        "thresholdRange": {"max": 0.5},
                        "noData": "skip",
                    },
                    {
                        "name": "prediction-agreement",
                        "thresholdRange": {"min": 0.5},
                        "noData": "skip",
                    },
                    {
                        "name": "request-success-rate",
                        "judge": "mann-whitney",
                        "thresholdRange": {"min": 90},
                        "noData": "skip",
                    },
                ],
            },
        },
    }
    path = tmp_path_factory.mktemp("fuzz-backtest") / "rollout.yaml"
    path.write_text(yaml.safe_dump(doc))
    load(path)  # the spec is valid: every exit 2 below is about the log
    return path


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=csv_files(), as_json=st.booleans())
def test_any_csv_gives_a_verdict_or_exit_2_never_a_traceback(
    spec_file: Path, data: bytes, as_json: bool
) -> None:
    log = spec_file.parent / "log.csv"
    log.write_bytes(data)
    args = ["backtest", str(spec_file), "--data", str(log), *(["--json"] if as_json else [])]
    tracemalloc.start()
    began = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no numpy noise on stderr either
            result = CliRunner().invoke(app, args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - began
    output = result.output
    event(f"exit {result.exit_code}")  # the mix shows with --hypothesis-show-statistics
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code in (0, 1, 2, 3), output
    assert "Traceback" not in output
    if result.exit_code == 2:
        assert f"error in {log}" in output  # about the log, never the (valid) spec
    assert peak < PEAK_BYTES, f"traced peak {peak / 1e6:.0f} MB"
    assert elapsed < SECONDS_PER_RUN
