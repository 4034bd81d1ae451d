"""The local router's routing decision: ``Routes`` compiled once, read per request.

A ``RouteTable`` is immutable; ``set_routes`` builds a new one and swaps a single reference,
so each request sees one consistent table and a route change never drops a request.

Decision per request (``choose``):

1. A/B: a request matching any ``match`` condition goes to the challenger.
2. Session affinity (canary only: a split where both weights are above 0): a request carrying
   the challenger cookie (``cookieName``) goes to the challenger, one carrying
   ``primaryCookieName`` to the champion. Otherwise the weights decide and the response sets
   the cookie of the chosen version (the champion's only when ``primaryCookieName`` is set).
   A cookie pointing at a version whose weight is 0 is ignored (and expired), so a rollback
   or a promotion is never held back by old cookies.
3. Weights: the challenger with probability ``challenger_weight``/100 (an independent random
   draw per request: unbiased whatever the order of requests; 0 and 100 are exact).

Requests served by the champion are also mirrored with probability ``mirror_weight``/100.

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
import secrets
from collections.abc import Callable

from ...errors import RouterError
from ...spec._analysis import SessionAffinity
from ...spec._patterns import PatternError
from ...spec._traffic import Routes, set_cookie
from .matching import RequestView, compile_match, parse_cookies

CHAMPION, CHALLENGER = 0, 1
VERSIONS = ("champion", "challenger")


def cookie_line(affinity: SessionAffinity, name: str, value: str, max_age: int) -> bytes:
    """A ``Set-Cookie`` header line (with the leading CRLF): ``spec.traffic.set_cookie``, which
    checks every piece before it is written (``RouterError`` otherwise)."""
    return b"\r\nset-cookie: " + set_cookie(affinity, name, value, max_age=max_age).encode("ascii")


class RouteTable:
    """Compiled ``Routes``: weights, A/B matcher, affinity cookies."""

    __slots__ = (
        "challenger_weight",
        "expire_lines",
        "match",
        "mirror_weight",
        "names",
        "routes",
        "set_lines",
        "sticky",
    )

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
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
        self.set_lines: tuple[bytes, bytes] = (b"", b"")
        self.expire_lines: tuple[bytes, bytes] = (b"", b"")
        if affinity is not None:
            names = (affinity.primary_cookie_name or "", affinity.cookie_name)
            self.names = names
            if self.sticky:
                token = secrets.token_hex(8)
                self.set_lines = (
                    cookie_line(affinity, names[0], token, affinity.max_age) if names[0] else b"",
                    cookie_line(affinity, names[1], token, affinity.max_age),
                )
            self.expire_lines = (  # for a cookie whose version no longer takes traffic
                cookie_line(affinity, names[0], "", 0) if names[0] else b"",
                cookie_line(affinity, names[1], "", 0),
            )

    def sticky_version(self, cookie: bytes | None) -> int:
        """The version a request's affinity cookie pins it to, or -1."""
        if cookie is None:
            return -1
        jar = parse_cookies(cookie.decode("latin-1"))
        if self.names[CHALLENGER] in jar:
            return CHALLENGER
        if self.names[CHAMPION] in jar:
            return CHAMPION
        return -1

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
