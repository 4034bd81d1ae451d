"""SMI TrafficSplit (provider ``smi``: v1alpha3 with A/B; ``linkerd``: v1alpha2).

``<apex>`` TrafficSplit (``split.smi-spec.io``) with backends ``<primary>``/``<canary>``
weighted in percent. In v1alpha3 an A/B test adds the ``<apex>-ab`` HTTPRouteGroup
(``specs.smi-spec.io/v1alpha3``) whose header matches (regexes; a cookie is a regex on the
``cookie`` header) the split applies to, sending them to the canary; other requests reach
the apex Service, i.e. the champion. SMI cannot mirror, nor weight the non-matching rest.
Linkerd serves TrafficSplit v1alpha1/v1alpha2 through its linkerd-smi extension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes, unescape
from ._base import ObjectRouter, weighted_routes
from ._matching import condition_of, header_matches
from ._memory import Key

SPECS_API = "specs.smi-spec.io/v1alpha3"


def smi_regex(match: StringMatch) -> str:
    """SMI header values are regexes (anchored here, as the mesh does a search)."""
    if match.exact is not None:
        return f"^{re.escape(match.exact)}$"
    if match.prefix is not None:
        return f"^{re.escape(match.prefix)}"
    if match.suffix is not None:
        return f"{re.escape(match.suffix)}$"
    return match.regex or ""


def parse_smi_regex(regex: str) -> StringMatch:
    """Inverse of :func:`smi_regex`."""
    if regex.startswith("^") and regex.endswith("$") and (lit := unescape(regex[1:-1])):
        return StringMatch(exact=lit)
    if regex.startswith("^") and (lit := unescape(regex[1:])):
        return StringMatch(prefix=lit)
    if regex.endswith("$") and (lit := unescape(regex[:-1])):
        return StringMatch(suffix=lit)
    return StringMatch(regex=regex)


class SmiRouter(ObjectRouter):
    """SMI TrafficSplit v1alpha3 (weights, A/B on headers/cookies)."""

    provider = "smi"
    api_version: ClassVar[str] = "split.smi-spec.io/v1alpha3"

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The HTTPRouteGroup (A/B only) and the TrafficSplit."""
        n = self.names(rollout)
        split = self.key(rollout, self.api_version, "TrafficSplit", n.apex)
        if not self.features.match:
            return [split]
        return [self.key(rollout, SPECS_API, "HTTPRouteGroup", f"{n.apex}-ab"), split]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: A/B only with all other traffic on the champion."""
        super().check(rollout, routes)
        if routes.match and routes.challenger_weight:
            raise RouterError(
                f"{self.provider}: an A/B split sends non-matching requests to the champion; "
                f"it cannot also weight them ({routes.challenger_weight}% challenger)"
            )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """HTTPRouteGroup (A/B) and TrafficSplit."""
        n = self.names(rollout)
        objs: list[KubeObject] = []
        spec: dict[str, Any] = {"service": n.apex}
        weights = (routes.champion_weight, routes.challenger_weight)
        if routes.match:
            group = f"{n.apex}-ab"
            matches = [
                {"name": f"ab-{i}", "headers": _headers(cond)}
                for i, cond in enumerate(routes.match)
            ]
            objs.append(
                self.new_object(rollout, SPECS_API, "HTTPRouteGroup", group, {"matches": matches})
            )
            spec["matches"] = [{"kind": "HTTPRouteGroup", "name": group}]
            weights = (0, 100)
        spec["backends"] = [
            {"service": n.primary, "weight": weights[0]},
            {"service": n.canary, "weight": weights[1]},
        ]
        objs.append(self.new_object(rollout, self.api_version, "TrafficSplit", n.apex, spec))
        return objs

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Backend weights (normalised to percent); match from the HTTPRouteGroup."""
        n = self.names(rollout)
        split = stored.get(self.owned(rollout)[-1])
        if split is None:
            raise RouterError(
                f"{self.provider}: TrafficSplit {n.namespace}/{n.apex} does not exist"
            )
        weights = {n.primary: 0.0, n.canary: 0.0}
        for backend in (split.get("spec") or {}).get("backends") or []:
            if backend.get("service") in weights:
                weights[backend["service"]] = _weight(backend.get("weight", 0))
        if (split.get("spec") or {}).get("matches"):
            group = stored.get(self.owned(rollout)[0]) or {}
            matches = (group.get("spec") or {}).get("matches") or []
            return Routes(match=tuple(_parse_headers(m.get("headers") or []) for m in matches))
        return weighted_routes(
            weights,
            n.canary,
            f"{self.provider}: TrafficSplit {n.apex} has no weight on either version",
        )


class LinkerdRouter(SmiRouter):
    """Linkerd through its SMI extension: TrafficSplit v1alpha2, weights only."""

    provider = "linkerd"
    api_version = "split.smi-spec.io/v1alpha2"


def _weight(value: Any) -> float:
    """A TrafficSplit weight: a number, or a quantity such as ``500m`` (v1alpha1)."""
    text = str(value)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    try:
        return float(text)
    except ValueError:
        raise RouterError(f"TrafficSplit weight {value!r} is not a number") from None


def _headers(cond: MatchCondition) -> list[dict[str, str]]:
    return [{name: smi_regex(m)} for name, m in header_matches(cond, lower=True)]


def _parse_headers(headers: list[Mapping[str, str]]) -> MatchCondition:
    return condition_of(
        (name, parse_smi_regex(regex)) for entry in headers for name, regex in entry.items()
    )
