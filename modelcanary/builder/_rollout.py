"""The fluent, immutable ``Rollout`` builder: versions, routing, traffic plan, flags.

``Rollout("fraud").champion(...).challenger(...).canary(...).slo(...).build()``: every
method returns a new ``Rollout``; see :mod:`.state` for how state is kept and validated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelcanary.spec import Metadata, ModelVersion, Pricing, Step, parse_duration

from . import _parts as parts
from . import _plans as plans
from ._checks import RolloutChecks
from ._cohorts import cohorts_data
from ._state import RolloutState
from ._util import drop_none, fail, set_fields, validated


class Rollout(RolloutChecks):
    """A champion/challenger rollout under construction (immutable; methods return copies)."""

    def __init__(self, name: str, namespace: str | None = None) -> None:
        """A new rollout named ``name`` (a Kubernetes name), in ``namespace`` if given.

        Declared here, not only on the base: pydantic's mypy plugin gives every model class
        without its own ``__init__`` a keyword-only one made of the fields, so without it
        ``Rollout("fraud")`` would fail ``mypy --strict`` in user code.
        """
        RolloutState.__init__(self, name, namespace)

    def champion(
        self,
        source: str | ModelVersion | None = None,
        *,
        url: str | None = None,
        image: str | None = None,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        resources: Mapping[str, Any] | None = None,
        serving: Mapping[str, Any] | None = None,
        protocol: str | None = None,
        pricing: Mapping[str, float] | Pricing | None = None,
    ) -> Rollout:
        """The version serving now: ``models:/...`` URI, ``http(s)://`` URL (or ``url=``) or
        ``image=``. An OpenAI-compatible server: ``url=..., protocol="openai"``, with its
        ``pricing={"input_per_1k": ..., "output_per_1k": ...}`` for the cost SLIs."""
        opts = {"name": name, "env": env, "resources": resources, "serving": serving}
        version = parts.version("champion", source, image, url, **opts)
        return self._spec(champion=version | parts.llm_options("champion", protocol, pricing))

    def challenger(
        self,
        source: str | ModelVersion | None = None,
        *,
        url: str | None = None,
        image: str | None = None,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        resources: Mapping[str, Any] | None = None,
        serving: Mapping[str, Any] | None = None,
        protocol: str | None = None,
        pricing: Mapping[str, float] | Pricing | None = None,
    ) -> Rollout:
        """The version under test (same forms as :meth:`champion`)."""
        opts = {"name": name, "env": env, "resources": resources, "serving": serving}
        version = parts.version("challenger", source, image, url, **opts)
        return self._spec(challenger=version | parts.llm_options("challenger", protocol, pricing))

    def target(
        self, name: str, *, kind: str = "Deployment", api_version: str = "apps/v1"
    ) -> Rollout:
        """Operator mode: roll out new revisions of this Deployment (Flagger's targetRef)."""
        return self._spec(targetRef={"name": name, "kind": kind, "apiVersion": api_version})

    def router(self, provider: str, *, listen: str | None = None, **service_opts: Any) -> Rollout:
        """Traffic router (local, istio, gatewayapi, nginx...); other keywords go to service()."""
        new = self._spec(router=drop_none(provider=provider, listen=listen))
        return new.service(**service_opts) if service_opts else new

    def service(self, **opts: Any) -> Rollout:
        """Service fields: port, hosts, gateways, gateway_refs, ingress_ref, timeout, retries..."""
        old = self.spec_fields.service
        return self._spec(service=parts.service(set_fields(old) if old else {}, **opts))

    def shadow(self, percent: int = 100, iterations: int = 1) -> Rollout:
        """Mirror ``percent`` of requests to the challenger for N intervals (a shadow stage)."""
        return self._with_plan(plans.shadow_plan(percent, iterations), None, None)

    def canary(
        self,
        steps: Any = None,
        *,
        step: int | None = None,
        max_weight: int | None = None,
        interval: str | None = None,
        threshold: int | None = None,
        promotion_step: int | None = None,
    ) -> Rollout:
        """Weighted canary: ``steps=[5, 10, 25, 50]`` or ``step=10`` (up to ``max_weight``)."""
        plan = plans.canary_plan(steps, step, max_weight, promotion_step)
        return self._with_plan(plan, interval, threshold)

    def ab_test(
        self,
        header: str | None = None,
        value: str | None = None,
        *,
        iterations: int = 10,
        match: Any = None,
        interval: str | None = None,
        threshold: int | None = None,
        **condition: Any,
    ) -> Rollout:
        """A/B test: matching requests go to the challenger for ``iterations`` intervals.

        ``header``/``cookie``/``query_param``/``body_field`` with ``value``/``prefix``/
        ``suffix``/``regex``; ``headers=``/``cookies=``/``query_params=``/``body=`` mappings
        add parts to the same condition (AND); ``match=[...]`` adds conditions (OR).
        """
        unknown = sorted(set(condition) - plans.MATCH_OPTIONS)
        if unknown:
            known = ", ".join(sorted(plans.MATCH_OPTIONS | {"header", "value", "match"}))
            fail("spec.analysis.match", f"unknown option(s) {', '.join(unknown)}", f"use {known}")
        cond = plans.match_condition(header=header, value=value, **condition)
        return self._with_plan(plans.ab_plan(cond, match, iterations), interval, threshold)

    def blue_green(
        self,
        iterations: int = 10,
        *,
        mirror: bool = False,
        mirror_weight: int | None = None,
        interval: str | None = None,
        threshold: int | None = None,
    ) -> Rollout:
        """Blue/green: test the challenger for N intervals, then switch all traffic at once."""
        plan = plans.blue_green_plan(iterations, mirror, mirror_weight)
        return self._with_plan(plan, interval, threshold)

    def mirror_budget(
        self,
        max_prompts: int | None = None,
        *,
        max_tokens: int | None = None,
        max_cost: float | None = None,
    ) -> Rollout:
        """Spend cap on prompts mirrored to an OpenAI-compatible challenger for the whole
        rollout: most prompts, tokens (prompt + output) or cost at its ``pricing``."""
        budget = drop_none(maxPrompts=max_prompts, maxTokens=max_tokens, maxCost=max_cost)
        return self._options(mirrorBudget=budget)

    def steps(self, *items: Step | Mapping[str, Any]) -> Rollout:
        """Custom steps: ``steps(mc.step(5, "5m"), mc.step(50, pause=True))`` or dicts."""
        return self._with_plan(plans.steps_plan(items), None, None)

    def load(
        self,
        rps: float | None = None,
        duration: str | None = None,
        *,
        requests: str | None = None,
        dataset: str | None = None,
        concurrency: int | None = None,
        headers: Mapping[str, str] | None = None,
        cohorts: Any = None,
        users: int | None = None,
    ) -> Rollout:
        """Local runtime: generate traffic (replaying ``requests`` JSONL or a ``dataset``).

        ``headers`` go with every request; ``cohorts`` with a share of them, so an A/B stage
        sends some requests to each version: ``cohorts=0.2`` (20 % satisfy the first
        ``ab_test`` condition), ``{"beta": 0.2}`` (the condition whose value is ``beta``),
        ``{"x-cohort=beta": 0.2}`` (that header; ``"cookie: type=insider"`` a cookie).
        ``users=200``: the requests come from 200 simulated users, each keeping its cookies
        and sending its id in the ``analysis.unitKey`` header, so the analysis judges per user.
        """
        data = drop_none(
            rps=rps,
            duration=duration,
            requests=requests,
            dataset=dataset,
            concurrency=concurrency,
            headers=None if headers is None else dict(headers),
            cohorts=None if cohorts is None else cohorts_data(cohorts),
            users=users,
        )
        return self._spec(load=data)

    def progress_deadline(self, seconds: int | str) -> Rollout:
        """How long the versions may take to become ready: seconds or a duration (``"10m"``)."""
        if isinstance(seconds, str):
            try:
                seconds = math.ceil(parse_duration(seconds))
            except ValueError as exc:
                fail("spec.progressDeadlineSeconds", str(exc), "e.g. 600 or '10m'")
        return self._spec(progressDeadlineSeconds=seconds)

    def skip_analysis(self, flag: bool = True) -> Rollout:
        """Promote without checks (webhooks still run)."""
        return self._spec(skipAnalysis=flag)

    def suspend(self, flag: bool = True) -> Rollout:
        """Pause the rollout where it is."""
        return self._spec(suspend=flag)

    def revert_on_deletion(self, flag: bool = True) -> Rollout:
        """On deletion, route all traffic back to the champion."""
        return self._spec(revertOnDeletion=flag)

    def labels(self, mapping: Mapping[str, str] | None = None, **labels: str) -> Rollout:
        """Add Kubernetes labels to the resource."""
        data = set_fields(self.meta)
        data["labels"] = (self.meta.labels or {}) | dict(mapping or {}) | labels
        return self.model_copy(update={"meta": validated(Metadata, data, ("metadata",))})
