"""The router never writes unchecked text into a header, even from an unvalidated spec.

Spec validation rejects bad cookie names, but ``Routes`` can carry objects built without
validation (``model_construct``, ``model_copy(update=...)``). The route table checks every
cookie name and attribute itself: a bad one makes ``set_routes`` raise ``RouterError``, the
routes in force stay, and no answer ever carries an injected header.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from router_fixtures import Upstream, rollout, router, upstream
from router_raw import exchange, get

from modelcanary.errors import RouterError
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.rollout._commands import Routes
from modelcanary.spec._analysis import MatchCondition, SessionAffinity, StringMatch
from modelcanary.spec._plan import stages

INJECTED = "mc\r\nX-Injected: evil\r\nSet-Cookie: session=attacker; Path=/"
SAFE = Routes(champion_weight=50, challenger_weight=50)


@pytest.fixture
def split() -> Iterator[tuple[Upstream, Upstream, LocalRouter]]:
    with upstream("champion") as a, upstream("challenger") as b, router(a.url, b.url, SAFE) as r:
        yield a, b, r


def _canary_routes(**affinity: Any) -> Routes:
    """Routes the rollout plan derives from a spec whose affinity skipped validation."""
    spec = rollout().spec
    unchecked = SessionAffinity.model_construct(**affinity)
    analysis = spec.analysis.model_copy(update={"session_affinity": unchecked})  # no validation
    canary = next(s for s in stages(analysis) if s.kind == "canary")
    return canary.routes(analysis.session_affinity)


def _answers_are_clean(r: LocalRouter) -> None:
    for _ in range(20):  # both versions, so both cookie lines would show
        answer = exchange(r, get())
        assert answer is not None and answer.status == 200
        names = [name.lower() for name, _ in answer.headers]
        assert "x-injected" not in names
        assert all("attacker" not in value for _, value in answer.headers)


@pytest.mark.parametrize(
    "affinity",
    [
        {"cookie_name": INJECTED},
        {"cookie_name": "mc-canary", "primary_cookie_name": INJECTED},
        {"cookie_name": "caf\u00e9-\u2713"},  # not Latin-1: used to crash the run
        {"cookie_name": "a b"},
        {"cookie_name": "nul\x00"},
        {"cookie_name": "mc", "path": "/\r\nX-Injected: evil"},
        {"cookie_name": "mc", "domain": "example.com; Secure\nX-Injected: evil"},
        {"cookie_name": "mc", "same_site": "Lax\r\nX-Injected: evil"},
        {"cookie_name": "mc", "max_age": "1\r\nX-Injected: evil"},
    ],
)
def test_bad_affinity_from_an_unvalidated_spec_is_refused_by_the_router(
    split: tuple[Upstream, Upstream, LocalRouter], affinity: dict[str, Any]
) -> None:
    _, _, r = split
    routes = _canary_routes(**affinity)
    assert routes.session_affinity is not None and 0 < routes.challenger_weight < 100
    with pytest.raises(RouterError, match="sessionAffinity"):
        r.set_routes(rollout(), routes)
    assert r.get_routes(rollout()) == SAFE  # the routes in force stay
    _answers_are_clean(r)


def test_a_valid_affinity_still_sets_its_cookie(
    split: tuple[Upstream, Upstream, LocalRouter],
) -> None:
    _, _, r = split
    routes = _canary_routes(cookie_name="mc-canary", path="/v1", same_site="Lax")
    r.set_routes(rollout(), routes)
    cookies = []
    for _ in range(40):
        answer = exchange(r, get())
        assert answer is not None
        cookies += [v for k, v in answer.headers if k.lower() == "set-cookie"]
    assert any(c.startswith("mc-canary=") and "Path=/v1" in c for c in cookies)
    _answers_are_clean(r)


def test_an_unvalidated_pattern_is_a_router_error_not_a_crash(
    split: tuple[Upstream, Upstream, LocalRouter],
) -> None:
    _, _, r = split
    lookahead = StringMatch.model_construct(regex="(?=beta)beta")  # Python re accepts it
    match = MatchCondition.model_construct(headers={"x-cohort": lookahead})
    with pytest.raises(RouterError, match="RE2"):
        r.set_routes(rollout(), Routes(match=(match,)))
    assert r.get_routes(rollout()) == SAFE


def test_backend_urls_cannot_inject_into_the_request_line_or_host(
    split: tuple[Upstream, Upstream, LocalRouter],
) -> None:
    a, b, r = split
    for bad in (a.url + "/p\r\nX-Injected: evil", a.url + "/a b", a.url + "/caf\u00e9"):
        with pytest.raises(RouterError, match="backend"):
            r.set_backends(bad, b.url)
    assert r.backends == (a.url, b.url)
