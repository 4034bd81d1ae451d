"""HTTP endpoint and query templates shared by the InfluxDB and Graphite providers.

Shared by the InfluxDB and Graphite providers, with the same rules as the Prometheus client
(:mod:`.promapi`): connection refused, DNS failures, timeouts and HTTP 408/429/5xx are
:class:`TransientProviderError`; other 4xx (bad query, refused credentials, wrong path) are
:class:`PermanentProviderError` with a hint. Messages show the address without
``user:password@`` or query parameters, and never a header.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..errors import PermanentProviderError, SpecError, SpecIssue, TransientProviderError
from . import promql
from .promapi import safe_address

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

Headers = Mapping[str, str | Sequence[str]]


def split_address(address: str, path: str, example: str) -> tuple[str, dict[str, str]]:
    """``(base URL without query, query parameters)`` of an http(s) provider address."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(
            SpecIssue(
                f"{path}.address",
                f"{safe_address(address)!r} is not an http(s) URL",
                f"e.g. address: {example}",
            )
        )
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return base, dict(parse_qsl(parts.query))


def _detail(response: httpx.Response) -> str:
    """The backend's error text: JSON ``error``/``message``, else the body's first words."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])[:300]
    text = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(text.split())[:200]


class Endpoint:
    """GET/POST against one backend root with classified errors (one pooled httpx client)."""

    def __init__(
        self,
        base: str,
        *,
        name: str,
        headers: Headers | None = None,
        authorization: str | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.name = name
        self.timeout = timeout
        self._verify = verify
        self._hints = dict(hints or {})
        self._headers: list[tuple[str, str]] = [
            (k, v)
            for k, vs in (headers or {}).items()
            for v in ([vs] if isinstance(vs, str) else vs)
        ]
        if authorization:
            self._headers = [(k, v) for k, v in self._headers if k.lower() != "authorization"]
            self._headers.append(("Authorization", authorization))
        self._http: httpx.Client | None = None

    @property
    def where(self) -> str:
        """The address for messages (no credentials)."""
        return safe_address(self.base)

    def __repr__(self) -> str:
        return f"Endpoint({self.where!r}, name={self.name!r})"

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                headers=self._headers, timeout=self.timeout, verify=self._verify
            )
        return self._http

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: Any = None,
        accept: str | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """The response of one call (status in ``ok``); other outcomes raise classified.

        ``params`` may be pairs, for repeated keys (several Graphite ``target=``).
        """
        import httpx

        pairs: list[tuple[str, str | int | float | bool | None]] = list(
            params.items() if isinstance(params, Mapping) else params or ()
        )
        headers = {"Accept": accept} if accept else None
        try:
            response = self._client().request(
                method, self.base + path, params=pairs, json=body, headers=headers
            )
        except httpx.UnsupportedProtocol as exc:
            raise PermanentProviderError(f"{self.name} at {self.where}: {exc}") from None
        except httpx.TimeoutException:
            raise TransientProviderError(
                f"{self.name} at {self.where} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise TransientProviderError(
                f"{self.name} at {self.where} is unreachable ({type(exc).__name__}: {exc})"
            ) from None
        code = response.status_code
        if code in ok:
            return response
        detail = _detail(response)
        if code in (408, 429) or code >= 500:
            raise TransientProviderError(
                f"{self.name} at {self.where} answered HTTP {code}: {detail}"
            )
        hint = self._hints.get(code, "check the query and provider settings")
        raise PermanentProviderError(
            f"{self.name} at {self.where} refused the query (HTTP {code}: {detail}); fix: {hint}"
        )


_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def render(query: str, values: Mapping[str, str], variables: Mapping[str, str]) -> str:
    """Fill Flagger-style ``{{ name }}``/``{{ variables.X }}`` placeholders of a query.

    Like :func:`.promql.render`, but an unknown name's message lists this backend's
    variables (``values``' keys), e.g. ``start`` and ``end``.
    """
    for name in _PLACEHOLDER.findall(query):
        if not name.startswith("variables.") and name not in values:
            raise PermanentProviderError(
                f"query uses unknown template variable {{{{ {name} }}}}; "
                f"known: {', '.join([*values, 'variables.<X>'])}"
            )
    return promql.render(query, values, variables)


__all__ = ["Endpoint", "render", "split_address"]
