"""Encodings shared by the routers: string matches as regexes, cookies, session tokens.

Meshes match headers, not cookies, so a cookie condition becomes a regex on the ``cookie``
header (as Flagger does); meshes without prefix/suffix matching get an equivalent regex.
Every encoder here has a decoder, so routers can read their objects back into ``Routes``.
Regexes are full matches (Envoy/RE2 semantics), as the local router's ``regex``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from ..rollout.commands import Routes
from ..spec import ModelRollout
from ..spec.analysis import MatchCondition, SessionAffinity, StringMatch
from ..spec.naming import Names

_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unescape(text: str) -> str | None:
    """The literal that ``re.escape`` turned into ``text``, or None when ``text`` is a regex."""
    literal = _ESCAPED.sub(r"\1", text)
    return literal if re.escape(literal) == text else None


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


_COOKIE_HEAD, _COOKIE_TAIL = r"^(.*?;)?\s*", r"(;.*)?$"
_COOKIE = re.compile(r"^\^\(\.\*\?;\)\?\\s\*(?P<name>[^=]+)=(?P<value>.*)\(;\.\*\)\?\$$", re.DOTALL)


def cookie_regex(name: str, match: StringMatch) -> str:
    """A regex on the ``cookie`` header matching cookie ``name`` whose value matches ``match``."""
    if match.exact is not None:
        value = re.escape(match.exact)
    elif match.prefix is not None:
        value = re.escape(match.prefix) + "[^;]*"
    elif match.suffix is not None:
        value = "[^;]*" + re.escape(match.suffix)
    else:
        value = f"(?:{match.regex})"
    return f"{_COOKIE_HEAD}{re.escape(name)}={value}{_COOKIE_TAIL}"


def parse_cookie_regex(regex: str) -> tuple[str, StringMatch] | None:
    """Inverse of :func:`cookie_regex`: ``(cookie name, value match)``, or None."""
    found = _COOKIE.match(regex)
    if found is None:
        return None
    name, value = unescape(found["name"]), found["value"]
    if not name:
        return None
    if value.startswith("(?:") and value.endswith(")"):
        return name, StringMatch(regex=value[3:-1])
    if value.endswith("[^;]*") and (literal := unescape(value[:-5])):
        return name, StringMatch(prefix=literal)
    if value.startswith("[^;]*") and (literal := unescape(value[5:])):
        return name, StringMatch(suffix=literal)
    literal = unescape(value)
    return (name, StringMatch(exact=literal)) if literal is not None else None


def session_token(rollout: ModelRollout) -> str:
    """The affinity cookie value of this rollout's challenger (stable per rollout revision)."""
    status = rollout.status
    revision = (status.challenger or status.last_applied_spec or "") if status else ""
    namespace = rollout.metadata.namespace or "default"
    seed = f"{namespace}/{rollout.name}/{revision or rollout.spec_hash()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def set_cookie(affinity: SessionAffinity, name: str, token: str) -> str:
    """The ``Set-Cookie`` value pinning a user to a version."""
    attrs = [f"{name}={token}", f"Max-Age={affinity.max_age}"]
    if affinity.domain:
        attrs.append(f"Domain={affinity.domain}")
    if affinity.path:
        attrs.append(f"Path={affinity.path}")
    if affinity.http_only:
        attrs.append("HttpOnly")
    if affinity.secure:
        attrs.append("Secure")
    if affinity.same_site:
        attrs.append(f"SameSite={affinity.same_site}")
    if affinity.partitioned:
        attrs.append("Partitioned")
    return "; ".join(attrs)


def parse_set_cookie(value: str) -> tuple[str, dict[str, Any]]:
    """``(cookie name, SessionAffinity fields)`` of a :func:`set_cookie` value."""
    first, *attrs = [part.strip() for part in value.split(";")]
    name = first.split("=", 1)[0]
    fields: dict[str, Any] = {}
    flags = {"HttpOnly": "http_only", "Secure": "secure", "Partitioned": "partitioned"}
    for attr in attrs:
        key, _, val = attr.partition("=")
        if key == "Max-Age" and val.isdigit():
            fields["max_age"] = int(val)
        elif key in ("Domain", "Path"):
            fields[key.lower()] = val
        elif key == "SameSite":
            fields["same_site"] = val
        elif key in flags:
            fields[flags[key]] = True
    return name, fields


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


def routes_to_json(routes: Routes) -> str:
    """``routes`` as compact JSON (the desired-routes annotation)."""
    data: dict[str, Any] = {
        "championWeight": routes.champion_weight,
        "challengerWeight": routes.challenger_weight,
        "mirrorWeight": routes.mirror_weight,
    }
    if routes.match:
        data["match"] = [m.to_dict() for m in routes.match]
    if routes.session_affinity is not None:
        data["sessionAffinity"] = routes.session_affinity.to_dict()
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def routes_from_json(text: str) -> Routes | None:
    """Inverse of :func:`routes_to_json`; None when ``text`` is not such JSON."""
    try:
        data = json.loads(text)
        affinity = data.get("sessionAffinity")
        return Routes(
            champion_weight=int(data["championWeight"]),
            challenger_weight=int(data["challengerWeight"]),
            mirror_weight=int(data.get("mirrorWeight", 0)),
            match=tuple(MatchCondition.model_validate(m) for m in data.get("match") or ()),
            session_affinity=SessionAffinity.model_validate(affinity) if affinity else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
