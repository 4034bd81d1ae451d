"""``modelcanary render``: multi-document YAML that validates, clean exit 2 on bad input."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from router_cases import APISIX_ROUTE, INFERENCE_SERVICE, INGRESS, SERVICE
from router_schemas import assert_valid
from typer.testing import CliRunner

from modelcanary.cli._main import app

runner = CliRunner()


def _rollout(provider: str = "istio", **analysis: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "targetRef": {"name": "fraud"},
            "router": {"provider": provider},
            "service": copy.deepcopy(SERVICE),
            "routeRef": {"name": "fraud"},
            "analysis": {
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                **(analysis or {"stepWeights": [10, 50]}),
            },
        },
    }


def _write(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("provider", "args", "kinds"),
    [
        (
            "istio",
            ["--weight", "20", "--mirror", "10"],
            ["DestinationRule", "DestinationRule", "VirtualService"],
        ),
        ("gatewayapi", ["-w", "35"], ["HTTPRoute"]),
        ("nginx", ["--weight", "5"], ["Ingress"]),
        ("linkerd", ["--weight", "50"], ["TrafficSplit"]),
        ("smi", [], ["TrafficSplit"]),
        ("kuma", ["--weight", "10", "--mirror", "100"], ["MeshHTTPRoute"]),
        ("kserve", ["--weight", "30"], ["InferenceService"]),
        ("skipper", ["--weight", "30"], ["Ingress"]),
        ("traefik", ["--weight", "40"], ["TraefikService"]),
        ("apisix", ["--weight", "40"], ["ApisixRoute"]),
        ("contour", ["--weight", "40", "--mirror", "20"], ["HTTPProxy"]),
        ("gloo", ["--weight", "40", "--mirror", "5"], ["Upstream", "Upstream", "RouteTable"]),
        (
            "appmesh",
            ["--weight", "40"],
            [
                "VirtualNode",
                "VirtualNode",
                "VirtualRouter",
                "VirtualService",
                "VirtualService",
                "VirtualRouter",
            ],
        ),
    ],
)
def test_render_prints_valid_objects(
    tmp_path: Path, provider: str, args: list[str], kinds: list[str]
) -> None:
    file = _write(tmp_path, _rollout(), INGRESS, INFERENCE_SERVICE, APISIX_ROUTE)
    result = runner.invoke(app, ["render", file, "--provider", provider, *args])
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(result.stdout))
    assert [o["kind"] for o in objects] == kinds
    assert_valid(objects)
    assert all(o["metadata"]["namespace"] == "ml" for o in objects)


def test_render_ab_match_from_the_file(tmp_path: Path) -> None:
    doc = _rollout(iterations=5, match=[{"headers": {"x-cohort": {"exact": "beta"}}}])
    result = runner.invoke(app, ["render", _write(tmp_path, doc), "--match"])
    assert result.exit_code == 0, result.output
    vs = list(yaml.safe_load_all(result.stdout))[-1]
    assert vs["spec"]["http"][0]["match"][0]["headers"] == {"x-cohort": {"exact": "beta"}}
    assert_valid([vs])


def test_render_reads_standard_input() -> None:
    result = runner.invoke(
        app, ["render", "-", "-p", "linkerd", "-w", "15"], input=yaml.safe_dump(_rollout())
    )
    assert result.exit_code == 0, result.output
    (split,) = yaml.safe_load_all(result.stdout)
    assert split["spec"]["backends"][1] == {"service": "fraud-canary", "weight": 15}


@pytest.mark.parametrize(
    ("docs", "args", "message"),
    [
        ([_rollout()], ["-p", "nginx", "--mirror", "20"], "nginx cannot mirror"),
        ([_rollout()], ["-p", "nginx"], "Ingress ml/fraud"),
        ([_rollout()], ["-p", "local"], "set spec.router.provider to a mesh"),
        ([_rollout()], ["-p", "envoy"], "unknown provider 'envoy'"),
        ([_rollout()], ["--match"], "spec.analysis.match"),
        ([_rollout(), _rollout()], [], "expected exactly one ModelRollout"),
        ([_rollout(), {"kind": "Ingress"}], [], "is not a Kubernetes object"),
        ([{**_rollout(), "spec": "oops"}], ["-p", "istio"], "spec"),
        ([_rollout(mirror=True, stepWeights=[10])], ["-p", "linkerd"], "cannot mirror traffic"),
    ],
)
def test_render_bad_input_exits_2(
    tmp_path: Path, docs: list[dict[str, Any]], args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["render", _write(tmp_path, *docs), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_render_out_of_range_weight_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", _write(tmp_path, _rollout()), "--weight", "120"])
    assert result.exit_code == 2


def test_render_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "does not exist" in result.output
