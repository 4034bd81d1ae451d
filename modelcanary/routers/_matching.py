"""A/B match conditions shared by the routers: header lists with cookies, their checks and parse.

Meshes match headers, not cookies: every router turns a condition into header matches where a
cookie is a regex on the ``cookie`` header (:func:`header_matches`), then writes them in its own
shape. Reading back, each router decodes its header matches into ``(name, StringMatch)`` pairs
and :func:`condition_of` turns the cookie regexes back into cookies. Routers whose conditions are
lists of ``{name, ...}`` matches under ``headers``/``queryParams`` (Gateway API, Kuma, Gloo) use
:func:`listed_condition` and :func:`parse_listed_condition` whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import RouterError
from ..spec import ModelRollout
from ..spec._analysis import MatchCondition, StringMatch
from ..spec._traffic import Routes, cookie_regex, parse_cookie_regex

KINDS = ("exact", "prefix", "suffix", "regex")
"""The kinds of a StringMatch, in the order a decoder looks for them."""

Encoder = Callable[[str, StringMatch], dict[str, Any]]
Decoder = Callable[[Mapping[str, Any]], StringMatch]


def check_one_cookie(provider: str, routes: Routes, *, explain: bool = False) -> None:
    """RouterError when a condition matches several cookies, or a cookie and a cookie header.

    The cookies become one regex on the ``cookie`` header, which a route matches once.
    ``explain`` adds what the condition has (cookies and cookie header) to the message.
    """
    for i, cond in enumerate(routes.match):
        cookies = cond.cookies or {}
        headers = {h.lower() for h in cond.headers or {}}
        if len(cookies) > 1 or (cookies and "cookie" in headers):
            detail = (
                f" has {len(cookies)} and {'a' if 'cookie' in headers else 'no'} cookie header"
                if explain
                else ""
            )
            raise RouterError(
                f"{provider} matches one cookie per condition (match[{i}]{detail}); "
                "split it into several conditions"
            )


def header_matches(
    cond: MatchCondition, *, cookie_header: str = "cookie", lower: bool = False
) -> list[tuple[str, StringMatch]]:
    """The header matches of ``cond``, then each cookie as a regex on ``cookie_header``.

    ``lower``: header names lowercased (meshes that require lowercase names).
    """
    out = [(name.lower() if lower else name, m) for name, m in (cond.headers or {}).items()]
    out += [
        (cookie_header, StringMatch(regex=cookie_regex(name, m)))
        for name, m in (cond.cookies or {}).items()
    ]
    return out


def condition_of(
    headers: Iterable[tuple[str, StringMatch]],
    query: Mapping[str, StringMatch] | None = None,
    source_labels: Mapping[str, str] | None = None,
) -> MatchCondition:
    """Inverse of :func:`header_matches` (plus query and source labels): the condition.

    A regex on the ``cookie`` header (any case) that ``spec.traffic.cookie_regex`` wrote is a
    cookie again; any other header match stays a header match.
    """
    parsed: dict[str, StringMatch] = {}
    cookies: dict[str, StringMatch] = {}
    for name, match in headers:
        cookie = None
        if name.lower() == "cookie" and match.regex is not None:
            cookie = parse_cookie_regex(match.regex)
        if cookie is not None:
            cookies[cookie[0]] = cookie[1]
        else:
            parsed[name] = match
    return MatchCondition(
        headers=parsed or None,
        cookies=cookies or None,
        query_params=dict(query) if query else None,
        source_labels=dict(source_labels) if source_labels else None,
    )


def match_kind(match: StringMatch) -> tuple[str, str]:
    """``(kind, value)`` of the one field ``match`` sets, e.g. ``("prefix", "beta-")``."""
    return next((k, v) for k, v in match.model_dump().items() if v is not None)


def parse_match_kind(data: Mapping[str, Any], kinds: tuple[str, ...] = KINDS) -> StringMatch | None:
    """Inverse of :func:`match_kind` on a mapping with one of ``kinds`` as key (None: none)."""
    kind = next((k for k in kinds if k in data), None)
    return None if kind is None else StringMatch(**{kind: str(data[kind])})


def listed_condition(
    cond: MatchCondition,
    encode: Encoder,
    *,
    cookie_header: str = "cookie",
    lower: bool = False,
    query_key: str = "queryParams",
    encode_query: Encoder | None = None,
) -> dict[str, Any]:
    """``{headers: [...], <query_key>: [...]}``, each match ``encode(name, match)``."""
    out: dict[str, Any] = {}
    headers = header_matches(cond, cookie_header=cookie_header, lower=lower)
    if headers:
        out["headers"] = [encode(name, m) for name, m in headers]
    if cond.query_params:
        out[query_key] = [(encode_query or encode)(k, v) for k, v in cond.query_params.items()]
    return out


def parse_listed_condition(
    data: Mapping[str, Any], decode: Decoder, *, query_key: str = "queryParams"
) -> MatchCondition:
    """Inverse of :func:`listed_condition` (``decode`` reads one ``{name, ...}`` match)."""
    headers = [(str(h.get("name", "")), decode(h)) for h in data.get("headers") or []]
    query = {str(q.get("name", "")): decode(q) for q in data.get(query_key) or []}
    return condition_of(headers, query)


def path_prefix(rollout: ModelRollout) -> str:
    """``service.match[0].uri.prefix`` (Flagger's path prefix of the routes), else ``/``."""
    service = rollout.spec.service
    first = (service.match or [{}])[0] if service else {}
    prefix = ((first or {}).get("uri") or {}).get("prefix")
    return prefix if isinstance(prefix, str) and prefix else "/"
