"""`run_local`: once the rollout is decided, the model-server processes and the router are
released (not kept until `close()`), while the status, history and widget stay readable;
`keep_serving=True` keeps them up until `close()` (real model servers, real router)."""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from notebook_fixtures import TinyModels, rollout, save_models

from modelcanary.notebook import run_local


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return save_models(tmp_path_factory.mktemp("release-models"))


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


def _until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def _server_pids(run: object) -> list[int]:
    workloads = run.local.workloads  # type: ignore[attr-defined]
    handles = [side.handle for side in (workloads.champion, workloads.challenger) if side]
    return [h.pid for h in handles if h is not None]


def test_servers_and_router_are_released_after_the_verdict(tiny: TinyModels) -> None:
    with run_local(rollout(tiny, "nb-release", [50]), payloads=tiny.payloads) as run:
        run.wait_started(120)  # run_local returns before the servers are up
        pids, url = _server_pids(run), run.url
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        assert _listening(url)
        status = run.wait(120)
        assert status.phase.traits.decided, status.message
        _until(
            lambda: (
                not any(_alive(p) for p in pids)
                and not _listening(url)
                and getattr(run, "released", False)
            ),
            "the model servers and the router are gone after the verdict",
            timeout=30,
        )
        assert run.url == ""
        # what a notebook shows after the verdict is still there
        assert run.status().outcome == status.outcome
        assert len(run.history()) >= 1
        assert run.widget().badge.value  # the widget renders from the status
        assert not [p for p in os.listdir("/proc") if p.isdigit() and int(p) in pids]


def test_keep_serving_keeps_them_until_close(tiny: TinyModels) -> None:
    run = run_local(rollout(tiny, "nb-keep", [50]), payloads=tiny.payloads, keep_serving=True)
    try:
        url = run.wait_started(120).url
        assert run.wait(120).phase.traits.decided
        time.sleep(2.0)  # longer than a release takes (it is checked every 1.2 s at most)
        pids = _server_pids(run)  # a promotion already stopped the old champion's server
        assert pids and all(_alive(p) for p in pids)
        assert _listening(url) and not run.released
    finally:
        run.close()
    assert not any(_alive(p) for p in pids) and not _listening(url) and run.released
