"""The knative router alone: what it writes into a Knative Service, what it reads back, how it
picks the champion revision; the Knative workloads' readiness; Flagger's knative Canary."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runs import cli
from router_schemas import assert_valid, problems

from modelcanary.convert import from_flagger, to_flagger
from modelcanary.errors import RouterError, SpecError
from modelcanary.k8s._knative import ksvc_ready, ksvc_revision
from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore, RouterSet
from modelcanary.spec import MatchCondition, ModelRollout, parse_rollout
from modelcanary.spec._plan import stages

API, KIND = "serving.knative.dev/v1", "Service"

# The Canary of Flagger's Knative tutorial (github.com/fluxcd/flagger,
# docs/gitbook/tutorials/knative-progressive-delivery.md, commit
# 15bd6ad555e6c935da55f0ab95977be74c149bd6; Apache-2.0), comments removed.
FLAGGER_KNATIVE_CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: knative
  targetRef:
    apiVersion: serving.knative.dev/v1
    kind: Service
    name: podinfo
  progressDeadlineSeconds: 60
  analysis:
    interval: 15s
    threshold: 15
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
         max: 500
      interval: 1m
    webhooks:
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          type: cmd
          cmd: "hey -z 1m -q 5 -c 2 http://podinfo.test"
          logCmdOutput: "true"
"""


def ksvc(name: str = "podinfo", namespace: str = "test", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "generation": 3},
        "spec": {
            "template": {"spec": {"containers": [{"image": "ghcr.io/stefanprodan/podinfo:6.0.1"}]}}
        },
        "status": {
            "observedGeneration": 3,
            "latestCreatedRevisionName": f"{name}-00002",
            "latestReadyRevisionName": f"{name}-00002",
            **status,
        },
    }


def rollout(status: dict[str, Any] | None = None, **spec: Any) -> ModelRollout:
    doc: dict[str, Any] = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": API, "kind": KIND, "name": "podinfo"},
            "router": {"provider": "knative"},
            "analysis": {
                "stepWeights": [10, 50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
            **spec,
        },
    }
    if status is not None:
        doc["status"] = status
    return parse_rollout(doc)


def written(store: MemoryObjectStore, name: str = "podinfo") -> dict[str, Any]:
    obj = store.get(API, KIND, "test", name)
    assert obj is not None
    return obj


def test_traffic_block_pins_the_champion_and_weights_the_latest() -> None:
    store = MemoryObjectStore([ksvc(latestReadyRevisionName="podinfo-00001")])
    ROUTERS["knative"](store).set_routes(
        rollout(), Routes(champion_weight=70, challenger_weight=30)
    )
    svc = written(store)
    assert svc["spec"]["traffic"] == [
        {"revisionName": "podinfo-00001", "latestRevision": False, "percent": 70, "tag": "primary"},
        {"latestRevision": True, "percent": 30, "tag": "canary"},
    ]
    (rendered,) = ROUTERS["knative"](store).render(rollout(), Routes())
    assert set(rendered["spec"]) == {"traffic"}  # the template stays the user's: never written
    assert svc["metadata"]["annotations"]["modelcanary.io/champion-revision"] == "podinfo-00001"
    assert_valid([svc])
    broken = copy.deepcopy(svc)
    broken["spec"]["traffic"][0]["percent"] = "70"
    assert problems(broken)  # the vendored schema is really checked


def test_flagger_pin_is_honoured_and_the_pin_survives_a_new_ready_revision() -> None:
    svc = ksvc()
    svc["metadata"]["annotations"] = {"flagger.app/primary-revision": "podinfo-00001"}
    store = MemoryObjectStore([svc])
    router = ROUTERS["knative"](store)
    router.set_routes(rollout(), Routes())
    assert written(store)["spec"]["traffic"][0]["revisionName"] == "podinfo-00001"
    # Knative reports a newer ready revision: the champion stays pinned where it was
    stored = written(store)
    stored["status"]["latestReadyRevisionName"] = "podinfo-00003"
    store.edit(stored)
    router.set_routes(rollout(), Routes(champion_weight=90, challenger_weight=10))
    assert written(store)["spec"]["traffic"][0]["revisionName"] == "podinfo-00001"


