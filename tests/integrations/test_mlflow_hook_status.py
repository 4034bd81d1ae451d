"""`GET /status` on the hook's receiver: the rollouts in flight, the last deliveries (as MLflow
sent them) and the last verdicts, as JSON; read-only and closed to web pages (real MLflow
server, real webhooks, real local rollouts)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelcanary.integrations._mlflow_hook import RegistryHook, register_webhook
from modelcanary.integrations._mlflow_hook_receiver import DeliveryVerifier, WebhookReceiver

SECRET = "status-secret"


def _until(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    end = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_status_shows_the_rollout_in_flight_deliveries_and_verdict(
    trained: Any, register_versions: Any, template: Path
) -> None:
    from mlflow import MlflowClient

    uri = trained.uri
    model = f"status-{uuid.uuid4().hex[:6]}"
    versions = register_versions(model, "champion", "healthy")
    hook = RegistryHook(
        uri,
        secret=SECRET,
        template=template,
        models=[model],
        poll_interval=3600,  # only the webhook starts it
        payloads=trained.payloads,
    )
    with hook:
        status_url = f"{hook.url}/status"
        webhook = register_webhook(uri, hook.url, SECRET, name=f"t-{uuid.uuid4().hex[:8]}")
        try:
            time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL
            MlflowClient(uri).set_registered_model_alias(model, "challenger", versions[1])

            def in_flight() -> dict[str, Any] | None:
                body = httpx.get(status_url, timeout=5).json()
                rollouts = [r for r in body["rollouts"] if r["model"] == model]
                return body if rollouts and "phase" in rollouts[0] else None

            body = _until(in_flight, "the rollout to show in /status")
            (rollout,) = body["rollouts"]
            assert rollout["version"] == versions[1] and rollout["since"].endswith("Z")
            assert body["runtime"] == "local"
            alias = [d for d in body["recentDeliveries"] if d.get("model") == model]
            assert alias and alias[0]["event"] == "model_version_alias.created"
            assert alias[0]["alias"] == "challenger" and alias[0]["result"] == "accepted"
            assert body["deliveries"]["accepted"] >= 1 + 3  # the alias, the 3 test deliveries

            def decided() -> dict[str, Any] | None:
                body = httpx.get(status_url, timeout=5).json()
                done = [o for o in body["outcomes"] if o["model"] == model]
                return done[0] if done and not body["rollouts"] else None

            verdict = _until(decided, "the verdict in /status")
            assert verdict["version"] == versions[1]
            assert verdict["outcome"] == "promoted", verdict["message"]
            # read-only for people and scripts, closed to web pages (CSRF, DNS rebinding)
            assert httpx.get(status_url, headers={"Host": "localhost"}).status_code == 200
            assert httpx.get(status_url, headers={"Host": "evil.example"}).status_code == 403
            cross = httpx.get(status_url, headers={"Origin": "http://evil.example"})
            assert cross.status_code == 403
        finally:
            MlflowClient(uri).delete_webhook(webhook)


def test_status_host_names_and_the_health_check() -> None:
    """Host names given as status_hosts are served besides IPs and loopback names; any other
    GET path stays the plain health check; the hook's own status source is optional."""
    receiver = WebhookReceiver(
        DeliveryVerifier(SECRET),
        lambda event: None,
        status=lambda: {"rollouts": [{"model": "fraud", "version": "7"}]},
        status_hosts=["hook.example", "*.svc.cluster.local"],
    ).start()
    try:
        url = f"{receiver.url}/status"
        for host in ("hook.example", "modelcanary-hook.ml.svc.cluster.local", "127.0.0.1"):
            answer = httpx.get(url, headers={"Host": host}, timeout=5)
            assert answer.status_code == 200, host
            assert answer.json()["rollouts"] == [{"model": "fraud", "version": "7"}]
            assert answer.json()["deliveries"] == {"accepted": 0, "refused": 0}
        assert httpx.get(url, headers={"Host": "other.example"}, timeout=5).status_code == 403
        assert httpx.get(receiver.url, timeout=5).json() == {"status": "ok"}
    finally:
        receiver.close()
