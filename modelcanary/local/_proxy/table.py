"""The local router's routing decision: ``Routes`` compiled once, read per request.

A ``RouteTable`` is immutable; ``set_routes`` builds a new one and swaps a single reference,
so each request sees one consistent table and a route change never drops a request.

Decision per request (``choose``):

1. A/B: a request matching any ``match`` condition goes to the challenger.
2. Session affinity (canary only: a split where both weights are above 0): a request carrying
   the challenger cookie (``cookieName``) goes to the challenger, one carrying
   ``primaryCookieName`` to the champion. Otherwise the weights decide and the response sets
   the cookie of the chosen version (the champion's only when ``primaryCookieName`` is set),
   with a fresh random value per user: that value is the request's unit key (the recorder
   keeps it, so the analysis can judge per user; see ``unit``).
   A cookie pointing at a version whose weight is 0 is ignored (and expired), so a rollback
   or a promotion is never held back by old cookies.
3. Weights: the challenger with probability ``challenger_weight``/100 (an independent random
   draw per request: unbiased whatever the order of requests; 0 and 100 are exact).

Requests served by the champion are also mirrored with probability ``mirror_weight``/100.

Unit key (what the recorder keeps with each request, so the analysis judges per user): the
value of the rollout's user header (``spec.analysis.unitKey.header``, given to the table by
``set_routes``) when the request carries it, else its affinity cookie's value, else none. The
header only names the unit, it never routes; it is forwarded upstream like any other header,
and a table without a unit header never looks for it (``unit_key`` is b"").

The table is the router's last line of defence for what it writes into headers: the spec
validates cookie names, but ``Routes`` can be built from unvalidated objects
(``model_construct``), so every cookie line is built here, once per table, by
``spec.traffic.set_cookie``, which checks each cookie name and attribute again (RFC 6265
tokens and attribute values, ASCII, no CR, LF, NUL, ``;``); a bad one is a ``RouterError``
from ``set_routes``: the routes in force stay, no header is ever built from it.
"""

from __future__ import annotations

import json
import random
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import RouterError
from ...spec._analysis import SessionAffinity
from ...spec._patterns import PatternError
from ...spec._traffic import Routes, set_cookie
from .matching import RequestView, compile_match, parse_cookies

if TYPE_CHECKING:
    from ...spec import ModelRollout
    from .http11 import RequestHead

CHAMPION, CHALLENGER = 0, 1
VERSIONS = ("champion", "challenger")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP field name (RFC 9110 token): what a unit header may be called."""


def unit_header(rollout: ModelRollout) -> str | None:
    """The request header naming each request's unit (``spec.analysis.unitKey.header``)."""
    key = rollout.spec.analysis.unit_key
    return key.header if key is not None else None


def cookie_line(affinity: SessionAffinity, name: str, value: str, max_age: int) -> bytes:
    """A ``Set-Cookie`` header line (with the leading CRLF): ``spec.traffic.set_cookie``, which
    checks every piece before it is written (``RouterError`` otherwise)."""
    return b"\r\nset-cookie: " + set_cookie(affinity, name, value, max_age=max_age).encode("ascii")


_PLACEHOLDER = "0123456789abcdef"
"""A cookie value of a token's shape, cut out of the checked line to leave its two parts."""


def _split_line(affinity: SessionAffinity, name: str) -> tuple[bytes, bytes]:
    """A version's ``Set-Cookie`` line (checked once by ``cookie_line``) split around its
    value, so each new user gets a fresh value without checking the line again."""
    line = cookie_line(affinity, name, _PLACEHOLDER, affinity.max_age)
    head = b"\r\nset-cookie: " + name.encode("ascii") + b"="
    if not line.startswith(head + _PLACEHOLDER.encode()):
        raise RouterError(f"cannot build the affinity cookie {name!r}")
    return head, line[len(head) + len(_PLACEHOLDER) :]


