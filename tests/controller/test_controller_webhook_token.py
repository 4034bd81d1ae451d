"""The operator's webhook runner reads a webhook's ``secretRef`` Secret from its namespace."""

from __future__ import annotations

import base64

from kube_fixtures import KubeApi

from modelcanary.controller._runtime import build_runtime
from modelcanary.hooks import GateServer
from modelcanary.ports import WebhookPayload
from modelcanary.spec import Webhook

TOKEN = "operator-gate-token-0123456789"


def test_the_operator_authenticates_webhooks_with_a_secret_of_the_rollouts_namespace(
    kube: KubeApi,
) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gate", "namespace": "ml"},
            "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
        }
    )
    runtime = build_runtime(kube.api_client)
    payload = WebhookPayload("fraud", "ml", "Progressing", "c0ffee", "confirm-rollout", {})
    with GateServer("127.0.0.1", 0, token=TOKEN) as gate:
        hook = Webhook.model_validate(
            {
                "name": "open",
                "type": "confirm-rollout",
                "url": f"{gate.url}/gate/open",
                "secretRef": {"name": "gate"},
            }
        )
        opened = runtime.engine.webhooks.run(hook, payload)
        other = WebhookPayload("fraud", "other", "Progressing", "c0ffee", "confirm-rollout", {})
        elsewhere = runtime.engine.webhooks.run(hook, other)
    assert (opened.passed, opened.status_code) == (True, 202), opened.message
    assert not elsewhere.passed and TOKEN not in elsewhere.message
