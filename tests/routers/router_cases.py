"""Rollouts, input objects and routes per provider, shared by the router tests."""

from __future__ import annotations

import copy
from typing import Any

from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import MatchCondition, ModelRollout, SessionAffinity, parse_rollout

NAMESPACE = "ml"

SERVICE: dict[str, Any] = {
    "port": 8080,
    "hosts": ["fraud.example.com"],
    "gateways": ["istio-system/public-gateway", "mesh"],
    "gatewayRefs": [{"name": "public", "namespace": "infra", "sectionName": "http"}],
    "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "fraud"},
    "timeout": "30s",
    "backendTimeout": "1.5s",
    "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "gateway-error,connect-failure"},
    "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}], "allowMethods": ["POST"]},
    "headers": {"request": {"set": {"x-model": "fraud"}}},
    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
    "match": [{"uri": {"prefix": "/v1/"}}],
}

INGRESS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "fraud",
        "namespace": NAMESPACE,
        "labels": {"app": "fraud"},
        "annotations": {
            "kubernetes.io/ingress.class": "nginx",
            "nginx.ingress.kubernetes.io/canary": "x",
        },
    },
    "spec": {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["fraud.example.com"], "secretName": "fraud-tls"}],
        "rules": [
            {
                "host": "fraud.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "fraud", "port": {"number": 8080}}},
                        },
                        {
                            "path": "/docs",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "docs", "port": {"number": 80}}},
                        },
                    ]
                },
            }
        ],
    },
}

APISIX_ROUTE: dict[str, Any] = {
    "apiVersion": "apisix.apache.org/v2",
    "kind": "ApisixRoute",
    "metadata": {"name": "fraud", "namespace": NAMESPACE},
    "spec": {
        "ingressClassName": "apisix",
        "http": [
            {
                "name": "score",
                "match": {"hosts": ["fraud.example.com"], "paths": ["/*"]},
                "backends": [{"serviceName": "fraud", "servicePort": 8080}],
                "timeout": {"read": "30s"},
            },
            {
                "name": "docs",
                "match": {"paths": ["/docs*"]},
                "backends": [{"serviceName": "docs", "servicePort": 80}],
            },
        ],
    },
}

INFERENCE_SERVICE: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "fraud", "namespace": NAMESPACE},
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/fraud/2"},
        }
    },
}


KNATIVE_REF = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "fraud"}
KNATIVE_SERVICE: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {"name": "fraud", "namespace": NAMESPACE, "generation": 1},
    "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/acme/fraud:2"}]}}},
    "status": {
        "observedGeneration": 1,
        "latestCreatedRevisionName": "fraud-00002",
        "latestReadyRevisionName": "fraud-00002",
    },
}


def llm_inference_service(name: str) -> dict[str, Any]:
    """A KServe LLMInferenceService of the kserve-llm router's tests (``fraud-primary``...)."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha2",
        "kind": "LLMInferenceService",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": {"uri": f"hf://acme/{name}", "name": "acme/assistant"},
            "replicas": 1,
            "router": {"gateway": {}, "route": {}, "scheduler": {}},
        },
    }


def service(name: str, selects: str) -> dict[str, Any]:
    """A ClusterIP Service ``name`` selecting ``app: <selects>`` (as the workloads make them)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": name, "app.kubernetes.io/managed-by": "modelcanary"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": selects},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


SERVICES = [  # the kubernetes router switches the apex between the other two's selectors
    service("fraud", "fraud-primary"),
    service("fraud-primary", "fraud-primary"),
    service("fraud-canary", "fraud"),
]

MATCH = (
    MatchCondition.model_validate({"headers": {"x-cohort": {"exact": "beta"}}}),
    MatchCondition.model_validate({"cookies": {"canary": {"exact": "always"}}}),
)
RICH_MATCH = (
    MatchCondition.model_validate(
        {"headers": {"x-cohort": {"prefix": "beta-"}, "user-agent": {"regex": ".*Firefox.*"}}}
    ),
    MatchCondition.model_validate({"cookies": {"type": {"suffix": "insider"}}}),
    MatchCondition.model_validate({"queryParams": {"variant": {"exact": "b"}}}),
)
AFFINITY = SessionAffinity.model_validate(
    {"cookieName": "mc-canary", "primaryCookieName": "mc-primary", "maxAge": 3600, "path": "/"}
)

PROVIDERS = sorted(ROUTERS)


def rollout(
    provider: str,
    *,
    uid: str | None = None,
    target: dict[str, str] | None = None,
    **analysis: Any,
) -> ModelRollout:
    """A targetRef rollout (default: Deployment ``fraud``) in ``ml`` routed by ``provider``."""
    service = copy.deepcopy(SERVICE)
    if provider != "istio":  # Istio-only fields are rejected nowhere, but keep objects lean
        for key in ("gateways", "corsPolicy", "headers", "trafficPolicy", "match"):
            service.pop(key)
    split = ROUTERS[provider].features.split  # else blue/green: all traffic on one version
    plan = analysis or ({"stepWeights": [10, 50]} if split else {"iterations": 3})
    doc = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud", "namespace": NAMESPACE, **({"uid": uid} if uid else {})},
        "spec": {
            "targetRef": target or (KNATIVE_REF if provider == "knative" else {"name": "fraud"}),
            "router": {"provider": provider},
            "service": service,
            **({"routeRef": {"name": "fraud"}} if provider == "apisix" else {}),
            "analysis": {
                "interval": "1m",
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
                **plan,
            },
        },
    }
    return parse_rollout(doc)


def store_for(provider: str) -> MemoryObjectStore:
    """A store holding the objects ``provider`` reads (the Ingress, the InferenceService)."""
    inputs = {
        "nginx": [INGRESS],
        "skipper": [INGRESS],
        "kserve": [INFERENCE_SERVICE],
        "knative": [KNATIVE_SERVICE],
        "apisix": [APISIX_ROUTE],
        "kubernetes": SERVICES,
        "kserve-llm": [llm_inference_service(f"fraud-{side}") for side in ("primary", "canary")],
    }.get(provider, [])
    return MemoryObjectStore(copy.deepcopy(inputs))


def strategies(provider: str) -> dict[str, Routes]:
    """Routes of every strategy ``provider`` supports (canary, blue/green, A/B, mirror...)."""
    features = ROUTERS[provider].features
    cases = {"initial": Routes()}
    if features.split:
        cases["canary-10"] = Routes(champion_weight=90, challenger_weight=10)
        cases["canary-55"] = Routes(champion_weight=45, challenger_weight=55)
    cases["bluegreen-switch"] = Routes(champion_weight=0, challenger_weight=100)
    if features.mirror:
        cases["shadow"] = Routes(mirror_weight=100)
        cases["canary-mirror"] = Routes(champion_weight=80, challenger_weight=20, mirror_weight=30)
    if features.match:
        usable = tuple(
            m for m in MATCH if all(p in features.match for p in m.to_dict() if p != "body")
        )
        cases["ab"] = Routes(match=usable)
    if {"headers", "cookies", "query_params"} <= features.match:
        cases["ab-rich"] = Routes(match=RICH_MATCH)
    if features.session_affinity:
        cases["sticky"] = Routes(
            champion_weight=75, challenger_weight=25, session_affinity=AFFINITY
        )
    return cases


def all_cases() -> list[tuple[str, str, Routes]]:
    """(provider, case name, routes) for every provider and strategy."""
    return [(p, name, r) for p in PROVIDERS for name, r in strategies(p).items()]
