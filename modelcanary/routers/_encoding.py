"""Encodings shared by the routers: string matches as regexes, sticky sessions.

Meshes without prefix/suffix matching get an equivalent regex; session affinity becomes
routes pinning cookie holders plus ``Set-Cookie`` response headers. The cookie encodings
themselves (``Set-Cookie`` values, a cookie match as a regex on the ``cookie`` header) are the
traffic vocabulary's (``spec/_traffic.py``), shared with the local router and the Flagger
converter. Every encoder has a decoder, so routers can read their objects back into
``Routes``. Regexes are full matches (Envoy/RE2 semantics), as the local router's ``regex``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from ..spec import ModelRollout
from ..spec._analysis import SessionAffinity, StringMatch
from ..spec._naming import Names
from ..spec._traffic import Routes, cookie_regex, parse_set_cookie, set_cookie, unescape


def regex_of(match: StringMatch) -> str:
    """A full-match regex equivalent to ``match``."""
    if match.exact is not None:
        return re.escape(match.exact)
    if match.prefix is not None:
        return re.escape(match.prefix) + ".*"
    if match.suffix is not None:
        return ".*" + re.escape(match.suffix)
    return match.regex or ""


def match_of_regex(regex: str) -> StringMatch:
    """Inverse of :func:`regex_of` (a regex that is not one of its forms stays a regex)."""
    for kind, core in (("exact", regex), ("prefix", regex[:-2] if regex.endswith(".*") else None)):
        literal = unescape(core) if core is not None else None
        if literal:
            return StringMatch(**{kind: literal})
    if regex.startswith(".*"):
        literal = unescape(regex[2:])
        if literal:
            return StringMatch(suffix=literal)
    return StringMatch(regex=regex)


def session_token(rollout: ModelRollout) -> str:
    """The affinity cookie value of this rollout's challenger (stable per rollout revision)."""
    status = rollout.status
    revision = (status.challenger or status.last_applied_spec or "") if status else ""
    namespace = rollout.metadata.namespace or "default"
    seed = f"{namespace}/{rollout.name}/{revision or rollout.spec_hash()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def sticky_routing(
    rollout: ModelRollout, routes: Routes, n: Names
) -> tuple[list[tuple[str, str, StringMatch]], dict[str, str]]:
    """Session affinity, while both versions get traffic: ``(pins, Set-Cookie values)``.

    Pins are ``(side, Service, cookie header match)`` of the routes sending cookie holders to
    a version: the canary's cookie, then the primary's when ``primaryCookieName`` is set. The
    Set-Cookie values are what each version's responses carry, by Service. Both are empty
    when ``routes`` are not sticky.
    """
    affinity = routes.session_affinity
    if affinity is None or not 0 < routes.challenger_weight < 100:
        return [], {}
    token = session_token(rollout)
    cookies = {n.canary: affinity.cookie_name}
    if affinity.primary_cookie_name:
        cookies[n.primary] = affinity.primary_cookie_name
    pins = [
        (
            "canary" if host == n.canary else "primary",
            host,
            StringMatch(regex=cookie_regex(cookie, StringMatch(exact=token))),
        )
        for host, cookie in cookies.items()
    ]
    return pins, {host: set_cookie(affinity, cookie, token) for host, cookie in cookies.items()}


def parse_affinity(set_cookies: Iterable[tuple[bool, str]]) -> SessionAffinity | None:
    """Inverse of :func:`sticky_routing`: ``(is the canary's, Set-Cookie value)`` pairs."""
    fields: dict[str, Any] = {}
    for canary, value in set_cookies:
        name, attrs = parse_set_cookie(value)
        fields.update(attrs)
        fields["cookie_name" if canary else "primary_cookie_name"] = name
    return SessionAffinity(**fields) if "cookie_name" in fields else None
