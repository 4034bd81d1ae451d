"""Contour, Gloo and App Mesh: the shape of their objects, their limits, their schemas."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from router_cases import MATCH, SERVICE, rollout
from router_schemas import assert_valid, problems

from modelcanary.errors import RouterError
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.routers._base import ROUTES_ANNOTATION
from modelcanary.spec import MatchCondition, ModelRollout, parse_rollout, parse_rollout_yaml

PROXY = ("projectcontour.io/v1", "HTTPProxy", "ml", "fraud")
ROUTERS_API = {"projectcontour.io/v1", "gateway.solo.io/v1", "appmesh.k8s.aws/v1beta2"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "routers.md"


def _rollout(provider: str, **service: Any) -> ModelRollout:
    """A rollout keeping every service field (router_cases drops Istio-only ones)."""
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "targetRef": {"name": "fraud"},
            "router": {"provider": provider},
            "service": {**copy.deepcopy(SERVICE), **service},
            "analysis": {
                "interval": "1m",
                "stepWeights": [10],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
        },
    }
    return parse_rollout(doc)


def test_contour_http_proxy_shape() -> None:
    routes = Routes(champion_weight=70, challenger_weight=30, mirror_weight=20, match=MATCH)
    (proxy,) = ROUTERS["contour"](MemoryObjectStore()).render(_rollout("contour"), routes)
    assert_valid([proxy])
    ab_header, ab_cookie, split = proxy["spec"]["routes"]
    assert ab_header["conditions"] == [
        {"prefix": "/v1/"},  # service.match[0].uri.prefix, as Flagger
        {"header": {"name": "x-cohort", "exact": "beta"}},
    ]
    assert ab_cookie["conditions"][1]["header"] == {
        "name": "cookie",
        "regex": r"^(.*?;\s*)?(canary=always)(;.*)?$",
    }
    assert [s["name"] for s in ab_header["services"]] == ["fraud-canary"]
    assert split["conditions"] == [{"prefix": "/v1/"}]
    assert [(s["name"], s.get("mirror", False), s["weight"]) for s in split["services"]] == [
        ("fraud-primary", False, 70),
        ("fraud-canary", False, 30),
        ("fraud-canary", True, 20),
    ]
    assert split["services"][0]["requestHeadersPolicy"] == {
        "set": [{"name": "l5d-dst-override", "value": "fraud-primary.ml.svc.cluster.local:8080"}]
    }
    assert split["timeoutPolicy"] == {"response": "30s"}
    assert split["retryPolicy"] == {
        "count": 3,
        "perTryTimeout": "2s",
        "retryOn": ["gateway-error", "connect-failure"],
    }
    assert split["requestHeadersPolicy"] == {"set": [{"name": "x-model", "value": "fraud"}]}
    assert "&id" not in yaml.safe_dump(proxy)  # no shared sub-objects (YAML anchors)


def test_contour_query_and_rich_matches_read_back() -> None:
    cond = MatchCondition.model_validate(
        {
            "headers": {"x-a": {"prefix": "be"}, "x-b": {"regex": "b|c"}},
            "queryParams": {"v": {"suffix": "2"}},
        }
    )
    store = MemoryObjectStore()
    router = ROUTERS["contour"](store)
    ro = rollout("contour")
    router.set_routes(ro, Routes(match=(cond,)))
    proxy = store.get(*PROXY)
    assert proxy is not None
    conditions = proxy["spec"]["routes"][0]["conditions"]
    assert {"header": {"name": "x-a", "regex": "be.*"}} in conditions
    assert {"queryParameter": {"name": "v", "suffix": "2"}} in conditions
    del proxy["metadata"]["annotations"][ROUTES_ANNOTATION]
    store.edit(proxy)  # no desired routes: parsed from the conditions alone
    assert router.get_routes(ro) == Routes(match=(cond,))


def test_contour_mirror_without_weight_is_all_traffic_and_drift_is_corrected() -> None:
    store = MemoryObjectStore()
    router = ROUTERS["contour"](store)
    ro = rollout("contour")
    wanted = Routes(champion_weight=90, challenger_weight=10, mirror_weight=25)
    router.set_routes(ro, wanted)
    proxy = store.get(*PROXY)
    assert proxy is not None
    del proxy["spec"]["routes"][-1]["services"][2]["weight"]  # Contour: omitted = 100 %
    store.edit(proxy)
    assert router.get_routes(ro).mirror_weight == 100
    router.reconcile(ro)
    assert router.get_routes(ro) == wanted


def test_gloo_upstreams_and_route_table_shape() -> None:
    routes = Routes(champion_weight=60, challenger_weight=40, mirror_weight=15, match=MATCH)
    primary, canary, table = ROUTERS["gloo"](MemoryObjectStore()).render(rollout("gloo"), routes)
    assert_valid([primary, canary, table])
    assert (primary["metadata"]["name"], canary["metadata"]["name"]) == (
        "ml-fraud-primaryupstream-8080",
        "ml-fraud-canaryupstream-8080",
    )
    assert canary["spec"] == {
        "kube": {"serviceName": "fraud-canary", "serviceNamespace": "ml", "servicePort": 8080}
    }
    ab, split = table["spec"]["routes"]
    assert ab["matchers"][0] == {"headers": [{"name": "x-cohort", "value": "beta"}]}
    assert ab["matchers"][1]["headers"][0]["regex"] is True
    assert ab["routeAction"] == {
        "single": {"upstream": {"name": "ml-fraud-canaryupstream-8080", "namespace": "ml"}}
    }
    assert split["inheritablePathMatchers"] is True
    assert [
        (d["destination"]["upstream"]["name"], d["weight"])
        for d in split["routeAction"]["multi"]["destinations"]
    ] == [("ml-fraud-primaryupstream-8080", 60), ("ml-fraud-canaryupstream-8080", 40)]
    assert split["options"] == {
        "retries": {
            "numRetries": 3,
            "perTryTimeout": "2s",
            "retryOn": "gateway-error,connect-failure",
        },
        "shadowing": {
            "upstream": {"name": "ml-fraud-canaryupstream-8080", "namespace": "ml"},
            "percentage": 15.0,
        },
    }
    assert "shadowing" not in ab["options"]


def test_appmesh_objects_shape() -> None:
    ro = _rollout("appmesh", targetPort=9000, portName="grpc", backends=["features"])
    objects = ROUTERS["appmesh"](MemoryObjectStore()).render(
        ro, Routes(champion_weight=80, challenger_weight=20, match=MATCH)
    )
    assert_valid(objects)
    primary, canary, canary_router, canary_service, apex_service, apex_router = objects
    assert primary["spec"]["podSelector"] == {"matchLabels": {"app": "fraud-primary"}}
    assert canary["spec"]["podSelector"] == {"matchLabels": {"app": "fraud"}}
    assert canary["spec"]["serviceDiscovery"] == {
        "dns": {"hostname": "fraud-canary.ml.svc.cluster.local"}
    }
    assert canary["spec"]["listeners"] == [{"portMapping": {"port": 9000, "protocol": "grpc"}}]
    assert canary["spec"]["backends"] == [
        {"virtualService": {"virtualServiceRef": {"name": "features"}}}
    ]
    assert canary_router["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"] == [
        {"virtualNodeRef": {"name": "fraud-canary"}, "weight": 100}
    ]
    assert canary_service["spec"]["provider"] == {
        "virtualRouter": {"virtualRouterRef": {"name": "fraud-canary"}}
    }
    notes = apex_service["metadata"]["annotations"]
    assert notes["gateway.appmesh.k8s.aws/domain"] == "fraud.example.com,"
    assert notes["gateway.appmesh.k8s.aws/retries"] == "3"
    ab0, ab1, split = apex_router["spec"]["routes"]
    assert (ab0["priority"], ab1["priority"], split["priority"]) == (10, 11, 1000)
    assert ab0["httpRoute"]["match"] == {
        "prefix": "/v1/",
        "headers": [{"name": "x-cohort", "match": {"exact": "beta"}}],
    }
    assert split["httpRoute"]["action"]["weightedTargets"] == [
        {"virtualNodeRef": {"name": "fraud-canary"}, "weight": 20},
        {"virtualNodeRef": {"name": "fraud-primary"}, "weight": 80},
    ]
    assert split["httpRoute"]["retryPolicy"] == {
        "maxRetries": 3,
        "perRetryTimeout": {"unit": "ms", "value": 2000},
        "httpRetryEvents": ["gateway-error"],
        "tcpRetryEvents": ["connection-error"],  # from connect-failure
    }
    assert "&id" not in yaml.safe_dump_all(objects)
    retries = {"attempts": 2, "retryOn": "5xx,retriable-4xx,reset"}
    ro = _rollout("appmesh", retries=retries)
    router = ROUTERS["appmesh"](MemoryObjectStore()).render(ro, Routes())[-1]
    assert router["spec"]["routes"][-1]["httpRoute"]["retryPolicy"] == {
        "maxRetries": 2,
        "perRetryTimeout": {"unit": "ms", "value": 250},  # Flagger's default
        "httpRetryEvents": ["server-error", "client-error"],
        "tcpRetryEvents": ["connection-error"],
    }


@pytest.mark.parametrize("provider", ["contour", "gloo", "appmesh"])
def test_schema_check_catches_wrong_fields(provider: str) -> None:
    """The excerpts are not vacuous: a misspelt field or a wrong type fails."""
    objects = ROUTERS[provider](MemoryObjectStore()).render(rollout(provider), Routes())
    weights = objects[-1]
    spec = weights["spec"]
    if provider == "contour":
        spec["routes"][-1]["services"][0]["weigth"] = 5
        spec["routes"][-1]["services"][1]["weight"] = "high"
    elif provider == "gloo":
        spec["routes"][-1]["routeAction"]["multi"]["destinations"][0]["weigth"] = 5
        spec["routes"][-1]["routeAction"]["multi"]["destinations"][1]["weight"] = "high"
    else:
        targets = spec["routes"][-1]["httpRoute"]["action"]["weightedTargets"]
        targets[0]["weigth"] = 5
        targets[1]["weight"] = 101  # App Mesh: 0-100
    found = problems(weights)
    assert any("weigth" in p for p in found), found
    assert len(found) >= 2, found


@pytest.mark.parametrize(
    ("provider", "routes", "message"),
    [
        (
            "gloo",
            Routes(match=(MatchCondition.model_validate({"sourceLabels": {"app": "x"}}),)),
            "gloo cannot match on sourceLabels .*: gloo supports weights, mirror, "
            "A/B match on headers/cookies/queryParams",
        ),
        ("appmesh", Routes(mirror_weight=10), "appmesh cannot mirror"),
        (
            "appmesh",
            Routes(match=(MatchCondition.model_validate({"queryParams": {"a": {"exact": "b"}}}),)),
            "appmesh cannot match on queryParams .* A/B match on headers/cookies",
        ),
        (
            "contour",
            Routes(match=(MatchCondition.model_validate({"sourceLabels": {"app": "x"}}),)),
            "contour cannot match on sourceLabels",
        ),
        (
            "contour",
            Routes(
                match=(
                    MatchCondition.model_validate(
                        {"cookies": {"a": {"exact": "1"}, "b": {"exact": "2"}}}
                    ),
                )
            ),
            "one cookie per condition",
        ),
        (
            "gloo",
            Routes(
                match=(
                    MatchCondition.model_validate(
                        {"cookies": {"a": {"exact": "1"}}, "headers": {"Cookie": {"exact": "x"}}}
                    ),
                )
            ),
            "one cookie per condition",
        ),
        (
            "appmesh",
            Routes(
                match=(MatchCondition.model_validate({"headers": {"x": {"exact": "v" * 256}}}),)
            ),
            "beyond App Mesh's limits",
        ),
        (
            "appmesh",
            Routes(
                match=(
                    MatchCondition.model_validate(
                        {"headers": {f"h{i}": {"exact": "1"} for i in range(11)}}
                    ),
                )
            ),
            "at most 10 headers",
        ),
    ],
)
def test_unsupported_features_fail_before_writing(
    provider: str, routes: Routes, message: str
) -> None:
    store = MemoryObjectStore()
    with pytest.raises(RouterError, match=message):
        ROUTERS[provider](store).set_routes(rollout(provider), routes)
    assert len(store) == 0


def test_finalize_leaves_nothing_of_appmesh_and_gloo() -> None:
    for provider in ("appmesh", "gloo"):
        store = MemoryObjectStore()
        router = ROUTERS[provider](store)
        ro = rollout(provider, uid="u-1")
        router.set_routes(ro, Routes(match=MATCH))
        created = len(store)
        assert created == len(router.owned(ro))
        router.finalize(ro)
        assert len(store) == 0


@pytest.mark.parametrize(
    ("provider", "kind", "routes"),
    [
        (
            "contour",
            "HTTPProxy",
            Routes(champion_weight=80, challenger_weight=20, mirror_weight=50),
        ),
        ("gloo", "RouteTable", Routes(champion_weight=80, challenger_weight=20, match=MATCH[:1])),
        (
            "appmesh",
            "VirtualRouter",
            Routes(champion_weight=80, challenger_weight=20, match=MATCH[:1]),
        ),
    ],
)
def test_doc_example_is_the_rendered_object(provider: str, kind: str, routes: Routes) -> None:
    """docs/routers.md shows what the router renders for the doc's rollout."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (rollout_text,) = [b for b in blocks if "kind: ModelRollout" in b]
    documented = next(
        doc
        for b in blocks
        if (doc := yaml.safe_load(b)).get("kind") == kind and doc["apiVersion"] in ROUTERS_API
    )
    objects = ROUTERS[provider](MemoryObjectStore()).render(
        parse_rollout_yaml(rollout_text), routes
    )
    rendered = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == "fraud")
    assert documented["spec"] == rendered["spec"]
    assert documented["apiVersion"] == rendered["apiVersion"]


