"""The bundle's container command really runs: the operator starts with exactly the args and
env the chart renders, against a Kubernetes API (kmock on 127.0.0.1, see kube_fixtures.py),
answers the probes' ``/healthz``, serves ``/metrics`` on the Service's port and registers in
the kopf peering object the bundle creates. The other bundles' args (kustomize overlays, the
chart with two namespaces or scope: cluster) are parsed by the real command line
(``$(POD_NAMESPACE)`` expanded as the kubelet does) into the expected operator options.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import port_retry
import pytest
from bundle_objects import OPERATOR, Obj, helm_render, kustomize, one, operator_container
from kube_fixtures import KubeApi, kube_api
from port_retry import PortTaken, owns_port, says_port_taken, start_retrying
from rbac_authz import Guard
from typer.testing import CliRunner

from modelcanary.cli._main import app
from modelcanary.controller import _operator as controller_operator

POD_NAMESPACE = "modelcanary-system"
KOPF_START = {
    ("list", "namespaces", None),
    ("watch", "namespaces", None),
    ("watch", "customresourcedefinitions", None),
    ("watch", "modelrollouts", POD_NAMESPACE),
    ("patch", "kopfpeerings", POD_NAMESPACE),
}
"""What a namespaced operator calls as it starts (verb, resource, namespace)."""


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApi]:
    with kube_api(namespaces=("default", POD_NAMESPACE)) as api:
        api.declare_crd_file(OPERATOR / "crds" / "kopf-peerings.yaml")
        yield api


def _env(container: Obj) -> dict[str, str]:
    """The container's environment as the kubelet builds it (downward API resolved)."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            env[item["name"]] = {
                "metadata.namespace": POD_NAMESPACE,
                "metadata.name": "modelcanary-operator-7d9f-abcde",
            }[field]
    return env


def _expand(args: list[str], env: dict[str, str]) -> list[str]:
    """The kubelet's ``$(VAR)`` expansion of container args."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in args]


def _wait_for(
    url: str, process: subprocess.Popen[str], log: Path, attempts: int = 480
) -> httpx.Response:
    """GET ``url`` until the operator itself listens there and answers 200 (it is starting);
    bounded, never timed.

    Raises :class:`PortTaken` when the operator's log says a port picked for it was taken
    meanwhile (it exits, or kopf runs on without its health endpoint; an answer from
    whatever took the port is no answer from the operator)."""
    response: httpx.Response | None = None
    port = httpx.URL(url).port
    assert port is not None, url
    for _ in range(attempts):
        text = log.read_text(errors="replace")
        if says_port_taken(text):
            raise PortTaken(f"the operator could not bind its port: {text[-3000:]}")
        assert process.poll() is None, f"operator exited: {text[-3000:]}"
        if not owns_port(process.pid, port):
            time.sleep(0.25)
            continue
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    if response is not None:
        return response
    raise AssertionError(f"{url} never answered")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Running:
    """An operator process started with the chart's command, env and RBAC."""

    process: subprocess.Popen[str]
    log: Path
    metrics: int
    key: tuple[str, str, str, str]
    guard: Guard


def _start_operator(kube: KubeApi, tmp_path: Path) -> Running:
    """The chart's operator on newly picked health/metrics ports, answering its liveness
    probe; :class:`PortTaken` (process stopped) if one of them was taken before it bound."""
    health, metrics = port_retry.pick_port(), port_retry.pick_port()
    objects = helm_render(
        {
            "health": {"port": health},
            "selfMetrics": {"port": metrics},
            "providers": {"prometheus": {"address": "http://127.0.0.1:9/"}},
        },
        namespace=POD_NAMESPACE,
    )
    peering = one(objects, "KopfPeering")
    key = (peering["apiVersion"], "KopfPeering", POD_NAMESPACE, peering["metadata"]["name"])
    if kube.get(*key) is None:
        kube.create(peering)
    container = operator_container(objects)
    env = _env(container)
    assert env["MODELCANARY_METRICS_PORT"] == str(metrics)
    command = [str(Path(sys.executable).parent / "modelcanary"), *_expand(container["args"], env)]
    log = tmp_path / f"operator-{health}.log"
    guard = Guard(kube, objects, token="kmock")  # the kubeconfig's token
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env, "KUBECONFIG": str(kube.kubeconfig(tmp_path))},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        probe = container["livenessProbe"]["httpGet"]["path"]
        assert _wait_for(f"http://127.0.0.1:{health}{probe}", process, log).status_code == 200
    except BaseException:
        _stop(process)
        guard.close()
        raise
    return Running(process, log, metrics, key, guard)


def test_chart_command_runs_the_operator(kube: KubeApi, tmp_path: Path) -> None:
    """The default install (scope namespace: the release namespace, its KopfPeering); one
    real operator process, as its start is slow (imports), the other scopes' command lines
    are checked below. Its every API call goes through the install's own RBAC (a Guard:
    refused with 403 when not granted), kopf's start-up included: none may be refused.
    Its ports are in its command line: started again on new ones if one was taken."""
    running = start_retrying(lambda: _start_operator(kube, tmp_path))
    process, log, key, guard = running.process, running.log, running.key, running.guard
    try:
        scraped = _wait_for(f"http://127.0.0.1:{running.metrics}/metrics", process, log)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        stored = kube.get(*key)
        for _ in range(240):  # kopf registers itself in the peering object's status
            if stored and stored.get("status"):
                break
            time.sleep(0.25)
            stored = kube.get(*key)
        assert stored and stored.get("status"), f"no registration: {log.read_text()[-3000:]}"
        for _ in range(240):  # kopf's start-up calls, every one through the RBAC guard
            if {(c.verb, c.resource, c.namespace) for c, _ in guard.calls} >= KOPF_START:
                break
            time.sleep(0.25)
    finally:
        _stop(process)
        guard.close()
    kube.reset()
    assert guard.refused() == [], guard.refused()
    made = {(c.verb, c.resource, c.namespace) for c, _ in guard.calls}
    assert made >= KOPF_START, KOPF_START - made


def _chart_namespaced() -> list[Obj]:
    return helm_render({"scope": "namespace", "watchNamespaces": ["ml", "fraud"]})


BUNDLES = {
    "kustomize-cluster": lambda: kustomize(OPERATOR / "kustomize" / "overlays" / "cluster"),
    "kustomize-namespaced": lambda: kustomize(OPERATOR / "kustomize" / "overlays" / "namespaced"),
    "helm-namespace": _chart_namespaced,
    "helm-cluster": lambda: helm_render({"scope": "cluster"}),
}


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_command_line_is_accepted(bundle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = operator_container(BUNDLES[bundle]())
    env = _env(container)
    calls: list[Any] = []  # what the CLI would run (the operator itself is tested above)
    monkeypatch.setattr(controller_operator, "run_operator", calls.append)
    result = CliRunner().invoke(app, _expand(container["args"], env), env=env)
    assert result.exit_code == 0, result.output
    (options,) = calls
    assert options.liveness == "http://0.0.0.0:8080/healthz"
    assert options.peering == "modelcanary"
    assert options.metrics_port == 8081
    assert options.metrics_server == "http://prometheus.monitoring:9090"
    expected = {
        "kustomize-cluster": (),
        "kustomize-namespaced": (POD_NAMESPACE,),
        "helm-namespace": ("ml", "fraud"),
        "helm-cluster": (),
    }[bundle]
    assert tuple(options.namespaces) == expected
    assert options.all_namespaces == (expected == ())
