"""In-memory ports for engine tests: a small simulated world (workloads, router, metrics, hooks).

The world lives outside the engine, so a test can throw the engine away after any tick (a
crash) and build a new one on the same store and world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcanary.analysis import IntervalData, NoData, Scalar, Window, version_data
from modelcanary.engine import Engine, ManualClock, MemoryStatusStore
from modelcanary.errors import RouterError, TransientProviderError
from modelcanary.ports import WebhookPayload, WebhookResult
from modelcanary.rollout import Readiness, Routes
from modelcanary.spec import MetricSpec, ModelRollout, Webhook, parse_rollout


@dataclass
class World:
    """What the engine acts on: two model servers, the routes, and how good the challenger is."""

    champion: str = "models:/fraud@champion"
    challenger: str = "models:/fraud/2"
    challenger_replicas: int = 0
    ready: bool = True
    routes: Routes = field(default_factory=Routes)
    route_log: list[Routes] = field(default_factory=list)
    error_rate: float = 0.0
    provider_down: bool = False
    fail_next_route: bool = False
    promotions: int = 0
    finalized: bool = False
    hook_answers: dict[str, bool] = field(default_factory=dict)
    hook_calls: list[WebhookPayload] = field(default_factory=list)


class Workloads:
    def __init__(self, world: World) -> None:
        self.w = world

    def ensure(self, rollout: ModelRollout) -> None:
        self.w.challenger_replicas = 1

    def readiness(self, rollout: ModelRollout) -> Readiness:
        return Readiness(True, self.w.ready, rollout.spec_hash())

    def scale_challenger(self, rollout: ModelRollout, replicas: int) -> None:
        self.w.challenger_replicas = replicas

    def promote(self, rollout: ModelRollout) -> None:
        self.w.champion = self.w.challenger
        self.w.promotions += 1


class Router:
    def __init__(self, world: World) -> None:
        self.w = world

    def reconcile(self, rollout: ModelRollout) -> None:
        pass

    def set_routes(self, rollout: ModelRollout, routes: Routes) -> None:
        if self.w.fail_next_route:
            self.w.fail_next_route = False
            raise RouterError("injected: mesh API unavailable")
        self.w.routes = routes
        self.w.route_log.append(routes)

    def get_routes(self, rollout: ModelRollout) -> Routes:
        return self.w.routes

    def finalize(self, rollout: ModelRollout) -> None:
        self.w.routes = Routes()
        self.w.finalized = True


class Metrics:
    """Requests in proportion to the challenger's traffic; data seeded by the window."""

    name = "fake"
    last_error = ""

    def __init__(self, world: World, rps: float = 20.0) -> None:
        self.w = world
        self.rps = rps

    def is_online(self) -> bool:
        return not self.w.provider_down

    def backends(self, rollout: ModelRollout) -> list[Metrics]:
        return [self]

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        if self.w.provider_down:
            raise TransientProviderError("injected: connection refused")
        rng = np.random.default_rng(int(window.end))
        total = int(self.rps * window.seconds)
        share = max(self.w.routes.challenger_weight, self.w.routes.mirror_weight) / 100
        n_chal, n_champ = int(total * share), total
        chal = version_data(
            "challenger",
            latencies_ms=rng.normal(50, 5, n_chal),
            errors=rng.random(n_chal) < self.w.error_rate,
        )
        champ = version_data(
            "champion", latencies_ms=rng.normal(50, 5, n_champ), errors=np.zeros(n_champ, bool)
        )
        return IntervalData(window, chal, champ)

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        return Scalar(0.75)


class Hooks:
    def __init__(self, world: World) -> None:
        self.w = world

    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        self.w.hook_calls.append(payload)
        passed = self.w.hook_answers.get(hook.type, hook.type != "rollback")
        return WebhookResult(
            hook.name, hook.type, passed, 200 if passed else 403, "" if passed else "gate closed"
        )


def make_rollout(**analysis: Any) -> ModelRollout:
    spec_extra = analysis.pop("spec", {})
    base: dict[str, Any] = {
        "interval": "30s",
        "threshold": 2,
        "stepWeights": [10, 50],
        "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
    }
    base.update(analysis)
    return parse_rollout(
        {
            "metadata": {"name": "fraud", "namespace": "ml"},
            "spec": {
                "champion": {"modelUri": "models:/fraud@champion"},
                "challenger": {"modelUri": "models:/fraud/2"},
                "analysis": base,
                **spec_extra,
            },
        }
    )


def make_engine(
    store: MemoryStatusStore, world: World, clock: ManualClock, **options: Any
) -> Engine:
    """An engine on ``world``'s fakes; ``options`` go to :class:`Engine` (``metrics``: another
    metrics port than :class:`Metrics`)."""
    return Engine(
        store=store,
        workloads=Workloads(world),
        router=Router(world),
        webhooks=Hooks(world),
        clock=clock,
        **{"metrics": Metrics(world), **options},
    )
