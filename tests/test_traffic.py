"""The traffic vocabulary has one home (``spec/_traffic.py``): ``Routes`` and its one
serialisation, one capability table per provider, one cookie builder and one cookie regex.

Each test here would fail if a second copy came back: the former copies disagreed (the cluster
routers' cookies lacked ``Secure`` with ``SameSite=None``; two cookie regexes; capability sets
written twice), issue 13 item 2.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcanary.errors import RouterError, SpecError
from modelcanary.spec import (
    ROUTER_PROVIDERS,
    MatchCondition,
    SessionAffinity,
    StringMatch,
    parse_rollout,
)
from modelcanary.spec import _service as spec_service
from modelcanary.spec import _traffic as traffic
from modelcanary.spec._traffic import (
    CAPABILITIES,
    Routes,
    cookie_regex,
    parse_cookie_regex,
    parse_set_cookie,
    providers_with,
    set_cookie,
)

PACKAGE = Path(traffic.__file__).resolve().parents[1]
HOME = Path(traffic.__file__).resolve()

values = st.text(st.characters(codec="ascii", exclude_characters=";\r\n"), min_size=1, max_size=12)
names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,10}", fullmatch=True)


# -- one definition ---------------------------------------------------------------------------
def _defined_outside_home(names_: set[str]) -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == HOME:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names_:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    return found


def test_the_vocabulary_is_defined_once() -> None:
    """No module but spec/_traffic.py defines Routes, the capability table or a cookie encoder."""
    vocabulary = {
        "Routes",
        "Capabilities",
        "Features",
        "set_cookie",
        "parse_set_cookie",
        "cookie_regex",
        "parse_cookie_regex",
        "unescape",
        "routes_to_json",
        "routes_from_json",
    }
    assert _defined_outside_home(vocabulary) == []


def test_wire_spellings_are_written_once() -> None:
    """A second Set-Cookie builder, cookie regex or routes serialiser would spell these again."""
    spellings = ("Max-Age=", "SameSite=", "(;.*)?$", '"championWeight"', '"challengerWeight"')
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {s}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != HOME
        for s in spellings
        if s in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_former_homes_use_the_traffic_helpers() -> None:
    from modelcanary.convert import _to_flagger_analysis as to_flagger_analysis
    from modelcanary.local._proxy import table as router_table
    from modelcanary.rollout import _commands as commands
    from modelcanary.routers import _base as base
    from modelcanary.routers import _encoding as encoding
    from modelcanary.routers import _matching as matching

    assert commands.Routes is Routes  # re-exported: existing imports keep working
    for module in (encoding, matching, router_table, to_flagger_analysis):
        for name in ("set_cookie", "parse_set_cookie", "cookie_regex", "parse_cookie_regex"):
            assert getattr(module, name, getattr(traffic, name)) is getattr(traffic, name)
    assert base.Features is traffic.Capabilities
    affinity = SessionAffinity(cookie_name="mc", same_site="None")
    line = router_table.cookie_line(affinity, "mc", "tok", 60)
    assert line == b"\r\nset-cookie: " + set_cookie(affinity, "mc", "tok", max_age=60).encode()


# -- the capability table ---------------------------------------------------------------------
def test_every_provider_has_one_row() -> None:
    assert tuple(CAPABILITIES) == ROUTER_PROVIDERS
    for caps in CAPABILITIES.values():
        assert caps.match <= set(traffic.MATCH_PARTS)


def test_each_router_features_is_its_row() -> None:
    from modelcanary.local._proxy.server import LocalRouter
    from modelcanary.routers import ROUTERS

    assert set(ROUTERS) == set(ROUTER_PROVIDERS) - {"local"}
    for provider, router in ROUTERS.items():
        assert router.features is CAPABILITIES[provider], provider
    assert LocalRouter.features is CAPABILITIES["local"]


def test_the_spec_sets_are_derived_from_the_table() -> None:
    assert {p for p, c in CAPABILITIES.items() if c.mirror} == spec_service.MIRROR_PROVIDERS
    assert {
        p for p, c in CAPABILITIES.items() if c.session_affinity
    } == spec_service.SESSION_AFFINITY_PROVIDERS
    assert {
        p for p, c in CAPABILITIES.items() if "body" in c.match
    } == spec_service.BODY_MATCH_PROVIDERS
    assert providers_with("match", "source_labels") == {"istio"}


def _rollout(provider: str, **analysis: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelcanary.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "fraud"},
        "spec": {
            "router": {"provider": provider},
            "champion": {"modelUri": "models:/fraud@champion"},
            "challenger": {"modelUri": "models:/fraud@challenger"},
            "service": {"gatewayRefs": [{"name": "public"}], "ingressRef": {"name": "fraud"}},
            "analysis": {"interval": "1m", **analysis},
        },
    }


def _accepted(doc: dict[str, Any], field: str) -> bool:
    try:
        parse_rollout(doc)
    except SpecError as exc:
        return not any(issue.path.startswith(field) for issue in exc.issues)
    return True


@pytest.mark.parametrize("provider", ROUTER_PROVIDERS)
def test_the_spec_rules_follow_the_table(provider: str) -> None:
    """A spec the rules accept is one the provider's router can realise, and no more."""
    caps = CAPABILITIES[provider]
    mirror = _rollout(provider, stepWeights=[10], mirror=True, mirrorWeight=10)
    assert _accepted(mirror, "spec.analysis.mirror") is caps.mirror
    sticky = _rollout(provider, stepWeights=[10], sessionAffinity={"cookieName": "mc"})
    assert _accepted(sticky, "spec.analysis.sessionAffinity") is caps.session_affinity
    body = _rollout(provider, iterations=2, match=[{"body": {"country": {"exact": "FR"}}}])
    assert _accepted(body, "spec.analysis.match[0].body") is ("body" in caps.match)


