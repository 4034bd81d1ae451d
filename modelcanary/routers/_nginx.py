"""NGINX Ingress: a canary Ingress cloned from ``service.ingressRef`` with canary annotations.

The ``<ingress>-canary`` Ingress copies the referenced Ingress (rules, TLS, class) with every
backend pointing at the apex service redirected to ``<canary>``, and carries NGINX's canary
annotations: ``canary: "true"``, ``canary-weight``, and for A/B ``canary-by-header`` with
``canary-by-header-value`` (exact) or ``canary-by-header-pattern`` (regex), and
``canary-by-cookie`` (a cookie whose value is ``always``). NGINX evaluates header, then
cookie, then weight, so one header and one cookie can be matched; it cannot mirror.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from ..errors import RouterError
from ..ports import KubeObject
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes
from ._base import ObjectRouter, require_input
from ._encoding import match_of_regex, regex_of
from ._ingress import API, DROPPED, ingress_ref_key
from ._memory import Key

PREFIX = "nginx.ingress.kubernetes.io/"
CANARY, WEIGHT = PREFIX + "canary", PREFIX + "canary-weight"
BY_HEADER, BY_VALUE = PREFIX + "canary-by-header", PREFIX + "canary-by-header-value"
BY_PATTERN, BY_COOKIE = PREFIX + "canary-by-header-pattern", PREFIX + "canary-by-cookie"
CANARY_KEYS = (CANARY, WEIGHT, BY_HEADER, BY_VALUE, BY_PATTERN, BY_COOKIE)


class NginxRouter(ObjectRouter):
    """Canary Ingress with NGINX canary annotations (Flagger's nginx router)."""

    provider = "nginx"

    def _ingress_key(self, rollout: ModelRollout) -> Key:
        return ingress_ref_key(self, rollout)

    def inputs(self, rollout: ModelRollout) -> list[Key]:
        """The referenced Ingress."""
        return [self._ingress_key(rollout)]

    def owned(self, rollout: ModelRollout) -> list[Key]:
        """The canary Ingress."""
        return [self.key(rollout, API, "Ingress", f"{self._ingress_key(rollout)[3]}-canary")]

    def check(self, rollout: ModelRollout, routes: Routes) -> None:
        """Also: at most one header and one cookie (``always``) across the conditions."""
        super().check(rollout, routes)
        headers = [(k, v) for c in routes.match for k, v in (c.headers or {}).items()]
        cookies = [(k, v) for c in routes.match for k, v in (c.cookies or {}).items()]
        if any(c.headers and c.cookies for c in routes.match):
            raise RouterError(
                "nginx cannot require a header AND a cookie in one condition; "
                "give them as two conditions (either one routes to the challenger)"
            )
        if len(headers) > 1 or len(cookies) > 1:
            raise RouterError(
                f"nginx matches at most one header and one cookie (got {len(headers)} header(s), "
                f"{len(cookies)} cookie(s)); use istio or gatewayapi for more"
            )
        if cookies and cookies[0][1].exact != "always":
            raise RouterError(
                f"nginx routes cookie {cookies[0][0]!r} to the challenger only when its value is "
                "'always'; match it with {exact: always}, or use a header"
            )

    def render_objects(
        self, rollout: ModelRollout, routes: Routes, inputs: Mapping[Key, KubeObject | None]
    ) -> list[KubeObject]:
        """The canary Ingress."""
        n = self.names(rollout)
        source_key = self._ingress_key(rollout)
        source = require_input(self, inputs, source_key)
        spec = copy.deepcopy(source.get("spec") or {})
        _redirect(spec, n.apex, n.canary)
        canary = self.new_object(rollout, API, "Ingress", self.owned(rollout)[0][3], spec)
        meta = canary["metadata"]
        src_meta = source.get("metadata") or {}
        meta["labels"] = {**(src_meta.get("labels") or {}), **meta["labels"]}
        annotations = {
            k: v
            for k, v in (src_meta.get("annotations") or {}).items()
            if k not in CANARY_KEYS and k not in DROPPED and not k.startswith("modelcanary.io/")
        }
        annotations[CANARY] = "true"
        annotations[WEIGHT] = str(routes.challenger_weight)
        for cond in routes.match:
            for name, match in (cond.headers or {}).items():
                annotations[BY_HEADER] = name
                if match.exact is not None:
                    annotations[BY_VALUE] = match.exact
                else:
                    annotations[BY_PATTERN] = regex_of(match)
            for name in cond.cookies or {}:
                annotations[BY_COOKIE] = name
        meta["annotations"] = annotations
        return [canary]

    def parse(self, rollout: ModelRollout, stored: Mapping[Key, KubeObject]) -> Routes:
        """Weight and match from the canary annotations."""
        ingress = stored.get(self.owned(rollout)[0]) or {}
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        if annotations.get(CANARY) != "true":
            return Routes()
        weight = annotations.get(WEIGHT, "0")
        if not re.fullmatch(r"\d{1,3}", weight) or int(weight) > 100:
            raise RouterError(f"nginx: {WEIGHT} {weight!r} is not a percent")
        match: list[MatchCondition] = []
        header = annotations.get(BY_HEADER)
        if header:
            if BY_VALUE in annotations:
                value = StringMatch(exact=annotations[BY_VALUE])
            elif BY_PATTERN in annotations:
                value = match_of_regex(annotations[BY_PATTERN])
            else:  # bare canary-by-header: the value "always" routes to the canary
                value = StringMatch(exact="always")
            match.append(MatchCondition(headers={header: value}))
        if annotations.get(BY_COOKIE):
            match.append(
                MatchCondition(cookies={annotations[BY_COOKIE]: StringMatch(exact="always")})
            )
        return Routes(
            champion_weight=100 - int(weight), challenger_weight=int(weight), match=tuple(match)
        )


def _redirect(spec: dict[str, Any], apex: str, canary: str) -> None:
    """Point every backend service ``apex`` of an Ingress spec at ``canary``."""
    backends = [spec.get("defaultBackend")]
    for rule in spec.get("rules") or []:
        backends += [p.get("backend") for p in ((rule.get("http") or {}).get("paths") or [])]
    for backend in backends:
        service = (backend or {}).get("service")
        if service and service.get("name") == apex:
            service["name"] = canary
