"""ModelRollouts in every phase, recorded from the real operator: the custom resource as stored.

``build_runtime`` is the operator's own wiring (status subresource, Deployments, Services, the
Istio router, the Prometheus provider, the HTTP webhook runner); here it ticks rollouts on the
kmock API with a manual clock instead of kopf's timer, so every journey is deterministic. A
real Prometheus-API server (``PromAPI``) answers the rollout's check, modelcanary's own gate
service (``GateServer``) answers the confirm-* webhooks, and the controller tests' ``Kubelet``
marks Deployments ready. Manual actions are the annotations ``modelcanary <action> --cluster``
writes. After each step the whole object (metadata, spec, status) is kept under a label: it is
the ``obj`` Argo CD hands to the health check.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from controller_fixtures import ROLLOUT_API, Kubelet, PromAPI, deployment, rollout_doc
from kube_fixtures import KubeApi

from modelcanary.controller._runtime import build_runtime
from modelcanary.engine import ManualClock, action_annotations
from modelcanary.errors import SpecError
from modelcanary.hooks._gate import GateServer

NAME, NAMESPACE = "podinfo", "default"
QUERY_KEY = f"rollout='{NAME}'"
"""The PromAPI key matching the rollout's one check (``errors_query{rollout='podinfo'}``)."""
FINALIZER = "modelcanary.io/finalizer"
INTERVAL = 60.0
Recorded = dict[str, dict[str, Any]]


class Journey:
    """One rollout driven tick by tick; ``record(label)`` keeps the stored object."""

    def __init__(self, kube: KubeApi, prom: PromAPI, gate: GateServer, recorded: Recorded) -> None:
        kube.reset()
        self.kube, self.prom, self.gate, self.recorded = kube, prom, gate, recorded
        self.clock = ManualClock()
        self.runtime = build_runtime(kube.api_client, clock=self.clock)
        self.kubelet = Kubelet(kube)
        self._ids = itertools.count(1)
        prom.values[QUERY_KEY] = 0.0
        gate.gates.set(f"{NAME}.{NAMESPACE}", False)

    # -- setup ------------------------------------------------------------------------------
    def create(
        self,
        *,
        analysis: dict[str, Any] | None = None,
        gates: tuple[str, ...] = (),
        finalizer: bool = False,
    ) -> None:
        """The user's Deployment and the ModelRollout (``analysis`` fields merged in; one
        ``/gate/check`` webhook per type in ``gates``)."""
        self.kube.create(deployment(NAME))
        doc = rollout_doc(NAME, prometheus=self.prom.url, interval="1m")
        doc["spec"]["analysis"].update(analysis or {})
        doc["spec"]["analysis"] = {
            k: v for k, v in doc["spec"]["analysis"].items() if v is not None
        }
        if gates:
            doc["spec"]["analysis"]["webhooks"] = [
                {"name": kind, "type": kind, "url": f"{self.gate.url}/gate/check"} for kind in gates
            ]
        if finalizer:
            doc["metadata"]["finalizers"] = [FINALIZER]
        self.kube.create(doc)

    # -- driving ----------------------------------------------------------------------------
    def current(self) -> dict[str, Any]:
        obj = self.kube.get(ROLLOUT_API, "ModelRollout", NAMESPACE, NAME)
        assert obj is not None, "the rollout is gone"
        return obj

    def status(self) -> dict[str, Any]:
        return dict(self.current().get("status") or {})

    def record(self, label: str) -> dict[str, Any]:
        obj = copy.deepcopy(self.current())
        assert label not in self.recorded, label
        self.recorded[label] = obj
        return obj

    def tick(self, *, kubelet: bool = True) -> None:
        """One operator tick, then the kubelet catches up and the clock moves one interval."""
        self.runtime.tick(NAME, NAMESPACE)
        if kubelet:
            self.kubelet.sync()
        self.clock.advance(INTERVAL)

    def until(self, done: Callable[[dict[str, Any]], bool], what: str, limit: int = 30) -> None:
        """Tick until ``done(status)`` holds."""
        for _ in range(limit):
            if done(self.status()):
                return
            self.tick()
        raise AssertionError(f"never reached {what}: {self.status()}")

    def phase(self, phase: str, limit: int = 30) -> None:
        self.until(lambda s: s.get("phase") == phase, phase, limit)

    def initialized(self) -> None:
        self.tick()
        self.phase("Initialized")

    def new_image(self, tag: str = "6.0.1") -> None:
        """A new revision of the target Deployment (what starts a rollout)."""
        container = {"name": "podinfo", "image": f"ghcr.io/stefanprodan/podinfo:{tag}"}
        container["ports"] = [{"containerPort": 9898}]
        changes = {"spec": {"template": {"spec": {"containers": [container]}}}}
        self.kube.patch("apps/v1", "Deployment", NAMESPACE, NAME, changes)

    def act(self, kind: str) -> None:
        """The annotations of ``modelcanary <kind> --cluster``; applied at the next tick."""
        notes = action_annotations(kind, f"{kind}-{next(self._ids)}", "from the test")
        self.kube.patch(
            ROLLOUT_API, "ModelRollout", NAMESPACE, NAME, {"metadata": {"annotations": notes}}
        )

    def patch_spec(self, changes: dict[str, Any]) -> None:
        self.kube.patch(ROLLOUT_API, "ModelRollout", NAMESPACE, NAME, {"spec": changes})

    def tick_as_kopf(self) -> None:
        """One tick as the kopf handler runs it: a SpecError becomes the SpecValid condition."""
        try:
            self.runtime.tick(NAME, NAMESPACE)
        except SpecError as exc:
            self.runtime.report_spec_error(NAME, NAMESPACE, exc)