def test_describe_lists_what_a_provider_can_do() -> None:
    assert CAPABILITIES["istio"].describe() == (
        "weights, mirror, A/B match on headers/cookies/queryParams/sourceLabels, session affinity"
    )
    assert CAPABILITIES["traefik"].describe() == "weights"


# -- Routes and its one serialisation ---------------------------------------------------------
MATCHES = [
    MatchCondition.model_validate({"headers": {"x-cohort": {"exact": "beta"}}}),
    MatchCondition.model_validate({"cookies": {"type": {"suffix": "insider"}}}),
    MatchCondition.model_validate({"body": {"inputs.country": {"regex": "F.*"}}}),
]
AFFINITY = SessionAffinity.model_validate({"cookieName": "mc", "maxAge": 60, "sameSite": "Lax"})


@settings(deadline=None)  # no per-example deadline: a loaded CI machine must not flake
@given(
    challenger=st.integers(0, 100),
    mirror=st.integers(0, 100),
    match=st.lists(st.sampled_from(MATCHES), max_size=3),
    affinity=st.sampled_from([None, AFFINITY]),
)
def test_routes_round_trip_through_json(
    challenger: int, mirror: int, match: list[MatchCondition], affinity: SessionAffinity | None
) -> None:
    routes = Routes(
        champion_weight=100 - challenger,
        challenger_weight=challenger,
        mirror_weight=mirror,
        match=tuple(match),
        session_affinity=affinity,
    )
    data = routes.to_dict()
    assert set(data) == {
        "championWeight",
        "challengerWeight",
        "mirrorWeight",
        "match",
        "sessionAffinity",
    }
    assert Routes.from_dict(json.loads(json.dumps(data))) == routes


def test_the_former_compact_annotation_is_still_read() -> None:
    """Annotations written before the shapes were one omit empty match and affinity."""
    assert Routes.from_dict({"championWeight": 75, "challengerWeight": 25}) == Routes(75, 25)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"championWeight": 75},
        {"championWeight": 75, "challengerWeight": "25"},
        {"championWeight": 75, "challengerWeight": 26},
        {"championWeight": 100, "challengerWeight": 0, "mirrorWeight": 101},
        {"championWeight": 100, "challengerWeight": 0, "match": [{"nothing": 1}]},
        {"championWeight": 100, "challengerWeight": 0, "match": 3},
    ],
)
def test_bad_routes_data_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError):
        Routes.from_dict(data)


# -- cookies ----------------------------------------------------------------------------------
def test_samesite_none_always_comes_with_secure() -> None:
    cookie = set_cookie(SessionAffinity(cookie_name="mc", same_site="None"), "mc", "tok")
    assert cookie == "mc=tok; Max-Age=86400; Secure; SameSite=None"
    assert set_cookie(AFFINITY, "mc", "", max_age=0) == "mc=; Max-Age=0; SameSite=Lax"


