"""A local rollout keyed by a user header, end to end on loopback (real router, real servers).

``analysis.unitKey: {header: x-user-id}`` with ``load.users``: the built-in load's simulated
users send their id in ``x-user-id``, the router records it as each request's unit key (no
session affinity involved), the embedded provider hands ``VersionData.units`` to the analysis
and the sequential judge tests per user. A few heavy-failing users (their inputs fail on
either version alike, decided by the model servers from the header) do not roll back a
healthy challenger.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from scripted_model import Script, scripted_model

from modelcanary.analysis import Window
from modelcanary.local._runtime import LocalRun
from modelcanary.spec import ModelRollout, Phase, parse_rollout

PAYLOAD = b'{"inputs": [[1.0, 2.0]]}'
USERS = 20
BAD_USERS = frozenset(f"user-{u}" for u in range(3))
"""Users (the load's ids: ``user-N``) whose requests fail one time in two, on the champion
and the challenger alike."""


def _fails_every_other_request_of_a_bad_user() -> Script:
    """A model's script: every other request of a ``BAD_USERS`` user fails (500)."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def status(headers: Mapping[str, str], body: bytes) -> int:
        user = headers.get("x-user-id", "")
        with lock:
            seen[user] += 1
            n = seen[user]
        return 500 if user in BAD_USERS and n % 2 == 0 else 200

    return status


def _rollout(champion: str, challenger: str) -> ModelRollout:
    return parse_rollout(
        {
            "metadata": {"name": "per-user"},
            "spec": {
                "champion": {"url": champion},
                "challenger": {"url": challenger},
                "analysis": {
                    "interval": "3s",
                    "stepWeights": [25, 50],
                    "threshold": 2,
                    "unitKey": {"header": "x-user-id"},
                    "metrics": [
                        {
                            "name": "error-rate",
                            "relativeTo": "champion",
                            "thresholdRange": {"max": 2},
                        }
                    ],
                },
                "load": {"rps": 80, "concurrency": 4, "users": USERS},
                "progressDeadlineSeconds": 60,
            },
        }
    )


def test_a_header_keyed_rollout_is_judged_per_user_and_promotes_a_healthy_challenger() -> None:
    with (
        scripted_model(_fails_every_other_request_of_a_bad_user()) as champion,
        scripted_model(_fails_every_other_request_of_a_bad_user()) as challenger,
    ):
        rollout = _rollout(champion.url, challenger.url)
        with LocalRun(rollout, payloads=[PAYLOAD], look_interval=1.0) as run:
            status = run.wait(120)  # a bound, not a timing target
            findings = list(run.findings)
            rows = run.recorder.rows()
            keys = run.recorder.unit_keys()
            data = run.recorder.interval_data(Window(0.0, float("inf")))
    assert status.phase == Phase.SUCCEEDED and status.outcome == "promoted", status.message
    assert not findings  # the load sends the unit header: no LoadWarning
    # both versions served the heavy users, whose inputs failed on both
    failed = Counter(r.version for r in rows if r.status >= 500)
    assert failed["champion"] > 0 and failed["challenger"] > 0
    # every request was keyed by its simulated user's header
    assert keys and all(k.startswith("user-") for k in keys)
    assert 1 < len(set(keys)) <= USERS
    assert set(keys) >= BAD_USERS
    bad_keys = {k for k, r in zip(keys, rows, strict=True) if r.status >= 500}
    assert bad_keys <= BAD_USERS
    for units in (data.champion.units, data.challenger.units):
        assert units is not None and len(set(units.keys)) > 1
    # the sequential test of the error rate ran per user (its clustered state was kept)
    state: dict[str, Any] = status.analysis_state or {}
    sequential = state.get("sequential") or {}
    judged = sequential.get("error-rate@champion") or {}
    assert judged.get("clustered"), state