def test_promotion_moves_the_pin_to_the_challenger_revision() -> None:
    store = MemoryObjectStore([ksvc(latestReadyRevisionName="podinfo-00001")])
    router = ROUTERS["knative"](store)
    router.set_routes(rollout(), Routes(champion_weight=50, challenger_weight=50))
    promoted = rollout(
        {
            "phase": "Promoting",
            "promoted": True,
            "lastAppliedSpec": "podinfo-00002",
            "lastPromotedSpec": "podinfo-00001",
        }
    )
    router.set_routes(promoted, Routes())
    svc = written(store)
    assert svc["spec"]["traffic"][0] == {
        "revisionName": "podinfo-00002",
        "latestRevision": False,
        "percent": 100,
        "tag": "primary",
    }
    assert svc["metadata"]["annotations"]["modelcanary.io/champion-revision"] == "podinfo-00002"
    # the next rollout (promoted reset) keeps the new pin
    router.set_routes(
        rollout({"phase": "Progressing", "lastAppliedSpec": "podinfo-00003"}), Routes()
    )
    assert written(store)["spec"]["traffic"][0]["revisionName"] == "podinfo-00002"


def test_routes_are_read_from_status_traffic_once_knative_reconciled() -> None:
    store = MemoryObjectStore([ksvc(latestReadyRevisionName="podinfo-00001")])
    router = ROUTERS["knative"](store)
    ro = rollout()
    router.set_routes(ro, Routes(champion_weight=90, challenger_weight=10))
    svc = written(store)
    svc["metadata"]["generation"] = 4  # the write bumped it; Knative has not caught up
    svc["status"]["traffic"] = [
        {"revisionName": "podinfo-00001", "latestRevision": False, "percent": 100, "tag": "primary"}
    ]
    store.edit(svc)
    assert router.get_routes(ro) == Routes(champion_weight=90, challenger_weight=10)  # spec
    svc["status"]["observedGeneration"] = 4
    store.edit(svc)
    assert router.get_routes(ro) == Routes()  # what Knative serves: still all on 00001
    svc["status"]["traffic"] = [
        {"revisionName": "podinfo-00001", "latestRevision": False, "percent": 90, "tag": "primary"},
        {"revisionName": "podinfo-00002", "latestRevision": True, "percent": 10, "tag": "canary"},
    ]
    store.edit(svc)
    assert router.get_routes(ro) == Routes(champion_weight=90, challenger_weight=10)


def test_a_service_knative_never_made_ready_is_a_clear_error() -> None:
    svc = ksvc()
    del svc["status"]
    store = MemoryObjectStore([svc])
    with pytest.raises(RouterError, match=r"Service test/podinfo has no ready revision yet"):
        ROUTERS["knative"](store).set_routes(rollout(), Routes())
    with pytest.raises(RouterError, match=r"Service test/other .* does not exist; create it"):
        ro = rollout(targetRef={"apiVersion": API, "kind": KIND, "name": "other"})
        ROUTERS["knative"](store).set_routes(ro, Routes())
    pinned = ksvc()
    del pinned["status"]
    pinned["metadata"]["annotations"] = {"modelcanary.io/champion-revision": "podinfo-00004"}
    store = MemoryObjectStore([pinned])
    ROUTERS["knative"](store).set_routes(rollout(), Routes())  # the fix the message names
    assert written(store)["spec"]["traffic"][0]["revisionName"] == "podinfo-00004"


def test_header_matches_and_mirroring_are_refused_before_anything_is_written() -> None:
    store = MemoryObjectStore([ksvc()])
    router = ROUTERS["knative"](store)
    match = (MatchCondition.model_validate({"headers": {"x-ab": {"exact": "1"}}}),)
    with pytest.raises(RouterError, match=r"knative cannot match on headers"):
        router.set_routes(rollout(), Routes(match=match))
    with pytest.raises(RouterError, match=r"knative cannot mirror"):
        router.set_routes(rollout(), Routes(mirror_weight=20))
    assert "traffic" not in written(store)["spec"]