@pytest.mark.parametrize(
    ("affinity", "name", "value", "field"),
    [
        ({"cookie_name": "a b"}, "a b", "tok", "cookieName"),
        (
            {"cookie_name": "mc", "primary_cookie_name": "p\r\n"},
            "p\r\n",
            "tok",
            "primaryCookieName",
        ),
        ({"cookie_name": "mc"}, "mc", "to;k", "cookie value"),
        ({"cookie_name": "mc"}, "mc", "caf\u00e9", "cookie value"),
        ({"cookie_name": "mc", "domain": "a.com; Secure"}, "mc", "tok", "domain"),
        ({"cookie_name": "mc", "path": "/\x00"}, "mc", "tok", "path"),
        ({"cookie_name": "mc", "same_site": "Lax\r\nX: y"}, "mc", "tok", "sameSite"),
        ({"cookie_name": "mc", "max_age": -1}, "mc", "tok", "maxAge"),
    ],
)
def test_set_cookie_refuses_what_is_not_rfc_6265(
    affinity: dict[str, Any], name: str, value: str, field: str
) -> None:
    with pytest.raises(RouterError, match=f"sessionAffinity.{field}"):
        set_cookie(SessionAffinity.model_construct(**affinity), name, value)


def test_set_cookie_round_trip() -> None:
    affinity = SessionAffinity.model_validate(
        {
            "cookieName": "c",
            "maxAge": 60,
            "domain": "example.com",
            "path": "/",
            "httpOnly": True,
            "secure": True,
            "sameSite": "Lax",
            "partitioned": True,
        }
    )
    name, fields = parse_set_cookie(set_cookie(affinity, "c", "tok"))
    assert name == "c"
    assert SessionAffinity(cookie_name=name, **fields) == affinity


@settings(deadline=None)  # no per-example deadline: a loaded CI machine must not flake
@given(name=names, value=values, other=values)
def test_cookie_regex_matches_the_cookie_header(name: str, value: str, other: str) -> None:
    regex = cookie_regex(name, StringMatch(exact=value))
    assert re.fullmatch(regex, f"{name}={value}")
    assert re.fullmatch(regex, f"a=1; {name}={value}; b=2")
    assert not re.fullmatch(regex, f"x{name}={value}")
    if other != value:
        assert not re.fullmatch(regex, f"{name}={other}")
    for m in (
        StringMatch(exact=value),
        StringMatch(prefix=value),
        StringMatch(suffix=value),
        StringMatch(regex="in.*er"),
    ):
        assert parse_cookie_regex(cookie_regex(name, m)) == (name, m)
    assert re.fullmatch(cookie_regex(name, StringMatch(prefix=value)), f"{name}={value}{other}")


def test_the_cookie_regex_is_flaggers_form_with_the_space() -> None:
    assert cookie_regex("type", StringMatch(exact="insider")) == r"^(.*?;\s*)?(type=insider)(;.*)?$"


@pytest.mark.parametrize(
    ("regex", "hit", "miss"),
    [
        ("^beta.*$", "a=1; c=beta-2", "c=alpha"),
        (r"price\$", "c=price$", "c=price"),
        (r"^a|b$", "c=a", "c=x"),
    ],
)
def test_a_regex_value_loses_its_anchors_only(regex: str, hit: str, miss: str) -> None:
    encoded = cookie_regex("c", StringMatch(regex=regex))
    assert re.fullmatch(encoded, hit) and not re.fullmatch(encoded, miss)


def test_foreign_cookie_regexes_stay_header_regexes() -> None:
    """Flagger's own form is not mistaken for an encoded cookie (it stays a header match)."""
    assert parse_cookie_regex("^(.*?;)?(type=insider)(;.*)?$") is None
    assert parse_cookie_regex(r"^(.*?;\s*)?()(;.*)?$") is None


def test_the_former_router_form_is_still_read() -> None:
    assert parse_cookie_regex(r"^(.*?;)?\s*canary=always(;.*)?$") == (
        "canary",
        StringMatch(exact="always"),
    )


@pytest.mark.parametrize(
    "provider", sorted(p for p, can in CAPABILITIES.items() if "headers" not in can.match)
)
def test_a_flagger_style_ab_match_is_refused_on_a_router_that_cannot_route_on_it(
    provider: str,
) -> None:
    # analysis.match is checked against the capability table as steps[].match is: a router
    # without header routing (knative, kserve, linkerd...) would otherwise accept an A/B plan
    # it can only realise as weights
    spec = {
        "metadata": {"name": "ab", "namespace": "ml"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "router": {"provider": provider},
            "analysis": {
                "interval": "1m",
                "iterations": 5,
                "match": [{"headers": {"x-cohort": {"exact": "beta"}}}],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.01}}],
            },
        },
    }
    with pytest.raises(SpecError) as info:
        parse_rollout(spec)
    issues = {i.path: i for i in info.value.issues}
    issue = issues["spec.analysis.match[0].headers"]
    assert f"provider {provider} cannot route A/B traffic on headers" in issue.message
    assert "istio" in issue.hint
