"""Knative Serving's controller, as much of it as the kmock harness needs for the knative
router: Services (``serving.knative.dev/v1``) get Revisions and a status as Knative writes it.

``KnativeController(kube).reconcile()`` is one pass of the real reconciler over every Knative
Service of a namespace (tests call it between engine ticks, as test_engine_on_kube.py calls
its kubelet):

- a Service whose ``spec.template`` changed gets a new Revision ``<name>-0000N`` (N counts
  up, Knative's naming); ``status.latestCreatedRevisionName`` names it at once;
- a Revision becomes ready ``ready_after`` passes after it was created (image pulls and
  readiness probes take time), or never when its image is in ``broken_images``;
  ``latestReadyRevisionName`` follows; ``ConfigurationsReady`` is True only when the latest
  created revision is ready (Unknown while it starts, False when it failed);
- ``spec.traffic`` (absent: 100 % on the latest ready revision) is resolved as Knative's
  route reconciler does: ``latestRevision: true`` targets to the latest ready revision,
  ``revisionName`` targets must name a ready Revision, percents must sum to 100; a tagged
  target gets the tag URL ``http://<tag>-<name>.<ns>.example.com``. A valid block becomes
  ``status.traffic`` (``RoutesReady`` True); an invalid one leaves the previous
  ``status.traffic`` in force with ``RoutesReady`` False (reason ``RevisionMissing`` or
  ``InvalidTraffic``), as Knative keeps serving the last good route;
- ``Ready`` = ``ConfigurationsReady`` and ``RoutesReady``; ``observedGeneration`` is the
  Service's generation.

``revisions`` keeps, per Service, the Revisions created in order (name, image, ready).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kube_fixtures import KubeApi

API = "serving.knative.dev/v1"
KIND = "Service"
DOMAIN = "example.com"


@dataclass
class Revision:
    name: str
    template_hash: str
    image: str
    age: int = 0
    ready: bool = False
    failed: bool = False


@dataclass
class KnativeController:
    """One emulated Knative Serving controller over ``kube`` (see the module docstring)."""

    kube: KubeApi
    namespace: str = "default"
    ready_after: int = 1
    broken_images: set[str] = field(default_factory=set)
    revisions: dict[str, list[Revision]] = field(default_factory=dict)

    def reconcile(self) -> None:
        """One pass over every Knative Service of the namespace."""
        for svc in self.kube.list(API, KIND, self.namespace):
            self._service(svc)

    def _service(self, svc: dict[str, Any]) -> None:
        name = svc["metadata"]["name"]
        revisions = self.revisions.setdefault(name, [])
        for rev in revisions:  # time passes for the revisions already there
            rev.age += 1
            if not rev.ready and not rev.failed:
                if rev.image in self.broken_images:
                    rev.failed = rev.age >= self.ready_after
                else:
                    rev.ready = rev.age >= self.ready_after
        template = svc["spec"].get("template") or {}
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
        if not revisions or revisions[-1].template_hash != digest:
            containers = (template.get("spec") or {}).get("containers") or [{}]
            image = str(containers[0].get("image", ""))
            revisions.append(Revision(f"{name}-{len(revisions) + 1:05d}", digest, image))
            if self.ready_after <= 0 and image not in self.broken_images:
                revisions[-1].ready = True
        self.kube.patch(API, KIND, self.namespace, name, {"status": self._status(svc, revisions)})

    def _status(self, svc: dict[str, Any], revisions: list[Revision]) -> dict[str, Any]:
        name, ns = svc["metadata"]["name"], self.namespace
        latest = revisions[-1]
        ready = [r for r in revisions if r.ready]
        latest_ready = ready[-1].name if ready else None
        if latest.ready:
            config = _condition("ConfigurationsReady", "True")
        elif latest.failed:
            config = _condition(
                "ConfigurationsReady",
                "False",
                "RevisionFailed",
                f'Revision "{latest.name}" failed with message: Container failed to start.',
            )
        else:
            config = _condition("ConfigurationsReady", "Unknown", "RevisionDeploying")
        old = svc.get("status") or {}
        traffic, route = self._route(svc, {r.name for r in ready}, latest_ready)
        if traffic is None:
            traffic = old.get("traffic")
        all_ready = config["status"] == "True" and route["status"] == "True"
        status: dict[str, Any] = {
            "observedGeneration": svc["metadata"]["generation"],
            "latestCreatedRevisionName": latest.name,
            "url": f"http://{name}.{ns}.{DOMAIN}",
            "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
            "conditions": [
                config,
                _condition("Ready", "True" if all_ready else _worst(config, route)),
                route,
            ],
        }
        if latest_ready:
            status["latestReadyRevisionName"] = latest_ready
        if traffic is not None:
            status["traffic"] = traffic
        return status

    def _route(
        self, svc: dict[str, Any], ready: set[str], latest_ready: str | None
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
        """(resolved status.traffic or None, the RoutesReady condition)."""
        name, ns = svc["metadata"]["name"], self.namespace
        spec = svc["spec"].get("traffic") or [{"latestRevision": True, "percent": 100}]
        if latest_ready is None:
            return None, _condition("RoutesReady", "Unknown", "RevisionMissing")
        if sum(int(t.get("percent") or 0) for t in spec) != 100:
            return None, _condition(
                "RoutesReady", "False", "InvalidTraffic", "Traffic targets sum to more than 100."
            )
        resolved = []
        for target in spec:
            latest = target.get("latestRevision")
            revision = latest_ready if latest is True or not target.get("revisionName") else None
            revision = revision or target.get("revisionName")
            if revision not in ready:
                return None, _condition(
                    "RoutesReady",
                    "False",
                    "RevisionMissing",
                    f'Revision "{revision}" referenced in traffic not found.',
                )
            entry: dict[str, Any] = {
                "revisionName": revision,
                "latestRevision": bool(latest),
                "percent": int(target.get("percent") or 0),
            }
            if target.get("tag"):
                entry["tag"] = target["tag"]
                entry["url"] = f"http://{target['tag']}-{name}.{ns}.{DOMAIN}"
            resolved.append(entry)
        return resolved, _condition("RoutesReady", "True")


def _condition(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    out = {"type": kind, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _worst(*conditions: dict[str, Any]) -> str:
    states = {c["status"] for c in conditions}
    return "False" if "False" in states else "Unknown"


def knative_service(
    name: str = "podinfo", image: str = "ghcr.io/stefanprodan/podinfo:6.0.0"
) -> dict[str, Any]:
    """A Knative Service as Flagger's knative tutorial creates it (no traffic block)."""
    return {
        "apiVersion": API,
        "kind": KIND,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "image": image,
                            "ports": [{"containerPort": 9898, "protocol": "TCP"}],
                            "command": ["./podinfo", "--port=9898"],
                        }
                    ]
                }
            }
        },
    }


def new_image(kube: KubeApi, image: str, name: str = "podinfo") -> None:
    """Change the Service's container image (a new Revision, as ``kubectl patch`` would)."""
    svc = kube.get(API, KIND, "default", name)
    assert svc is not None
    template = svc["spec"]["template"]
    template["spec"]["containers"][0]["image"] = image
    kube.patch(API, KIND, "default", name, {"spec": {"template": template}})


MR = ("modelcanary.io/v1alpha1", "ModelRollout")


def served(svc: dict[str, Any]) -> dict[str, int]:
    """Revision -> percent Knative serves (``status.traffic``)."""
    out: dict[str, int] = {}
    for target in (svc.get("status") or {}).get("traffic") or []:
        out[target["revisionName"]] = out.get(target["revisionName"], 0) + target["percent"]
    return out


class PodinfoView:
    """Reads of the ``podinfo`` Knative Service and its ModelRollout in namespace default."""

    kube: KubeApi

    def svc(self) -> dict[str, Any]:
        obj = self.kube.get(API, KIND, "default", "podinfo")
        assert obj is not None
        return obj

    def status(self) -> dict[str, Any]:
        obj = self.kube.get(*MR, "default", "podinfo")
        assert obj is not None
        return dict(obj["status"])