def weight(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == "Progressing" and s.get("canaryWeight") == n


def record_all(kube: KubeApi, prom: PromAPI, gate: GateServer) -> Recorded:
    """Every journey; label -> the stored object."""
    recorded: Recorded = {}
    for journey in (
        promoted,
        rolled_back,
        paused_resumed_aborted,
        suspended,
        gated,
        invalid_spec,
        invalid_spec_while_progressing,
        terminating,
    ):
        journey(Journey(kube, prom, gate, recorded))
    return recorded


def promoted(j: Journey) -> None:
    """created -> Initializing -> Initialized -> Progressing -> Promoting -> Finalising ->
    Succeeded."""
    j.create()
    j.record("created")
    j.tick(kubelet=False)  # the primary exists, not ready yet
    assert j.status()["phase"] == "Initializing"
    j.record("initializing")
    j.kubelet.sync()
    j.phase("Initialized")
    j.record("initialized")
    j.new_image()
    j.until(weight(30), "weight 30")
    j.record("progressing")
    j.phase("Promoting")
    j.record("promoting")
    j.phase("Finalising")
    j.record("finalising")
    j.phase("Succeeded")
    j.record("succeeded")


def rolled_back(j: Journey) -> None:
    """The check fails at the first interval (threshold 1): Failed, outcome rolled_back."""
    j.create()
    j.initialized()
    j.prom.values[QUERY_KEY] = 0.5
    j.new_image()
    j.phase("Failed")
    j.record("rolled-back")


def paused_resumed_aborted(j: Journey) -> None:
    j.create()
    j.initialized()
    j.new_image()
    j.until(weight(30), "weight 30")
    j.act("pause")
    j.until(lambda s: s.get("paused") is True, "paused")
    j.record("paused")
    j.act("resume")
    j.until(lambda s: s.get("paused") is False, "resumed")
    j.record("resumed")
    j.act("abort")
    j.phase("Failed")
    j.record("aborted")


def suspended(j: Journey) -> None:
    """``spec.suspend: true`` while analysing."""
    j.create()
    j.initialized()
    j.new_image()
    j.until(weight(30), "weight 30")
    j.patch_spec({"suspend": True})
    j.until(lambda s: s.get("message") == "suspended", "suspended")
    j.record("spec-suspend")


def gated(j: Journey) -> None:
    """Each gate closed in turn (modelcanary's gate service), then opened: Waiting
    (confirm-rollout), a pause step, confirm-traffic-increase, WaitingPromotion
    (confirm-promotion)."""
    steps = [
        {"weight": 30, "duration": "1m"},
        {"weight": 40, "pause": True},
        {"weight": 60, "duration": "1m"},
    ]
    j.create(
        analysis={"stepWeights": None, "steps": steps},
        gates=("confirm-rollout", "confirm-traffic-increase", "confirm-promotion"),
    )
    j.initialized()
    j.new_image()
    j.phase("Waiting")
    j.record("waiting")
    j.gate.gates.set(f"{NAME}.{NAMESPACE}", True)  # opens every gate of the rollout
    j.until(weight(30), "weight 30")
    j.gate.gates.set(f"{NAME}.{NAMESPACE}", False)
    j.until(lambda s: "confirm-traffic-increase" in s.get("message", ""), "traffic gate")
    j.record("traffic-increase-gate")
    j.gate.gates.set(f"{NAME}.{NAMESPACE}", True)
    j.until(lambda s: "paused: waiting for approval" in s.get("message", ""), "pause step")
    j.record("pause-step")
    j.gate.gates.set(f"{NAME}.{NAMESPACE}", False)
    j.act("approve")
    j.phase("WaitingPromotion")
    j.record("waiting-promotion")
    j.gate.gates.set(f"{NAME}.{NAMESPACE}", True)
    j.phase("Succeeded")


def invalid_spec(j: Journey) -> None:
    """A spec the operator cannot use from the start: no phase, only the condition."""
    j.create(analysis={"stepWeights": [60, 30]})
    j.tick_as_kopf()
    j.record("invalid-spec")


def invalid_spec_while_progressing(j: Journey) -> None:
    """The spec breaks in the middle of a rollout, then is fixed."""
    j.create()
    j.initialized()
    j.new_image()
    j.until(weight(30), "weight 30")
    j.patch_spec({"analysis": {"stepWeights": [60, 30]}})
    j.tick_as_kopf()
    j.record("invalid-spec-while-progressing")
    j.patch_spec({"analysis": {"stepWeights": [30, 60]}})
    j.until(
        lambda s: not any(c.get("type") == "SpecValid" for c in s.get("conditions", [])), "fixed"
    )
    j.record("spec-fixed")


def terminating(j: Journey) -> None:
    """Deleted while analysing: the finalizer holds it until traffic is back on the champion."""
    j.create(finalizer=True)
    j.initialized()
    j.new_image()
    j.until(weight(30), "weight 30")
    j.kube.delete(ROLLOUT_API, "ModelRollout", NAMESPACE, NAME)
    j.phase("Terminating")
    j.record("terminating")
