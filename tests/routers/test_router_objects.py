"""Every router x strategy renders objects valid against the real schemas, with the right shape."""

from __future__ import annotations

import pytest
from router_cases import AFFINITY, INFERENCE_SERVICE, MATCH, all_cases, rollout, store_for
from router_schemas import assert_valid, problems

from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import MatchCondition


@pytest.mark.parametrize(("provider", "case", "routes"), all_cases(), ids=lambda v: str(v)[:20])
def test_rendered_objects_validate(provider: str, case: str, routes: Routes) -> None:
    router = ROUTERS[provider](store_for(provider))
    objects = router.render(rollout(provider), routes)
    assert objects
    assert_valid(objects)
    store = store_for(provider)
    ROUTERS[provider](store).set_routes(rollout(provider), routes)
    assert_valid(list(store))  # what the store holds (inputs included) validates too


def test_schema_check_catches_a_wrong_field() -> None:
    """The validation is not vacuous: a misspelt or mistyped field fails."""
    vs = ROUTERS["istio"](MemoryObjectStore()).render(rollout("istio"), Routes())[-1]
    vs["spec"]["http"][-1]["route"][0]["weigth"] = 5
    vs["spec"]["http"][-1]["mirrorPercentage"] = {"value": "high"}
    found = problems(vs)
    assert any("weigth" in p for p in found) and any("high" in p for p in found), found
    ingress = ROUTERS["nginx"](store_for("nginx")).render(rollout("nginx"), Routes())[0]
    ingress["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = 7
    assert problems(ingress)


def test_istio_virtual_service_shape() -> None:
    ro = rollout("istio")
    routes = Routes(champion_weight=70, challenger_weight=30, mirror_weight=40, match=MATCH)
    dr_primary, dr_canary, vs = ROUTERS["istio"](MemoryObjectStore()).render(ro, routes)
    assert (dr_primary["spec"]["host"], dr_canary["spec"]["host"]) == (
        "fraud-primary",
        "fraud-canary",
    )
    assert dr_primary["spec"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    spec = vs["spec"]
    assert spec["hosts"] == ["fraud.example.com", "fraud"]
    assert spec["gateways"] == ["istio-system/public-gateway", "mesh"]
    ab0, ab1, split = spec["http"]
    assert ab0["match"] == [{"uri": {"prefix": "/v1/"}, "headers": {"x-cohort": {"exact": "beta"}}}]
    assert ab1["match"][0]["headers"]["cookie"]["regex"] == r"^(.*?;\s*)?(canary=always)(;.*)?$"
    assert [d["destination"]["host"] for d in ab0["route"]] == ["fraud-canary"]
    assert [(d["destination"]["host"], d["weight"]) for d in split["route"]] == [
        ("fraud-primary", 70),
        ("fraud-canary", 30),
    ]
    assert split["mirror"] == {"host": "fraud-canary", "port": {"number": 8080}}
    assert split["mirrorPercentage"] == {"value": 40.0}
    assert split["retries"] == {
        "attempts": 3,
        "perTryTimeout": "2s",
        "retryOn": "gateway-error,connect-failure",
    }
    assert split["timeout"] == "30s" and split["corsPolicy"]["allowMethods"] == ["POST"]
    assert split["match"] == [{"uri": {"prefix": "/v1/"}}]


def test_istio_session_affinity_sets_and_matches_cookies() -> None:
    routes = Routes(champion_weight=80, challenger_weight=20, session_affinity=AFFINITY)
    vs = ROUTERS["istio"](MemoryObjectStore()).render(rollout("istio"), routes)[-1]
    sticky_canary, sticky_primary, split = vs["spec"]["http"]
    assert sticky_canary["route"][0]["destination"]["host"] == "fraud-canary"
    assert r"mc\-canary=" in sticky_canary["match"][0]["headers"]["cookie"]["regex"]
    assert sticky_primary["route"][0]["destination"]["host"] == "fraud-primary"
    cookie = split["route"][1]["headers"]["response"]["add"]["Set-Cookie"]
    assert cookie.startswith("mc-canary=") and "Max-Age=3600" in cookie and "Path=/" in cookie
    # no split (0 or 100 %): nobody is pinned
    whole = Routes(champion_weight=100, challenger_weight=0, session_affinity=AFFINITY)
    vs = ROUTERS["istio"](MemoryObjectStore()).render(rollout("istio"), whole)[-1]
    assert [r["name"] for r in vs["spec"]["http"]] == ["split"]


def test_gatewayapi_http_route_shape() -> None:
    ro = rollout("gatewayapi")
    routes = Routes(champion_weight=60, challenger_weight=40, mirror_weight=25, match=MATCH)
    (route,) = ROUTERS["gatewayapi"](MemoryObjectStore()).render(ro, routes)
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "public", "namespace": "infra", "sectionName": "http"}]
    assert spec["hostnames"] == ["fraud.example.com"]
    ab, split = spec["rules"]
    assert ab["matches"][0]["headers"] == [{"name": "x-cohort", "type": "Exact", "value": "beta"}]
    assert ab["matches"][1]["headers"][0]["name"] == "Cookie"
    assert [(b["name"], b["weight"]) for b in split["backendRefs"]] == [
        ("fraud-primary", 60),
        ("fraud-canary", 40),
    ]
    mirror = split["filters"][0]
    assert mirror["type"] == "RequestMirror"
    assert mirror["requestMirror"] == {
        "backendRef": {"name": "fraud-canary", "port": 8080},
        "percent": 25,
    }
    assert split["timeouts"] == {"request": "30s", "backendRequest": "1500ms"}


