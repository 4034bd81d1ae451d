"""The live widget of a rollout in a cluster is the local runs' widget, fed by a Kubernetes watch
on the resource: every status the operator writes is drawn, without reading the resource
again (no polling), and the widget stops following once the rollout is decided.

The statuses are written here as the operator would (status subresource patches), against
the kmock API; no operator runs in this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cluster_fixtures import NS, ROLLOUT_API, fraud, history_record
from kube_fixtures import KubeApi
from polling import until

import modelcanary as mc
from modelcanary.controller._cluster import resource
from modelcanary.notebook._widget import RunWidget


def _until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    return until(check, what, timeout, interval=0.02)


def _urls(kube: KubeApi) -> list[tuple[str, str]]:
    return kube.call(
        lambda: [
            (str(r.method.value), str(r.url.path_qs))
            for r in kube.handler._requests
            if "/modelrollouts" in r.url.path
        ]
    )


def test_the_widget_draws_each_version_from_the_watch_without_polling(
    ml_kube: KubeApi, kubeconfig: str, clean_ml: None
) -> None:
    ml_kube.create(resource(fraud("http://prometheus.monitoring:9090").build(), NS))
    run = mc.cluster(kubeconfig=kubeconfig).get("fraud")
    widget = run.widget()
    assert isinstance(widget, RunWidget) and widget.polling
    _until(lambda: any("watch=true" in u for _, u in _urls(ml_kube)), "the watch to open")
    ml_kube.call(lambda: ml_kube.handler._requests.clear())
    drawn = widget.updates

    history: list[dict[str, Any]] = []
    weights = [10, 20, 30, 40, 50, 60, 70, 80]
    for i, weight in enumerate(weights):
        history.append(history_record(weight, i))
        status = {"phase": "Progressing", "canaryWeight": weight, "history": history}
        ml_kube.patch(ROLLOUT_API, "ModelRollout", NS, "fraud", {"status": status})
        _until(lambda w=weight: f"<b>{w}%</b>" in widget.summary.value, f"weight {weight}")
        time.sleep(0.3)  # a 4 Hz poller would read the resource about once per write here
    assert widget.updates - drawn >= len(weights)  # every version drawn
    reads = [u for m, u in _urls(ml_kube) if m == "GET" and "watch=true" not in u]
    assert reads == []  # ... from the watch's events: the resource was never read again

    challenger = widget.weights.data[1]
    assert list(challenger.y)[-1] == 80
    assert set(widget.metrics) == {"errors"} and len(widget.metrics["errors"].data[0].y) == 8

    final = {
        "phase": "Succeeded",
        "canaryWeight": 0,
        "outcome": "promoted",
        "message": "challenger promoted",
        "history": history,
    }
    ml_kube.patch(ROLLOUT_API, "ModelRollout", NS, "fraud", {"status": final})
    _until(lambda: not widget.polling, "the widget to stop following the decided rollout")
    assert widget.phase == "Succeeded" and "promoted" in widget.badge.value
    assert all(b.disabled for b in widget.buttons.values())
    assert run.done


def test_a_button_without_rbac_says_so_in_the_widget(
    ml_kube: KubeApi, kubeconfig: str, clean_ml: None
) -> None:
    import kmock
    from kmock._internal.k8s import KubernetesError

    ml_kube.create(resource(fraud("http://prometheus.monitoring:9090").build(), NS))
    run = mc.cluster(kubeconfig=kubeconfig).get("fraud")
    widget = run.widget()
    before = ml_kube.call(lambda: list(ml_kube.handler._payloads))

    def forbidden(request: Any) -> Any:
        raise KubernetesError(status=403, reason="Forbidden", message="cannot patch")

    ml_kube.call(lambda: ml_kube.handler[kmock.action.UPDATE] << forbidden)
    try:
        widget.buttons["pause"].click()
    finally:

        def restore() -> None:
            ml_kube.handler._payloads[:] = before

        ml_kube.call(restore)
    text = widget.feedback.value
    assert "pause failed" in text and "refused to patch ModelRollout ml/fraud" in text
    assert "kubectl auth can-i patch modelrollouts.modelcanary.io -n ml" in text
    run.close()
    assert not widget.polling
