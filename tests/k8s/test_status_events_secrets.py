"""KubeStatusStore on the ModelRollout CR, KubeEvents and KubeSecretReader against kmock."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from k8s_objects import target_rollout, validate
from k8s_schema import errors
from kube_fixtures import MODELROLLOUT_CRD, KubeApi

from modelcanary._secretref import read_key
from modelcanary.errors import ConflictError, ModelCanaryError, SpecError
from modelcanary.k8s._client import KubeClient
from modelcanary.k8s._events import KubeEvents
from modelcanary.k8s._secret_reader import KubeSecretReader
from modelcanary.k8s._status import KubeStatusStore
from modelcanary.ports import StatusStore
from modelcanary.spec import RolloutStatus, SecretRef

MR = ("modelcanary.io/v1alpha1", "ModelRollout", "default", "podinfo")
CRD = yaml.safe_load(MODELROLLOUT_CRD.read_text(encoding="utf-8"))


def create_rollout(kube: KubeApi, **metadata: Any) -> dict[str, Any]:
    doc = target_rollout().to_dict()
    doc["metadata"].update(metadata)
    return kube.create(doc)


def test_it_is_a_status_store(client: KubeClient) -> None:
    assert isinstance(KubeStatusStore(client), StatusStore)


def test_round_trip_with_versions(kube: KubeApi, client: KubeClient) -> None:
    created = create_rollout(kube, finalizers=["modelcanary.io/revert"])
    kube.patch(
        *MR,
        {
            "metadata": {"managedFields": [{"manager": "kubectl"}]},
            "status": {"kopf": {"progress": {}}},
        },
    )
    store = KubeStatusStore(client)
    stored = store.get("podinfo", "default")
    assert stored is not None and not stored.deleted
    assert stored.rollout.metadata.uid == created["metadata"]["uid"]
    assert stored.rollout.spec.target_ref is not None
    assert stored.version == kube.get(*MR)["metadata"]["resourceVersion"]

    status = RolloutStatus(
        phase="Progressing",
        canary_weight=10,
        message="analysing",
        step_started_at="2026-01-01T00:00:00Z",
    )
    version = store.save_status("podinfo", "default", status, stored.version)
    assert version is not None and version != stored.version
    again = store.get("podinfo", "default")
    assert again is not None and again.version == version
    # observedGeneration: the generation of the object this status was computed from
    generation = created["metadata"]["generation"]
    assert again.rollout.status == status.updated(observed_generation=generation)
    assert errors(CRD, kube.get(*MR)) == []

    cleared = RolloutStatus(phase="Succeeded", canary_weight=0)  # no stepStartedAt any more
    store.save_status("podinfo", "default", cleared, version)
    assert "stepStartedAt" not in kube.get(*MR)["status"]
    assert store.get("podinfo", "default").rollout.status == cleared.updated(  # type: ignore[union-attr]
        observed_generation=generation
    )


def test_observed_generation_is_the_generation_the_tick_read(
    kube: KubeApi, client: KubeClient
) -> None:
    """Issue 14, 3.7: the status says which spec generation it describes."""
    create_rollout(kube)
    store = KubeStatusStore(client)
    first = store.get("podinfo", "default")
    assert first is not None
    store.save_status("podinfo", "default", RolloutStatus(message="one"), first.version)
    assert kube.get(*MR)["status"]["observedGeneration"] == 1
    kube.patch(*MR, {"spec": {"analysis": {"threshold": 3}}})  # a user's edit: generation 2
    assert kube.get(*MR)["metadata"]["generation"] == 2
    second = store.get("podinfo", "default")
    assert second is not None
    version = store.save_status("podinfo", "default", RolloutStatus(message="two"), second.version)
    assert kube.get(*MR)["status"]["observedGeneration"] == 2
    # a second write of the same tick (its effects cleared) still describes generation 2
    store.save_status("podinfo", "default", RolloutStatus(message="three"), version)
    assert kube.get(*MR)["status"]["observedGeneration"] == 2
    # a stale write never claims a generation it did not read
    with pytest.raises(ConflictError):
        store.save_status("podinfo", "default", RolloutStatus(), first.version)


def test_a_stale_version_is_a_conflict(kube: KubeApi, client: KubeClient) -> None:
    create_rollout(kube)
    store = KubeStatusStore(client)
    stored = store.get("podinfo", "default")
    assert stored is not None
    kube.patch(*MR, {"metadata": {"annotations": {"modelcanary.io/action": "pause"}}})
    with pytest.raises(ConflictError, match="default/podinfo changed since version"):
        store.save_status("podinfo", "default", RolloutStatus(phase="Failed"), stored.version)
    assert "status" not in kube.get(*MR)
    fresh = store.get("podinfo", "default")
    assert fresh is not None
    store.save_status("podinfo", "default", RolloutStatus(phase="Failed"), fresh.version)
    assert kube.get(*MR)["status"]["phase"] == "Failed"
    # no version known (a server without resourceVersions): no precondition
    store.save_status("podinfo", "default", RolloutStatus(phase="Initialized"), None)
    assert kube.get(*MR)["status"]["phase"] == "Initialized"


def test_deletion_and_absence(kube: KubeApi, client: KubeClient) -> None:
    store = KubeStatusStore(client)
    assert store.get("podinfo", "default") is None
    with pytest.raises(ConflictError, match="no longer exists"):
        store.save_status("podinfo", "default", RolloutStatus(), None)
    create_rollout(kube, finalizers=["modelcanary.io/revert"])
    kube.delete(*MR)
    stored = store.get("podinfo", "default")
    assert stored is not None and stored.deleted


def test_an_invalid_spec_is_a_spec_error_naming_the_rollout(
    kube: KubeApi, client: KubeClient
) -> None:
    create_rollout(kube)
    kube.patch(*MR, {"spec": {"analysis": {"stepWeights": None, "interval": "soon"}}})
    with pytest.raises(SpecError, match="ModelRollout default/podinfo"):
        KubeStatusStore(client).get("podinfo", "default")


def test_events_on_the_rollout(kube: KubeApi, client: KubeClient) -> None:
    created = create_rollout(kube)
    rollout = KubeStatusStore(client).get("podinfo", "default").rollout  # type: ignore[union-attr]
    events = KubeEvents(client, instance="operator-0")
    events.emit(rollout, "Progressing", "advance weight 10")
    events.emit(rollout, "RolloutFailed", "failed checks 2/2: error-rate 0.2 > 0.05", warning=True)
    stored = kube.list("v1", "Event", "default")
    assert sorted((e["reason"], e["type"]) for e in stored) == [
        ("Progressing", "Normal"),
        ("RolloutFailed", "Warning"),
    ]
    for event in stored:
        assert event["involvedObject"]["uid"] == created["metadata"]["uid"]
        assert event["involvedObject"]["kind"] == "ModelRollout"
        assert event["reportingInstance"] == "operator-0"
        validate(event)


def test_a_refused_event_does_not_fail(kube: KubeApi, client: KubeClient) -> None:
    kube.call(
        lambda: (
            kube.handler["post", "/api/v1/namespaces/default/events"]
            << 403
            << {"message": "events is forbidden"}
        )
    )
    rollout = target_rollout()
    assert KubeEvents(client).emit(rollout, "Progressing", "x" * 5000) is None


def test_secret_reader(kube: KubeApi, client: KubeClient) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "datadog", "namespace": "ml"},
            "data": {"api_key": base64.b64encode(b"dd-key-123\n").decode(), "bad": "%%%not-base64"},
        }
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "plain", "namespace": "default"},
            "stringData": {"token": "abc"},
        }
    )
    reader = KubeSecretReader(client, default_namespace="ml")
    assert reader("datadog", "api_key", "") == "dd-key-123\n"
    assert reader("datadog", "api_key", "ml") == "dd-key-123\n"
    assert reader("datadog", "missing", "ml") is None
    assert reader("nope", "api_key", "ml") is None
    assert reader("plain", "token", "default") == "abc"
    assert read_key(reader, SecretRef(name="datadog"), "api_key", "ml", ModelCanaryError) == (
        "dd-key-123"
    )
    with pytest.raises(ModelCanaryError, match="ml/datadog key 'bad'") as caught:
        reader("datadog", "bad", "ml")
    assert "%%%" not in str(caught.value)
