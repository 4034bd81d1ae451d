"""The SLI catalogue is the one home of built-in SLI facts, and the YAML reads units as the SDK.

- A syntax-tree scan fails when any module outside ``spec/_catalogue.py`` holds a set, list or
  tuple literal with two or more built-in SLI names, or a dict literal keyed by two or more of
  them with constant values (a second catalogue). A dict of values computed per SLI (a
  provider's or the backtest's results) is data, not a table of facts, and passes.
- Every fact other modules used to keep (units, latency quantiles, sequential eligibility,
  Flagger equivalents, Prometheus scheme series) is read from the catalogue.
- ``thresholdRange.min/max`` in YAML accept the SDK's unit strings, converted once at
  validation; a bad unit is a SpecError naming the bound and how to write it.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from spec_cases import base, set_path

import modelcanary as mc
from modelcanary.analysis._checks import UNITS
from modelcanary.errors import SpecError
from modelcanary.providers._schemes import Scheme
from modelcanary.spec import parse_rollout, to_yaml
from modelcanary.spec._catalogue import (
    BUILTIN_METRICS,
    CATALOGUE,
    FLAGGER_EQUIVALENTS,
    LATENCY_QUANTILES,
    SEQUENTIAL_METRICS,
)

PACKAGE = Path(mc.__file__).parent
CATALOGUE_FILE = PACKAGE / "spec" / "catalogue.py"


def _second_catalogues(root: Path) -> list[str]:
    """``file:line`` of every collection literal naming two or more built-in SLIs."""
    names = set(CATALOGUE)
    found: list[str] = []
    for file in sorted(root.rglob("*.py")):
        if file == CATALOGUE_FILE:
            continue
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            items: list[ast.expr | None] = []
            if isinstance(node, ast.Dict):
                constant = all(isinstance(v, ast.Constant) for v in node.values)
                items = [*node.keys, *node.values] if constant else []
            elif isinstance(node, ast.Set | ast.List | ast.Tuple):
                items = list(node.elts)
            hits = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
            if len(hits) >= 2:
                found.append(f"{file.relative_to(root.parent)}:{node.lineno} {sorted(hits)}")
    return found


def test_no_second_catalogue_of_builtin_slis() -> None:
    assert _second_catalogues(PACKAGE) == []


def test_scan_catches_a_copied_table(tmp_path: Path) -> None:
    package = tmp_path / "modelcanary"
    package.mkdir()
    (package / "copy.py").write_text('LATENCY = frozenset({"latency-p50", "latency-p99"})\n')
    (package / "units.py").write_text('U = {"error-rate": "fraction", "throughput": "rps"}\n')
    (package / "fine.py").write_text(
        'ONE = {"error-rate": 0.01}\n'
        'def f(a, b):\n    return {"error-rate": a(), "throughput": b()}\n'
    )
    assert _second_catalogues(package) == [
        "modelcanary/copy.py:1 ['latency-p50', 'latency-p99']",
        "modelcanary/units.py:1 ['error-rate', 'throughput']",
    ]


def test_every_row_is_complete_and_consistent() -> None:
    assert list(BUILTIN_METRICS) == list(CATALOGUE)
    scheme_fields = {f.name for f in dataclasses.fields(Scheme)}
    for name, row in CATALOGUE.items():
        assert row.name == name and row.description
        assert row.direction in ("lower", "higher")
        assert "threshold" in row.judges
        assert row.scheme_series is None or row.scheme_series in scheme_fields, name
        assert (row.quantile is not None) == (row.unit == "ms"), name
    assert {"error-rate", "request-success-rate", *LATENCY_QUANTILES} == SEQUENTIAL_METRICS
    assert FLAGGER_EQUIVALENTS == {
        "error-rate": "request-success-rate",
        "latency-p99": "request-duration",
    }


def test_analysis_reason_units_come_from_the_catalogue() -> None:
    assert UNITS["latency-p99"] == " ms" and UNITS["request-success-rate"] == " %"
    assert UNITS["throughput"] == " rps" and "error-rate" not in UNITS


def _metric(**fields: Any) -> Any:
    doc = set_path(base(), "spec.analysis.metrics", [fields])
    return parse_rollout(doc).spec.analysis.metrics[0]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "error-rate", "thresholdRange": {"max": "1%"}}, (None, 0.01)),
        ({"name": "latency-p99", "thresholdRange": {"max": "250ms"}}, (None, 250.0)),
        ({"name": "latency-p95", "thresholdRange": {"max": "1.5s"}}, (None, 1500.0)),
        ({"name": "request-success-rate", "thresholdRange": {"min": "99%"}}, (99.0, None)),
        ({"name": "throughput", "thresholdRange": {"min": "100rps"}}, (100.0, None)),
        (
            {"name": "latency-p99", "relativeTo": "champion", "thresholdRange": {"max": "+10%"}},
            (None, 1.1),
        ),
        (
            {
                "name": "error-rate",
                "relativeTo": "champion",
                "comparison": "difference",
                "thresholdRange": {"max": "+1%"},
            },
            (None, 0.01),
        ),
    ],
)
def test_yaml_bounds_accept_the_sdk_unit_strings(fields: Any, expected: Any) -> None:
    metric = _metric(**fields)
    rng = metric.threshold_range
    assert (rng.min, rng.max) == pytest.approx(expected)
    assert "%" not in to_yaml(parse_rollout(set_path(base(), "spec.analysis.metrics", [fields])))


def test_yaml_and_sdk_give_the_same_metric() -> None:
    sdk = (mc.sli.error_rate() < "1%").metric
    assert _metric(name="error-rate", thresholdRange={"max": "1%"}) == sdk
    sdk = (mc.sli.latency(p=99) < "250ms").metric
    assert _metric(name="latency-p99", thresholdRange={"max": "250ms"}) == sdk


@pytest.mark.parametrize(
    ("fields", "bound", "fix"),
    [
        ({"name": "latency-p99", "thresholdRange": {"max": "250 bananas"}}, "max", "250ms"),
        ({"name": "error-rate", "thresholdRange": {"max": "high"}}, "max", "'1%' or 0.01"),
        ({"name": "error-rate", "thresholdRange": {"min": "-1%", "max": "2%"}}, "min", "'1%'"),
        ({"name": "error-rate", "thresholdRange": {"max": "0.01"}}, "max", "without quotes"),
        (
            {"name": "conversion", "query": "sum(x)", "thresholdRange": {"min": "5%"}},
            "min",
            "a number",
        ),
    ],
)
def test_bad_unit_names_the_bound_and_the_fix(fields: Any, bound: str, fix: str) -> None:
    with pytest.raises(SpecError) as info:
        _metric(**fields)
    issues = info.value.issues
    assert [i.path for i in issues] == [f"spec.analysis.metrics[0].thresholdRange.{bound}"]
    assert fix in issues[0].hint


def test_crd_pattern_matches_what_validation_reads() -> None:
    from modelcanary.spec._metric_spec import BOUND_PATTERN

    for text in ("1%", "+10%", "250ms", "1.5s", "1m30s", "100rps"):
        assert re.match(BOUND_PATTERN, text), text
    for text in ("0.01", "high", "250 bananas", "1%%", ""):
        assert not re.match(BOUND_PATTERN, text), text


def test_deprecated_threshold_is_read_once_at_validation() -> None:
    success = _metric(name="request-success-rate", threshold=99)
    duration = _metric(name="request-duration", threshold=500)
    assert success.effective_range() is success.effective_range()  # no new range per use
    assert (success.effective_range().min, success.effective_range().max) == (99, None)
    assert (duration.effective_range().min, duration.effective_range().max) == (None, 500)
    assert "thresholdRange" not in success.to_dict()  # kept as written: YAML round-trips