def test_nginx_canary_ingress_is_a_redirected_clone() -> None:
    routes = Routes(champion_weight=75, challenger_weight=25, match=MATCH)
    (ingress,) = ROUTERS["nginx"](store_for("nginx")).render(rollout("nginx"), routes)
    assert ingress["metadata"]["name"] == "fraud-canary"
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "25"
    assert notes["nginx.ingress.kubernetes.io/canary-by-header"] == "x-cohort"
    assert notes["nginx.ingress.kubernetes.io/canary-by-header-value"] == "beta"
    assert notes["nginx.ingress.kubernetes.io/canary-by-cookie"] == "canary"
    assert notes["kubernetes.io/ingress.class"] == "nginx"  # copied from the source
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["fraud-canary", "docs"]
    assert ingress["spec"]["tls"][0]["secretName"] == "fraud-tls"
    by_regex = MatchCondition.model_validate({"headers": {"x-cohort": {"regex": "beta|gamma"}}})
    regex = Routes(match=(by_regex,))
    (ingress,) = ROUTERS["nginx"](store_for("nginx")).render(rollout("nginx"), regex)
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary-by-header-pattern"] == "beta|gamma"


def test_smi_versions_and_ab_group() -> None:
    (split,) = ROUTERS["linkerd"](MemoryObjectStore()).render(
        rollout("linkerd"), Routes(champion_weight=95, challenger_weight=5)
    )
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha2"
    assert split["spec"] == {
        "service": "fraud",
        "backends": [
            {"service": "fraud-primary", "weight": 95},
            {"service": "fraud-canary", "weight": 5},
        ],
    }
    group, split = ROUTERS["smi"](MemoryObjectStore()).render(rollout("smi"), Routes(match=MATCH))
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha3"
    assert split["spec"]["matches"] == [{"kind": "HTTPRouteGroup", "name": "fraud-ab"}]
    assert group["spec"]["matches"][0] == {"name": "ab-0", "headers": [{"x-cohort": "^beta$"}]}


def test_kserve_patches_percent_and_keeps_the_predictor() -> None:
    (isvc,) = ROUTERS["kserve"](store_for("kserve")).render(
        rollout("kserve"), Routes(champion_weight=70, challenger_weight=30)
    )
    # only the percent is written: a merge patch never writes back a stale predictor
    assert isvc["spec"] == {"predictor": {"canaryTrafficPercent": 30}}
    assert isvc["metadata"]["annotations"]["serving.kserve.io/enable-tag-routing"] == "true"
    assert "ownerReferences" not in isvc["metadata"]
    assert "modelcanary.io/rollout" not in isvc["metadata"]["labels"]
    store = store_for("kserve")
    ROUTERS["kserve"](store).set_routes(rollout("kserve", uid="u-1"), Routes())
    stored = store.get("serving.kserve.io/v1beta1", "InferenceService", "ml", "fraud")
    assert (
        stored is not None and stored["metadata"]["annotations"]["modelcanary.io/adopted"] == "true"
    )
    assert "ownerReferences" not in stored["metadata"]
    assert stored["spec"]["predictor"]["model"]["storageUri"] == "s3://models/fraud/2"