class RouteTable:
    """Compiled ``Routes``: weights, A/B matcher, affinity cookies."""

    __slots__ = (
        "challenger_weight",
        "expire_lines",
        "match",
        "mirror_weight",
        "names",
        "pin_parts",
        "routes",
        "sticky",
        "unit_key",
    )

    def __init__(self, routes: Routes, unit_header: str | None = None) -> None:
        self.routes = routes
        self.unit_key = b""
        """``CRLF name:`` of the unit header, lower-case (b"": none, nothing is searched)."""
        if unit_header:
            if _HEADER_NAME.fullmatch(unit_header) is None:  # a spec built without validation
                raise RouterError(f"cannot read the unit header {unit_header!r}: not a token")
            self.unit_key = b"\r\n" + unit_header.lower().encode("ascii") + b":"
        self.challenger_weight = routes.challenger_weight
        self.mirror_weight = routes.mirror_weight
        try:
            self.match: Callable[[RequestView], bool] | None = compile_match(routes.match)
        except PatternError as exc:  # only a spec built without validation gets here
            raise RouterError(f"cannot route on this match: {exc}") from None
        affinity = routes.session_affinity
        self.sticky = affinity is not None and 0 < routes.challenger_weight < 100
        # indexed by version (CHAMPION, CHALLENGER); "" / b"": no cookie for that version
        self.names: tuple[str, str] = ("", "")
        self.pin_parts: tuple[tuple[bytes, bytes], tuple[bytes, bytes]] = ((b"", b""), (b"", b""))
        """Each version's ``Set-Cookie`` line split around the value (b"": no cookie)."""
        self.expire_lines: tuple[bytes, bytes] = (b"", b"")
        if affinity is not None:
            names = (affinity.primary_cookie_name or "", affinity.cookie_name)
            self.names = names
            if self.sticky:
                self.pin_parts = (
                    _split_line(affinity, names[0]) if names[0] else (b"", b""),
                    _split_line(affinity, names[1]),
                )
            self.expire_lines = (  # for a cookie whose version no longer takes traffic
                cookie_line(affinity, names[0], "", 0) if names[0] else b"",
                cookie_line(affinity, names[1], "", 0),
            )

    def sticky_version(self, cookie: bytes | None) -> tuple[int, bytes]:
        """The version a request's affinity cookie pins it to (or -1) and the cookie's value
        (the request's unit key; b"" without one)."""
        if cookie is None:
            return -1, b""
        jar = parse_cookies(cookie.decode("latin-1"))
        for side in (CHALLENGER, CHAMPION):
            value = jar.get(self.names[side]) if self.names[side] else None
            if value is not None:
                return side, value.encode("latin-1")
        return -1, b""

    def pin(self, version: int) -> tuple[bytes, bytes]:
        """``Set-Cookie`` line(s) pinning a new user to ``version`` with a fresh random value,
        and that value (the user's unit key); (b"", b"") when the version sets no cookie."""
        head, tail = self.pin_parts[version]
        if not head:
            return b"", b""
        token = secrets.token_hex(8).encode()
        return head + token + tail, token

    def unit(self, cookie: bytes | None) -> bytes:
        """A request's unit key outside sticky routing: its affinity cookie's value, if any."""
        if cookie is None or not self.names[CHALLENGER]:
            return b""
        return self.sticky_version(cookie)[1]

    def header_unit(self, request: RequestHead, unit: bytes) -> bytes:
        """A request's unit key when the table has a unit header: that header's (first)
        value if the request carries one, else ``unit`` (its cookie's value, or b"")."""
        return request.first_header(self.unit_key) or unit

    def stale_cookie_lines(self, cookie: bytes | None) -> bytes:
        """``Set-Cookie`` lines expiring affinity cookies of a version that takes no traffic."""
        if cookie is None or self.sticky or not self.expire_lines[CHALLENGER]:
            return b""
        jar = parse_cookies(cookie.decode("latin-1"))
        weights = (self.routes.champion_weight, self.routes.challenger_weight)
        lines = b""
        for side in (CHAMPION, CHALLENGER):
            if self.names[side] in jar and weights[side] == 0:
                lines += self.expire_lines[side]
        return lines

    def to_json(self, backends: dict[str, str]) -> bytes:
        """The routes in force as JSON (``GET /_modelcanary/routes``)."""
        return json.dumps({**self.routes.to_dict(), "backends": backends}).encode()


def new_draw() -> Callable[[], float]:
    """A fresh uniform [0, 1) generator for weighted draws (one per router)."""
    return random.Random(secrets.randbits(64)).random
