"""The traffic vocabulary, one home for every layer: ``Routes``, what each router provider can
do, and the cookie encodings (``Set-Cookie`` lines, cookie matches as ``cookie`` header regexes).

The state machine emits ``Routes``; the spec rules, the cluster routers and the local router
all read the same :data:`CAPABILITIES` table; the cluster routers, the local router and the
Flagger converter all write cookies with the same functions. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import RouterError
from ._analysis import MatchCondition, SessionAffinity, StringMatch


# -- routes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Routes:
    """How traffic is split: weights in percent (sum 100), mirror percent, A/B match."""

    champion_weight: int = 100
    challenger_weight: int = 0
    mirror_weight: int = 0
    """Percent of champion traffic copied to the challenger (answers discarded)."""
    match: tuple[MatchCondition, ...] = ()
    """A/B: requests matching any condition go to the challenger (weights apply to the rest)."""
    session_affinity: SessionAffinity | None = None
    """Pin users to the version they first saw (cookie)."""

    def __post_init__(self) -> None:
        if self.champion_weight + self.challenger_weight != 100:
            raise ValueError(
                f"weights must sum to 100, got {self.champion_weight}+{self.challenger_weight}"
            )
        if not 0 <= self.mirror_weight <= 100:
            raise ValueError(f"mirror weight {self.mirror_weight} is outside 0-100")

    def to_dict(self) -> dict[str, Any]:
        """The routes as JSON data, every key always present (``match`` ``[]``,
        ``sessionAffinity`` ``null`` when unset): the routers' desired-routes annotation and
        the local router's ``GET /_modelcanary/routes`` answer."""
        affinity = self.session_affinity
        return {
            "championWeight": self.champion_weight,
            "challengerWeight": self.challenger_weight,
            "mirrorWeight": self.mirror_weight,
            "match": [m.to_dict() for m in self.match],
            "sessionAffinity": affinity.to_dict() if affinity is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Routes:
        """Inverse of :meth:`to_dict` (missing ``mirrorWeight``, ``match`` and
        ``sessionAffinity`` mean none); ``ValueError`` naming the problem otherwise."""
        if not isinstance(data, Mapping):
            raise ValueError(f"routes must be a mapping, got {type(data).__name__}")
        try:
            affinity = data.get("sessionAffinity")
            return cls(
                champion_weight=_percent(data["championWeight"]),
                challenger_weight=_percent(data["challengerWeight"]),
                mirror_weight=_percent(data.get("mirrorWeight", 0)),
                match=tuple(MatchCondition.model_validate(m) for m in data.get("match") or ()),
                session_affinity=SessionAffinity.model_validate(affinity) if affinity else None,
            )
        except KeyError as exc:
            raise ValueError(f"routes have no {exc.args[0]}") from None
        except TypeError as exc:
            raise ValueError(f"routes are malformed: {exc}") from None


def _percent(value: Any) -> int:
    if type(value) is not int:  # bool and float are not percents
        raise ValueError(f"a route weight must be a whole number, got {value!r}")
    return value


# -- what each provider can do -----------------------------------------------------------------
MATCH_PARTS = ("headers", "cookies", "query_params", "source_labels", "body")
"""The parts of an A/B ``MatchCondition``, in the order messages list them."""
PART_NAMES = {"query_params": "queryParams", "source_labels": "sourceLabels"}
"""YAML names of the parts whose Python name differs."""


@dataclass(frozen=True)
class Capabilities:
    """What a router provider can do with traffic (every provider can weight it)."""

    mirror: bool = False
    """Copy a percent of requests to the challenger."""
    match: frozenset[str] = frozenset()
    """Supported parts of an A/B match condition (``MATCH_PARTS``)."""
    session_affinity: bool = False
    """Pin users to a version with a cookie."""
    one_cookie: bool = False
    """Cookies become one regex on the cookie header, matched once: one cookie per condition."""
    split: bool = True
    """Any challenger weight 0-100; False: all traffic on one version (0 or 100 %), e.g. the
    ``kubernetes`` provider switching a Service's selector."""

    def describe(self) -> str:
        """E.g. ``weights, mirror, A/B match on headers/cookies``."""
        parts = ["weights" if self.split else "an all-or-nothing switch (0 or 100%)"]
        if self.mirror:
            parts.append("mirror")
        if self.match:
            shown = "/".join(PART_NAMES.get(p, p) for p in MATCH_PARTS if p in self.match)
            parts.append(f"A/B match on {shown}")
        if self.session_affinity:
            parts.append("session affinity")
        return ", ".join(parts)


_MESH = frozenset({"headers", "cookies", "query_params"})
_HEADERS_COOKIES = frozenset({"headers", "cookies"})

CAPABILITIES: Mapping[str, Capabilities] = MappingProxyType(
    {
        "local": Capabilities(
            mirror=True, match=frozenset({*_MESH, "body"}), session_affinity=True
        ),
        "istio": Capabilities(
            mirror=True, match=frozenset({*_MESH, "source_labels"}), session_affinity=True
        ),
        "gatewayapi": Capabilities(mirror=True, match=_MESH, session_affinity=True),
        "nginx": Capabilities(match=_HEADERS_COOKIES),
        "linkerd": Capabilities(),
        "smi": Capabilities(match=_HEADERS_COOKIES),
        "kserve": Capabilities(),
        "appmesh": Capabilities(match=_HEADERS_COOKIES),
        "apisix": Capabilities(),
        "kuma": Capabilities(mirror=True, match=_MESH, one_cookie=True),
        "gloo": Capabilities(mirror=True, match=_MESH, one_cookie=True),
        "contour": Capabilities(mirror=True, match=_MESH, one_cookie=True),
        "skipper": Capabilities(),
        "traefik": Capabilities(),
        "kubernetes": Capabilities(split=False),  # routers/_kubernetes.py: the apex selector
        "knative": Capabilities(),  # routers/_knative.py: spec.traffic of a Knative Service
        # LLM routers (routers/_inference_gateway.py, _kserve_llm.py)
        "inference-pool": Capabilities(match=_MESH, session_affinity=True),
        "inference-model-rewrite": Capabilities(),
        "kserve-llm": Capabilities(),
    }
)
"""Every ``spec.router.provider`` (``ROUTER_PROVIDERS``) and what it can do: the spec rules and
the routers' ``features`` both read it, so a new capability is written once, here."""


def capabilities(provider: str) -> Capabilities:
    """What ``provider`` can do (``KeyError`` for a provider missing from the table)."""
    return CAPABILITIES[provider]


def providers_with(feature: str, part: str | None = None) -> frozenset[str]:
    """Providers whose ``feature`` (``mirror``, ``session_affinity``...) is true, or whose
    ``match`` includes ``part`` when ``feature`` is ``"match"``."""
    if feature == "match":
        return frozenset(p for p, c in CAPABILITIES.items() if part in c.match)
    return frozenset(p for p, c in CAPABILITIES.items() if getattr(c, feature))


# -- cookies -----------------------------------------------------------------------------------
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 cookie-name = token
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # cookie-octet
_ATTRIBUTE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")  # av-value: CHAR but CTLs and ";" (ASCII)
_SAME_SITE = ("Strict", "Lax", "None")


def _checked(pattern: re.Pattern[str], text: object, field: str, rule: str) -> str:
    if not isinstance(text, str) or pattern.fullmatch(text) is None:
        raise RouterError(
            f"sessionAffinity.{field} {text!r} is not {rule}: the router writes it into a "
            "Set-Cookie header; remove spaces, ';', control and non-ASCII characters"
        )
    return text


def set_cookie(
    affinity: SessionAffinity, name: str, value: str, *, max_age: int | None = None
) -> str:
    """The ``Set-Cookie`` header value pinning a user to a version (``max_age`` default
    ``affinity.maxAge``; ``0`` expires the cookie).

    Every piece is checked before it is written (``RouterError`` otherwise: RFC 6265 token
    name, cookie-octet value, attribute values without ``;`` or control characters), so an
    unvalidated spec (``model_construct``) can never inject a header. ``SameSite=None`` always
    comes with ``Secure``: browsers reject such a cookie without it.
    """
    field = "cookieName" if name == affinity.cookie_name else "primaryCookieName"
    name = _checked(_COOKIE_NAME, name, field, "an RFC 6265 cookie name (a token)")
    value = _checked(_COOKIE_VALUE, value, "cookie value", "RFC 6265 cookie octets")
    age = affinity.max_age if max_age is None else max_age
    if type(age) is not int or age < 0:
        raise RouterError(f"sessionAffinity.maxAge {age!r} is not a number of seconds")
    attrs = [f"{name}={value}", f"Max-Age={age}"]
    if affinity.domain:
        attrs.append(f"Domain={_checked(_ATTRIBUTE, affinity.domain, 'domain', 'a domain')}")
    if affinity.path:
        attrs.append(f"Path={_checked(_ATTRIBUTE, affinity.path, 'path', 'a cookie path')}")
    if affinity.http_only:
        attrs.append("HttpOnly")
    if affinity.secure or affinity.same_site == "None":
        attrs.append("Secure")
    if affinity.same_site:
        if affinity.same_site not in _SAME_SITE:
            raise RouterError(
                f"sessionAffinity.sameSite {affinity.same_site!r} is not one of Strict, Lax, None"
            )
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


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unescape(text: str) -> str | None:
    """The literal that ``re.escape`` turned into ``text``, or None when ``text`` is a regex."""
    literal = _ESCAPED.sub(r"\1", text)
    return literal if re.escape(literal) == text else None


_HEAD, _TAIL = r"^(.*?;\s*)?(", r")(;.*)?$"
_OLD_HEAD, _OLD_TAIL = r"^(.*?;)?\s*", r"(;.*)?$"  # routers' form before it was shared: read


def cookie_regex(name: str, match: StringMatch) -> str:
    """A regex (RE2, full match) on the ``cookie`` header matching cookie ``name`` whose value
    matches ``match``: ``^(.*?;\\s*)?(NAME=VALUE)(;.*)?$``, Flagger's form plus the space
    browsers put after ``;``. Meshes and Flagger match headers, not cookies; this is how the
    routers and the Flagger converter write a cookie condition. A regex value loses its
    ``^``/``$`` anchors (they would never match inside the header regex)."""
    if match.exact is not None:
        value = re.escape(match.exact)
    elif match.prefix is not None:
        value = re.escape(match.prefix) + "[^;]*"
    elif match.suffix is not None:
        value = "[^;]*" + re.escape(match.suffix)
    else:
        value = f"(?:{_unanchored(match.regex or '')})"
    return f"{_HEAD}{re.escape(name)}={value}{_TAIL}"


def _unanchored(regex: str) -> str:
    regex = regex.removeprefix("^")
    if regex.endswith("$"):
        body = regex[:-1]
        if (len(body) - len(body.rstrip("\\"))) % 2 == 0:  # not an escaped \$
            regex = body
    return regex


def parse_cookie_regex(regex: str) -> tuple[str, StringMatch] | None:
    """Inverse of :func:`cookie_regex` (also reads the form routers wrote before,
    ``^(.*?;)?\\s*NAME=VALUE(;.*)?$``): ``(cookie name, value match)``, or None for any other
    regex, e.g. Flagger's ``^(.*?;)?(NAME=VALUE)(;.*)?$``, which misses a cookie after ``; ``."""
    for head, tail in ((_HEAD, _TAIL), (_OLD_HEAD, _OLD_TAIL)):
        if regex.startswith(head) and regex.endswith(tail) and len(regex) > len(head + tail):
            body = regex[len(head) : -len(tail)]
            break
    else:
        return None
    escaped_name, sep, value = body.partition("=")
    name = unescape(escaped_name)
    if not sep or not name:
        return None
    if value.startswith("(?:") and value.endswith(")"):
        return name, StringMatch(regex=value[3:-1])
    if value.endswith("[^;]*") and (literal := unescape(value[:-5])):
        return name, StringMatch(prefix=literal)
    if value.startswith("[^;]*") and (literal := unescape(value[5:])):
        return name, StringMatch(suffix=literal)
    literal = unescape(value)
    return (name, StringMatch(exact=literal)) if literal is not None else None
