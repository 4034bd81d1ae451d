"""Istio outlier detection (Flagger 1.43-1.44): ``service.trafficPolicy.outlierDetection`` is
checked against Istio's fields and ranges, copied to both DestinationRules (valid against the
vendored Istio CRD), and converted from and to Flagger (whose Canary schema lacks
``outlierDetectionHttpErrorCodes``). The other 1.43-1.44 router fields are rendered and
validated here too: the primary's affinity cookie, Gateway API ``backendTimeout``."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_schema import errors as crd_errors
from router_cases import AFFINITY, rollout, store_for
from router_schemas import assert_valid

from modelcanary.convert import from_flagger, to_flagger
from modelcanary.errors import SpecError
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import ModelRollout, parse_rollout

DATA = Path(__file__).resolve().parents[1] / "data"
OUTLIERS: dict[str, Any] = {
    "consecutive5xxErrors": 5,
    "consecutiveGatewayErrors": 3,
    "consecutiveLocalOriginFailures": 2,
    "splitExternalLocalOriginErrors": True,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 50,
    "minHealthPercent": 20,
}


def _istio(policy: dict[str, Any]) -> ModelRollout:
    doc = rollout("istio").to_dict()
    doc["spec"]["service"]["trafficPolicy"] = policy
    return parse_rollout(doc)


def test_outlier_detection_is_on_both_destination_rules_and_valid() -> None:
    policy = {
        "tls": {"mode": "ISTIO_MUTUAL"},
        "outlierDetection": {**OUTLIERS, "outlierDetectionHttpErrorCodes": [500, 503]},
        "portLevelSettings": [
            {"port": {"number": 8080}, "outlierDetection": {"consecutive5xxErrors": 1}}
        ],
    }
    objects = ROUTERS["istio"](MemoryObjectStore()).render(
        _istio(policy), Routes(champion_weight=80, challenger_weight=20)
    )
    rules = [o for o in objects if o["kind"] == "DestinationRule"]
    assert [r["spec"]["host"] for r in rules] == ["fraud-primary", "fraud-canary"]
    for rule in rules:
        assert rule["spec"]["trafficPolicy"] == policy  # the same copy on both, as Flagger
    assert_valid(objects)  # against the vendored Istio CRD, unknown (pruned) fields included


def test_the_istio_schema_check_sees_outlier_detection_fields() -> None:
    """Not vacuous: the vendored DestinationRule schema refuses a wrong type in the block."""
    crd = next(
        d
        for d in yaml.safe_load_all((DATA / "crds" / "istio-networking.yaml").read_text())
        if d and d["spec"]["names"]["kind"] == "DestinationRule"
    )
    rule = ROUTERS["istio"](MemoryObjectStore()).render(
        _istio({"outlierDetection": OUTLIERS}), Routes()
    )[0]
    rule["spec"]["trafficPolicy"]["outlierDetection"]["maxEjectionPercent"] = "half"
    assert any("maxEjectionPercent" in e for e in crd_errors(crd, rule, "v1"))


@pytest.mark.parametrize(
    ("block", "field", "why"),
    [
        (
            {"consecutive5xxErors": 5},
            "outlierDetection.consecutive5xxErors",
            "consecutive5xxErrors",
        ),
        ({"maxEjectionPercent": 150}, "outlierDetection.maxEjectionPercent", "100"),
        ({"consecutive5xxErrors": -1}, "outlierDetection.consecutive5xxErrors", "0"),
        ({"consecutive5xxErrors": "five"}, "outlierDetection.consecutive5xxErrors", "integer"),
        ({"interval": "10"}, "outlierDetection.interval", "'30s'"),
        ({"baseEjectionTime": "0.5ms"}, "outlierDetection.baseEjectionTime", "1ms"),
        ({"outlierDetectionHttpErrorCodes": [700]}, "outlierDetectionHttpErrorCodes", "599"),
        ("often", "outlierDetection", "consecutive5xxErrors: 5"),
    ],
)
def test_a_wrong_outlier_setting_is_refused_naming_the_field(
    block: Any, field: str, why: str
) -> None:
    """Before, any value went to the DestinationRules and the API server refused (or pruned)
    it at apply time, mid-rollout."""
    with pytest.raises(SpecError) as caught:
        _istio({"outlierDetection": block})
    text = str(caught.value)
    assert "spec.service.trafficPolicy" in text and field in text and why in text, text


def test_port_level_outlier_detection_is_checked_too() -> None:
    with pytest.raises(SpecError, match=r"portLevelSettings\[0\]\.outlierDetection\.interval"):
        _istio({"portLevelSettings": [{"outlierDetection": {"interval": "soon"}}]})


def _flagger_canary(outliers: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (DATA / "flagger-examples" / "istio-canary.yaml").read_text()
    )
    doc["spec"]["service"]["trafficPolicy"] = {
        "tls": {"mode": "DISABLE"},
        "outlierDetection": outliers,
    }
    return doc


def _flagger_errors(doc: dict[str, Any]) -> list[str]:
    crd = next(
        d
        for d in yaml.safe_load_all((DATA / "crds" / "flagger.yaml").read_text())
        if d and d["spec"]["names"]["kind"] == "Canary"
    )
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    return crd_errors(crd, doc, version)


def test_outlier_detection_converts_from_and_to_flagger() -> None:
    canary = _flagger_canary(dict(OUTLIERS))
    assert _flagger_errors(canary) == []
    converted = from_flagger([canary])
    model = parse_rollout(converted.documents[0])
    assert model.spec.service is not None and model.spec.service.traffic_policy is not None
    assert model.spec.service.traffic_policy["outlierDetection"] == OUTLIERS
    back = to_flagger(model).documents[0]
    assert back["spec"]["service"]["trafficPolicy"] == canary["spec"]["service"]["trafficPolicy"]
    assert _flagger_errors(back) == []


def test_codes_flagger_cannot_hold_are_dropped_with_a_note() -> None:
    """Flagger's Canary schema has no outlierDetectionHttpErrorCodes: its API server would
    prune them silently, so the conversion drops them and says so."""
    model = _istio({"outlierDetection": {**OUTLIERS, "outlierDetectionHttpErrorCodes": [503]}})
    result = to_flagger(model)
    canary = result.documents[0]
    assert canary["spec"]["service"]["trafficPolicy"]["outlierDetection"] == OUTLIERS
    assert any(
        "outlierDetection.outlierDetectionHttpErrorCodes: dropped" in n for n in result.notes
    ), result.notes
    assert model.spec.service is not None and model.spec.service.traffic_policy is not None
    assert (
        "outlierDetectionHttpErrorCodes" in model.spec.service.traffic_policy["outlierDetection"]
    )  # the rollout itself is untouched


def test_a_flagger_canary_with_a_wrong_outlier_setting_names_the_field() -> None:
    canary = _flagger_canary({"consecutive5xxErrors": 5, "maxEjectionPercent": 101})
    with pytest.raises(SpecError, match=r"outlierDetection\.maxEjectionPercent"):
        parse_rollout(from_flagger([canary]).documents[0])


@pytest.mark.parametrize("provider", ["istio", "gatewayapi"])
def test_primary_cookie_and_backend_timeout_render_valid(provider: str) -> None:
    """Flagger 1.43-1.44 fields already on main, rendered and validated: a pin route and a
    Set-Cookie per version (``primaryCookieName``), Gateway API ``backendRequest`` timeout."""
    routes = Routes(champion_weight=60, challenger_weight=40, session_affinity=AFFINITY)
    objects = ROUTERS[provider](store_for(provider)).render(rollout(provider), routes)
    assert_valid(objects)
    text = yaml.safe_dump(objects)
    for cookie in ("mc-canary", "mc-primary"):
        assert re.search(rf"{cookie}=[0-9a-f]{{16}}; Max-Age=3600", text), cookie
    names = [
        r["name"]
        for o in objects
        for r in copy.deepcopy(o["spec"].get("http") or o["spec"].get("rules") or [])
    ]
    assert {"sticky-canary", "sticky-primary"} <= set(names), names
    if provider == "gatewayapi":
        split = objects[0]["spec"]["rules"][-1]
        assert split["timeouts"] == {"request": "30s", "backendRequest": "1500ms"}


def test_the_documented_destination_rule_is_the_rendered_one() -> None:
    """docs/routers.md's outlier-detection example is what the router writes."""
    text = (DATA.parent.parent / "docs" / "routers.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    documented = next(
        b for b in blocks if b.get("kind") == "DestinationRule" and "trafficPolicy" in b["spec"]
    )
    rendered = ROUTERS["istio"](MemoryObjectStore()).render(
        _istio(documented["spec"]["trafficPolicy"]), Routes()
    )[1]
    assert rendered["metadata"]["name"] == documented["metadata"]["name"]
    assert rendered["spec"] == documented["spec"]