def test_gloo_upstreams_copy_the_settings_of_upstream_ref() -> None:
    config = {
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "metadata": {"name": "tuned", "namespace": "gloo-system"},
        "spec": {
            "circuitBreakers": {"maxConnections": 64},
            "connectionConfig": {"connectTimeout": "2s"},
            "static": {"hosts": [{"addr": "10.0.0.1", "port": 80}]},  # not copied: a type
        },
    }
    doc = rollout("gloo").model_dump(by_alias=True, exclude_none=True)
    doc["spec"]["upstreamRef"] = {"name": "tuned", "namespace": "gloo-system"}
    ro = parse_rollout(doc)
    with pytest.raises(RouterError, match=r"Upstream gloo-system/tuned .* does not exist"):
        ROUTERS["gloo"](MemoryObjectStore()).reconcile(ro)
    store = MemoryObjectStore([config])
    router = ROUTERS["gloo"](store)
    router.set_routes(ro, Routes(champion_weight=50, challenger_weight=50))
    primary = store.get("gloo.solo.io/v1", "Upstream", "ml", "ml-fraud-primaryupstream-8080")
    assert primary is not None
    assert primary["spec"] == {
        "circuitBreakers": {"maxConnections": 64},
        "connectionConfig": {"connectTimeout": "2s"},
        "kube": {"serviceName": "fraud-primary", "serviceNamespace": "ml", "servicePort": 8080},
    }
    assert_valid([primary])
    router.finalize(ro)
    assert [o["metadata"]["name"] for o in store] == ["tuned"]  # the config Upstream stays


@pytest.mark.parametrize(("attempts", "count"), [(0, -1), (None, 1), (4, 4)])
def test_contour_retry_count(attempts: int | None, count: int) -> None:
    retries = {"perTryTimeout": "1s", **({} if attempts is None else {"attempts": attempts})}
    (proxy,) = ROUTERS["contour"](MemoryObjectStore()).render(
        _rollout("contour", retries=retries), Routes()
    )
    assert proxy["spec"]["routes"][-1]["retryPolicy"] == {"count": count, "perTryTimeout": "1s"}
    assert_valid([proxy])