def test_readiness_of_the_knative_workloads() -> None:
    def cond(**states: str) -> list[dict[str, str]]:
        return [{"type": k, "status": v} for k, v in states.items()]

    ready = ksvc(conditions=cond(Ready="True", RoutesReady="True", ConfigurationsReady="True"))
    assert ksvc_ready(ready) == (True, True, "")
    assert ksvc_revision(ready) == "podinfo-00002"
    starting = ksvc(
        latestReadyRevisionName="podinfo-00001",
        conditions=cond(Ready="Unknown", RoutesReady="True", ConfigurationsReady="Unknown"),
    )
    champion, challenger, why = ksvc_ready(starting)
    assert champion and not challenger and "podinfo-00002 is not ready yet" in why
    lagging = ksvc(
        conditions=cond(Ready="True", RoutesReady="True", ConfigurationsReady="True"),
        traffic=[{"revisionName": "podinfo-00001", "latestRevision": True, "percent": 0}],
    )
    champion, challenger, why = ksvc_ready(lagging)
    assert champion and not challenger and "still routes the latest target to podinfo-00001" in why
    down = ksvc(conditions=cond(Ready="False", RoutesReady="False"))
    assert ksvc_ready(down)[0] is False and "does not serve yet" in ksvc_ready(down)[2]


def test_flaggers_knative_canary_converts_and_drives_the_service() -> None:
    converted = from_flagger(yaml.safe_load_all(FLAGGER_KNATIVE_CANARY), source="knative.yaml")
    ro = parse_rollout(converted.documents[0])
    assert ro.spec.router.provider == "knative"
    assert ro.spec.target_ref is not None and ro.spec.target_ref.kind == "Service"
    store = MemoryObjectStore([ksvc(latestReadyRevisionName="podinfo-00001")])
    routers = RouterSet(store)
    routers.reconcile(ro)
    for stage in stages(ro.spec.analysis):
        routes = stage.routes(ro.spec.analysis.session_affinity)
        routers.set_routes(ro, routes)
        assert routers.get_routes(ro) == routes
        assert_valid(list(store))
    assert [t["percent"] for t in written(store)["spec"]["traffic"]] == [50, 50]
    routers.finalize(ro)
    assert len(store) == 1  # the user's Service stays, all traffic on the champion
    assert [t["percent"] for t in written(store)["spec"]["traffic"]] == [100, 0]
    back = to_flagger(ro)
    canary = next(d for d in back.documents if d["kind"] == "Canary")
    assert canary["spec"]["provider"] == "knative"
    assert canary["spec"]["targetRef"]["apiVersion"] == API


def test_doc_example_is_the_rendered_service() -> None:
    """docs/routers.md (Knative) shows what the router writes for 90/10."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "routers.md"
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    (documented,) = [yaml.safe_load(b) for b in blocks if f"apiVersion: {API}" in b]
    store = MemoryObjectStore([ksvc(latestReadyRevisionName="podinfo-00001")])
    (rendered,) = ROUTERS["knative"](store).render(
        rollout(), Routes(champion_weight=90, challenger_weight=10)
    )
    assert documented["spec"] == rendered["spec"]
    notes = rendered["metadata"]["annotations"]
    assert documented["metadata"]["annotations"].items() <= notes.items()


@pytest.mark.parametrize(
    ("spec", "path", "words"),
    [
        (
            {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}},
            "spec.targetRef",
            "apps/v1 Deployment is not a Knative Service",
        ),
        (
            {
                "champion": {"modelUri": "models:/fraud/1"},
                "challenger": {"modelUri": "models:/fraud/2"},
            },
            "spec.targetRef",
            "is required with provider knative",
        ),
        (
            {"router": {"provider": "istio"}},
            "spec.router.provider",
            "istio cannot split traffic between the revisions",
        ),
    ],
)
def test_a_rollout_the_knative_router_cannot_run_is_refused(
    tmp_path: Path, spec: dict[str, Any], path: str, words: str
) -> None:
    doc: dict[str, Any] = {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": API, "kind": KIND, "name": "podinfo"},
            "router": {"provider": "knative"},
            "analysis": {
                "stepWeights": [10],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
        },
    }
    if "champion" in spec:
        del doc["spec"]["targetRef"]
    doc["spec"].update(spec)
    with pytest.raises(SpecError) as err:
        parse_rollout(doc)
    (issue,) = [i for i in err.value.issues if i.path == path]
    assert words in issue.message and "knative" in issue.hint  # the fix is named
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(doc))
    done = cli(tmp_path, "validate", "r.yaml")
    assert done.returncode == 2 and path in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
