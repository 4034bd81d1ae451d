"""The TrafficRouter contract of every router: round trips, drift, finalize, errors, dispatch."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from router_cases import INGRESS, PROVIDERS, all_cases, rollout, store_for, strategies

from modelcanary.errors import RouterError
from modelcanary.ports import TrafficRouter
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore, RouterSet
from modelcanary.routers._base import ROUTES_ANNOTATION
from modelcanary.spec import MatchCondition


@pytest.mark.parametrize(("provider", "case", "routes"), all_cases(), ids=lambda v: str(v)[:20])
def test_round_trip(provider: str, case: str, routes: Routes) -> None:
    router = ROUTERS[provider](store_for(provider))
    ro = rollout(provider)
    router.set_routes(ro, routes)
    assert router.get_routes(ro) == routes


@pytest.mark.parametrize(("provider", "case", "routes"), all_cases(), ids=lambda v: str(v)[:20])
def test_parse_alone_reads_the_traffic(provider: str, case: str, routes: Routes) -> None:
    """Without the desired-routes annotation, parsing the objects gives the same traffic."""
    store = store_for(provider)
    router = ROUTERS[provider](store)
    ro = rollout(provider)
    router.set_routes(ro, routes)
    for obj in store:
        obj["metadata"].get("annotations", {}).pop(ROUTES_ANNOTATION, None)
        store.delete(
            obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        )
        store.apply(obj)
    assert router.get_routes(ro) == _canonical(provider, routes)


def _canonical(provider: str, routes: Routes) -> Routes:
    """What the objects alone say: header names lowercased where the mesh does, no cookie
    pinning when nothing is split."""
    lower = provider in ("istio", "smi", "kuma")
    match = tuple(
        m.model_copy(update={"headers": {k.lower(): v for k, v in m.headers.items()}})
        if lower and m.headers
        else m
        for m in routes.match
    )
    sticky = routes.session_affinity is not None and 0 < routes.challenger_weight < 100
    return Routes(
        champion_weight=routes.champion_weight,
        challenger_weight=routes.challenger_weight,
        mirror_weight=routes.mirror_weight,
        match=match,
        session_affinity=routes.session_affinity if sticky else None,
    )


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=25, deadline=None)
@given(weight=st.integers(0, 100), mirror=st.integers(0, 100))
def test_round_trip_any_weight(provider: str, weight: int, mirror: int) -> None:
    if not ROUTERS[provider].features.mirror:
        mirror = 0
    if not ROUTERS[provider].features.split:  # a Service selector: 0 or 100 %
        weight = 100 if weight >= 50 else 0
    routes = Routes(champion_weight=100 - weight, challenger_weight=weight, mirror_weight=mirror)
    router = ROUTERS[provider](store_for(provider))
    ro = rollout(provider)
    router.set_routes(ro, routes)
    assert router.get_routes(ro) == routes


def _edit_weights(store: MemoryObjectStore, provider: str) -> None:
    """Someone edits the weights in the cluster (kubectl edit)."""
    for obj in store:
        spec, kind = obj["spec"], obj["kind"]
        if kind == "ApisixRoute" and obj["metadata"]["name"] == "fraud-canary":
            spec["http"][0]["backends"][0]["weight"] = 0
            spec["http"][0]["backends"][1]["weight"] = 100
        elif kind == "HTTPProxy":
            services = spec["routes"][-1]["services"]
            services[0]["weight"], services[1]["weight"] = 0, 100
        elif kind == "RouteTable":
            dests = spec["routes"][-1]["routeAction"]["multi"]["destinations"]
            dests[0]["weight"], dests[1]["weight"] = 0, 100
        elif obj["apiVersion"].startswith("appmesh.k8s.aws/"):
            if kind != "VirtualRouter" or obj["metadata"]["name"] != "fraud":
                continue
            targets = spec["routes"][-1]["httpRoute"]["action"]["weightedTargets"]
            targets[0]["weight"], targets[1]["weight"] = 100, 0  # canary first, as Flagger
        elif kind == "TraefikService":
            spec["weighted"]["services"][0]["weight"] = 0
            spec["weighted"]["services"][1]["weight"] = 100
        elif kind == "MeshHTTPRoute":
            refs = spec["to"][0]["rules"][-1]["default"]["backendRefs"]
            refs[0]["weight"], refs[1]["weight"] = 0, 100
        elif kind == "VirtualService":
            spec["http"][-1]["route"][0]["weight"] = 0
            spec["http"][-1]["route"][1]["weight"] = 100
        elif kind == "HTTPRoute":
            spec["rules"][-1]["backendRefs"][0]["weight"] = 0
            spec["rules"][-1]["backendRefs"][1]["weight"] = 100
        elif kind == "TrafficSplit":
            spec["backends"] = [
                {"service": "fraud-primary", "weight": 0},
                {"service": "fraud-canary", "weight": 100},
            ]
        elif kind == "Ingress" and obj["metadata"]["name"] == "fraud-canary":
            notes = obj["metadata"]["annotations"]
            notes["nginx.ingress.kubernetes.io/canary-weight"] = "100"
            notes["zalando.org/backend-weights"] = '{"fraud-primary":0,"fraud-canary":100}'

        elif kind == "InferenceService":
            spec["predictor"]["canaryTrafficPercent"] = 100
        elif kind == "Service" and obj["apiVersion"] == "serving.knative.dev/v1":
            spec["traffic"] = [{"latestRevision": True, "percent": 100}]
        elif kind == "Service" and obj["apiVersion"] == "v1" and obj["metadata"]["name"] == "fraud":
            spec["selector"] = {"app": "fraud"}  # the apex selects the challenger's pods
        elif kind == "InferenceModelRewrite":
            spec["rules"][0]["targets"] = [{"modelRewrite": "fraud-canary", "weight": 7}]
        elif kind == "LLMInferenceService":
            canary = obj["metadata"]["name"] == "fraud-canary"
            spec["router"]["route"]["weight"] = 100 if canary else 0
        else:
            continue
        store.edit(obj)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reconcile_corrects_drift_and_recreates(provider: str) -> None:
    store = store_for(provider)
    router = ROUTERS[provider](store)
    ro = rollout(provider)
    split = ROUTERS[provider].features.split
    routes = Routes(champion_weight=90, challenger_weight=10) if split else Routes()
    router.set_routes(ro, routes)
    _edit_weights(store, provider)
    assert router.get_routes(ro).challenger_weight == 100  # the drift is visible
    router.reconcile(ro)
    assert router.get_routes(ro) == routes
    # an owned object deleted by hand is created again (kserve owns none: it adopts the isvc)
    owned = router.owned(ro)
    store.delete(*owned[-1])
    if provider in ("kserve", "kserve-llm", "knative"):
        with pytest.raises(
            RouterError, match=r"(InferenceService|Service) ml/fraud.* does not exist"
        ):
            router.reconcile(ro)
        return
    if any(store.get(*k) for k in owned[:-1]):  # the desired routes are on every object
        router.reconcile(ro)
        assert router.get_routes(ro) == routes
    else:  # nothing remembers them: reconcile starts from all traffic on the champion
        router.reconcile(ro)
        assert router.get_routes(ro) == Routes()


def test_reconcile_without_objects_creates_champion_only_routes() -> None:
    store = MemoryObjectStore()
    router = ROUTERS["istio"](store)
    ro = rollout("istio")
    with pytest.raises(RouterError, match=r"no routing objects .* reconcile creates them"):
        router.get_routes(ro)
    router.reconcile(ro)
    assert router.get_routes(ro) == Routes()
    assert len(store) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_finalize_reverts_and_deletes_what_it_created(provider: str) -> None:
    store = store_for(provider)
    inputs = set(store.keys())
    router = ROUTERS[provider](store)
    ro = rollout(provider)
    last = list(strategies(provider).values())[-1]
    router.set_routes(ro, last)
    assert len(store) > len(inputs) or provider in ("kserve", "kserve-llm", "knative", "kubernetes")
    router.finalize(ro)
    assert set(store.keys()) == inputs  # created objects gone, the user's objects kept
    if provider in ("kserve", "kserve-llm", "knative", "kubernetes"):  # all on the champion
        assert router.get_routes(ro) == Routes()
    if provider == "nginx":
        source = store.get("networking.k8s.io/v1", "Ingress", "ml", "fraud")
        assert source is not None and source["spec"] == INGRESS["spec"]


def test_finalize_keeps_an_adopted_virtual_service() -> None:
    store = MemoryObjectStore()
    mine = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {"hosts": ["fraud"], "http": [{"route": [{"destination": {"host": "fraud"}}]}]},
    }
    store.apply(mine)
    router = ROUTERS["istio"](store)
    ro = rollout("istio", uid="u-1")
    router.set_routes(ro, Routes(champion_weight=50, challenger_weight=50))
    router.reconcile(ro)  # still adopted on later applies
    router.finalize(ro)
    kept = store.get("networking.istio.io/v1", "VirtualService", "ml", "fraud")
    assert kept is not None and kept["metadata"]["annotations"]["modelcanary.io/adopted"] == "true"
    # never owned by the rollout, so deleting the rollout cannot garbage-collect it
    assert "ownerReferences" not in kept["metadata"]
    assert "modelcanary.io/rollout" not in kept["metadata"].get("labels", {})
    assert router.get_routes(ro) == Routes()
    assert store.get("networking.istio.io/v1", "DestinationRule", "ml", "fraud-canary") is None


def test_smi_match_group_removed_when_ab_ends() -> None:
    store = MemoryObjectStore()
    router = ROUTERS["smi"](store)
    ro = rollout("smi")
    router.set_routes(ro, strategies("smi")["ab"])
    assert store.get("specs.smi-spec.io/v1alpha3", "HTTPRouteGroup", "ml", "fraud-ab") is not None
    router.set_routes(ro, Routes())
    assert store.get("specs.smi-spec.io/v1alpha3", "HTTPRouteGroup", "ml", "fraud-ab") is None
    assert router.get_routes(ro) == Routes()


@pytest.mark.parametrize(
    ("provider", "routes", "message"),
    [
        ("nginx", Routes(mirror_weight=50), "nginx cannot mirror .* supports weights, A/B match"),
        ("linkerd", Routes(mirror_weight=10), "linkerd cannot mirror .* supports weights"),
        (
            "kserve",
            Routes(match=(MatchCondition.model_validate({"headers": {"a": {"exact": "b"}}}),)),
            "kserve cannot match on headers",
        ),
        (
            "smi",
            Routes(match=(MatchCondition.model_validate({"queryParams": {"a": {"exact": "b"}}}),)),
            "smi cannot match on queryParams",
        ),
        (
            "nginx",
            Routes(match=(MatchCondition.model_validate({"cookies": {"c": {"exact": "yes"}}}),)),
            "only when its value is 'always'",
        ),
        (
            "nginx",
            Routes(
                match=(
                    MatchCondition.model_validate(
                        {"headers": {"a": {"exact": "1"}, "b": {"exact": "2"}}}
                    ),
                )
            ),
            "at most one header",
        ),
        (
            "istio",
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
            "smi",
            Routes(
                champion_weight=50,
                challenger_weight=50,
                match=(MatchCondition.model_validate({"headers": {"a": {"exact": "1"}}}),),
            ),
            "cannot also weight",
        ),
    ],
)
def test_unsupported_features_fail_before_writing(
    provider: str, routes: Routes, message: str
) -> None:
    store = store_for(provider)
    before = list(store)
    with pytest.raises(RouterError, match=message):
        ROUTERS[provider](store).set_routes(rollout(provider), routes)
    assert list(store) == before  # nothing half-applied


def test_nginx_without_the_ingress_says_what_to_create() -> None:
    with pytest.raises(RouterError, match=r"Ingress ml/fraud .* does not exist; create it first"):
        ROUTERS["nginx"](MemoryObjectStore()).reconcile(rollout("nginx"))


def test_router_set_dispatches_on_the_provider() -> None:
    store = store_for("nginx")
    routers = RouterSet(store)
    assert isinstance(routers, TrafficRouter)
    routes = Routes(champion_weight=80, challenger_weight=20)
    for provider in ("istio", "nginx", "linkerd"):
        routers.set_routes(rollout(provider), routes)
        assert routers.get_routes(rollout(provider)) == routes
    kinds = {k[1] for k in store.keys()}  # noqa: SIM118
    assert {"VirtualService", "DestinationRule", "Ingress", "TrafficSplit"} <= kinds
    routers.finalize(rollout("istio"))
    assert not any(k[1] == "VirtualService" for k in store.keys())  # noqa: SIM118
    assert routers.get_routes(rollout("linkerd")) == routes


def test_unknown_provider_lists_the_built_ones() -> None:
    ro = rollout("istio").model_copy(deep=True)
    object.__setattr__(ro.spec.router, "provider", "osm")
    with pytest.raises(
        RouterError,
        # every built router, sorted (helpers add routers: the list is the registry's)
        match="no cluster router for provider 'osm'; built: apisix, appmesh, contour, gatewayapi, "
        + re.escape(", ".join(sorted(ROUTERS)[4:])),
    ):
        RouterSet(MemoryObjectStore()).reconcile(ro)


def test_nginx_drops_ab_annotations_when_the_test_ends() -> None:
    store = store_for("nginx")
    router = ROUTERS["nginx"](store)
    ro = rollout("nginx")
    router.set_routes(ro, strategies("nginx")["ab"])
    router.set_routes(ro, Routes(champion_weight=90, challenger_weight=10))
    canary = store.get("networking.k8s.io/v1", "Ingress", "ml", "fraud-canary")
    assert canary is not None
    notes = canary["metadata"]["annotations"]
    assert not any("canary-by" in k for k in notes), notes
    assert router.get_routes(ro) == Routes(champion_weight=90, challenger_weight=10)


def test_memory_store_apply_semantics() -> None:
    store = MemoryObjectStore()
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ml"}}
    store.apply(
        {
            **base,
            "metadata": {**base["metadata"], "annotations": {"a": "1", "b": "2"}},
            "data": {"x": "1"},
        }
    )
    someone = store.get("v1", "ConfigMap", "ml", "c")
    assert someone is not None
    someone["metadata"]["annotations"]["theirs"] = "t"
    someone["status"] = {"seen": True}
    stored = store.get("v1", "ConfigMap", "ml", "c")
    assert stored is not None and "theirs" not in stored["metadata"]["annotations"]  # a copy
    store.edit(someone)  # another writer
    store.apply(
        {**base, "metadata": {**base["metadata"], "annotations": {"a": "9"}}, "data": {"y": "2"}}
    )
    stored = store.get("v1", "ConfigMap", "ml", "c")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {"a": "9", "theirs": "t"}  # b removed, theirs kept
    assert stored["data"] == {"y": "2"} and stored["status"] == {"seen": True}
    store.delete("v1", "ConfigMap", "ml", "c")
    store.delete("v1", "ConfigMap", "ml", "c")  # already gone: fine
    assert len(store) == 0