def test_kserve_keeps_a_model_change_made_between_read_and_write() -> None:
    """A user (or GitOps) moves the model to v3 after the router read the InferenceService:
    the router's write is the percent alone, so v3 stays (the whole spec copied put v2 back)."""
    store = store_for("kserve")
    router = ROUTERS["kserve"](store)
    weights = Routes(champion_weight=70, challenger_weight=30)
    (isvc,) = router.render(rollout("kserve"), weights)  # read happens here
    current = store.get("serving.kserve.io/v1beta1", "InferenceService", "ml", "fraud")
    assert current is not None
    current["spec"]["predictor"]["model"]["storageUri"] = "s3://models/fraud/3"
    store.edit(current)  # the change lands between the read and the write
    store.apply(isvc)
    stored = store.get("serving.kserve.io/v1beta1", "InferenceService", "ml", "fraud")
    assert stored is not None
    assert stored["spec"]["predictor"]["model"]["storageUri"] == "s3://models/fraud/3"
    assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 30


def test_memory_store_removes_only_what_it_applied_before() -> None:
    """Three-way removals, as ``kubectl apply``: a field applied before and no longer given
    goes; a field someone else set stays."""
    store = MemoryObjectStore()
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    store.apply(base | {"data": {"a": "1", "b": "2"}})
    other = store.get("v1", "ConfigMap", "default", "c")
    assert other is not None
    other["data"]["z"] = "theirs"
    store.edit(other)
    store.apply(base | {"data": {"a": "1"}})
    stored = store.get("v1", "ConfigMap", "default", "c")
    assert stored is not None and stored["data"] == {"a": "1", "z": "theirs"}


def test_owner_reference_when_the_rollout_has_a_uid() -> None:
    objs = ROUTERS["istio"](MemoryObjectStore()).render(rollout("istio", uid="u-1"), Routes())
    for obj in objs:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner["kind"] == "ModelRollout" and owner["uid"] == "u-1" and owner["controller"]


def test_skipper_canary_ingress_weights_both_backends() -> None:
    router = ROUTERS["skipper"](store_for("skipper"))
    (ingress,) = router.render(rollout("skipper"), Routes(champion_weight=80, challenger_weight=20))
    notes = ingress["metadata"]["annotations"]
    assert notes["zalando.org/backend-weights"] == '{"fraud-primary":80,"fraud-canary":20}'
    assert notes["zalando.org/skipper-predicate"] == "Weight(100)"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == [
        "fraud-primary",
        "docs",
        "fraud-canary",
    ]
    (ingress,) = router.render(rollout("skipper"), Routes())
    assert ingress["metadata"]["annotations"]["zalando.org/skipper-predicate"] == "False()"


def test_kserve_follows_a_target_ref_of_kind_inference_service() -> None:
    isvc = {**INFERENCE_SERVICE, "metadata": {"name": "scorer", "namespace": "ml"}}
    router = ROUTERS["kserve"](MemoryObjectStore([isvc]))
    ro = rollout("kserve", target={"kind": "InferenceService", "name": "scorer"})
    (obj,) = router.render(ro, Routes(champion_weight=60, challenger_weight=40))
    assert obj["metadata"]["name"] == "scorer"
    assert obj["spec"]["predictor"]["canaryTrafficPercent"] == 40


def test_apisix_canary_route_weights_the_apex_rules_only() -> None:
    router = ROUTERS["apisix"](store_for("apisix"))
    (route,) = router.render(rollout("apisix"), Routes(champion_weight=70, challenger_weight=30))
    assert route["metadata"]["name"] == "fraud-canary"
    (rule,) = route["spec"]["http"]  # the docs rule does not reach the apex Service
    assert rule["name"] == "score-canary" and rule["priority"] == 1
    assert rule["backends"] == [
        {"serviceName": "fraud-primary", "servicePort": 8080, "weight": 70},
        {"serviceName": "fraud-canary", "servicePort": 8080, "weight": 30},
    ]
    assert rule["match"] == {"hosts": ["fraud.example.com"], "paths": ["/*"]}
    assert route["spec"]["ingressClassName"] == "apisix"
