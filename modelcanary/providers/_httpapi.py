"""HTTP plumbing shared by the metric providers that query an HTTP API.

Prometheus (and its compatibles), InfluxDB, Graphite, Datadog, New Relic, Google Cloud
Monitoring and Kayenta all go through :class:`Endpoint`, so they classify failures alike:
connection refused, DNS failures, timeouts and HTTP 408/429/5xx are
:class:`TransientProviderError` (retry next tick); any other non-2xx answer (a rejected query,
refused credentials, a wrong path) is :class:`PermanentProviderError` with the backend's
message and a fix hint. Messages show the address without ``user:password@`` or query
parameters and never a header, so credentials sent as headers (API keys, bearer tokens)
cannot leak into errors, logs or ``repr``.

Also here: the address check (:func:`parse_address`), ``provider.headers`` flattening
(:func:`header_items`), the Flagger-style query templates (:func:`render_query`), what
the providers' factories read alike from a spec (:func:`spec_address`, :func:`spec_secret`,
:func:`http_options`) and :class:`HTTPProvider`, the base of the providers behind one
:class:`Endpoint` (address check, credential header, ``repr``, ``close``, ``is_online``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..analysis._measurements import Window
from ..errors import PermanentProviderError, SpecError, SpecIssue, TransientProviderError
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout
from ..spec._base import parse_duration
from . import _promql as promql
from ._context import ProviderContext
from ._credentials import authorization, resolve_secret
from ._online import OnlineCheck

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

Headers = Mapping[str, str | Sequence[str]]
"""``provider.headers``: a value may be a list (the header is sent once per value)."""
Params = Mapping[str, str] | Sequence[tuple[str, str]]
"""Query parameters; pairs allow repeated keys (several Graphite ``target=``)."""

DEFAULT_HINTS: dict[int, str] = {
    400: "check the query",
    401: "check provider.secretRef (credentials refused)",
    403: "check provider.secretRef (credentials lack access)",
    404: "check provider.address",
}
"""Fix hints by HTTP status for permanent errors (each provider may override some)."""
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def safe_address(address: str) -> str:
    """The address without user:password and query, for messages and logs."""
    parts = urlsplit(address)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_address(address: str, path: str, example: str) -> tuple[str, dict[str, str]]:
    """``(base URL without query or trailing slash, query parameters)`` of an http(s) address.

    A SpecError naming ``<path>.address`` when it is not an http(s) URL with a host.
    """
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(
            SpecIssue(
                f"{path}.address",
                f"address {safe_address(address)!r} is not an http(s) URL",
                f"e.g. address: {example}",
            )
        )
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return base, dict(parse_qsl(parts.query))


class HTTPOptions(TypedDict):
    """The HTTP settings every HTTP provider's constructor takes (see :func:`http_options`)."""

    headers: Headers | None
    timeout: float
    verify: bool


def http_options(spec: MetricProviderSpec, ctx: ProviderContext) -> HTTPOptions:
    """``provider.headers``, the ``timeout`` option (default 5 s) and TLS verification
    (off with ``insecureSkipVerify``)."""
    return HTTPOptions(
        headers=spec.headers,
        timeout=float(ctx.options.get("timeout", 5.0)),
        verify=not spec.insecure_skip_verify,
    )


def spec_address(spec: MetricProviderSpec, ctx: ProviderContext, problem: str, hint: str) -> str:
    """``provider.address``; a SpecError (``problem``, fix ``hint``) when it is missing."""
    if not spec.address:
        raise SpecError(SpecIssue(f"{ctx.path}.address", problem, hint))
    return spec.address


def spec_secret(spec: MetricProviderSpec, ctx: ProviderContext) -> str | None:
    """The credential ``provider.secretRef`` points to (None without one), as
    :func:`.credentials.resolve_secret` reads it."""
    if spec.secret_ref is None:
        return None
    return resolve_secret(
        spec.secret_ref,
        env=ctx.env,
        secret_reader=ctx.secret_reader,
        namespace=ctx.namespace,
        path=f"{ctx.path}.secretRef",
    )


def header_items(headers: Headers | None) -> list[tuple[str, str]]:
    """``provider.headers`` (values may be lists) as (name, value) pairs."""
    return [
        (k, v) for k, vs in (headers or {}).items() for v in ([vs] if isinstance(vs, str) else vs)
    ]


def error_text(body: Any, text: str) -> str:
    """The error message of an answer: a JSON body's ``errors: [...]``, ``error: {message}``,
    ``error``/``message``, else the text's first words (HTML tags dropped)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [e.get("message", e) if isinstance(e, dict) else e for e in errors]
            return "; ".join(str(p) for p in parts)[:300]
        error, message = body.get("error"), body.get("message")
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        if error and message:
            return f"{error}: {message}"[:300]
        if error or message:
            return str(error or message)[:300]
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:200]


def render_query(
    metric: MetricSpec,
    rollout: ModelRollout,
    window: Window,
    backend: str,
    *,
    duration: Callable[[float], str] = promql.duration,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The metric's query with Flagger-style ``{{ ... }}`` placeholders filled in.

    Every backend knows ``namespace``, ``target``, ``name``, ``interval`` (``duration`` of
    the metric's interval, else of the window) and ``variables.X`` (``templateVariables``),
    plus its ``extra`` names (e.g. ``start``, ``end``). An unknown name, or a missing query,
    is a :class:`PermanentProviderError` listing the known names.
    """
    if not metric.query:
        raise PermanentProviderError(
            f"metric {metric.name!r} has no query for {backend} "
            "(fix: set query, or resolve its templateRef first)"
        )
    seconds = parse_duration(metric.interval) if metric.interval else window.seconds
    values = {
        "namespace": rollout.metadata.namespace or "default",
        "target": rollout.name,
        "name": rollout.name,
        "interval": duration(seconds),
        **(extra or {}),
    }
    for name in _PLACEHOLDER.findall(metric.query):
        if not name.startswith("variables.") and name not in values:
            raise PermanentProviderError(
                f"query uses unknown template variable {{{{ {name} }}}}; "
                f"known: {', '.join([*values, 'variables.<X>'])}"
            )
    return promql.render(metric.query, values, metric.template_variables or {})


class Endpoint:
    """Requests to one HTTP API root with classified errors (one lazy, pooled httpx client).

    ``headers`` are the user's (``provider.headers``); ``set_headers`` the provider's own
    (``Authorization``, API keys), replacing a user header of the same name. None is shown.
    """

    def __init__(
        self,
        address: str,
        *,
        name: str,
        headers: Headers | None = None,
        set_headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.hints = {**DEFAULT_HINTS, **(hints or {})}
        self._verify = verify
        self._headers = header_items(headers)
        self._http: httpx.Client | None = None
        for key, value in (set_headers or {}).items():
            self.set_header(key, value)

    @property
    def where(self) -> str:
        """The address for messages (no credentials)."""
        return safe_address(self.address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, name={self.name!r})"

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                headers=self._headers, timeout=self.timeout, verify=self._verify
            )
        return self._http

    def set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` instead of any header of that name (e.g. a refreshed token)."""
        self._headers = [(k, v) for k, v in self._headers if k.lower() != name.lower()]
        self._headers.append((name, value))
        if self._http is not None:
            self._http.headers[name] = value

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
        params: Params | None = None,
        body: Any = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """The 2xx response of ``method address+path``; anything else raises classified."""
        import httpx

        pairs: list[tuple[str, str | int | float | bool | None]] = list(
            params.items() if isinstance(params, Mapping) else params or ()
        )
        log.debug("%s %s %s", self.name, method, path)
        try:
            response = self._client().request(
                method,
                self.address + path,
                params=pairs or None,
                json=body,
                headers={"Accept": accept} if accept else None,
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
        if 200 <= code < 300:
            return response
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = None
        detail = error_text(decoded, response.text)
        if code in (408, 429) or code >= 500:
            raise TransientProviderError(
                f"{self.name} at {self.where} answered HTTP {code}: {detail}"
            )
        hint = self.hints.get(code, "check the query and provider settings")
        raise PermanentProviderError(
            f"{self.name} at {self.where} refused {method} {path or '/'} "
            f"(HTTP {code}: {detail}); fix: {hint}"
        )

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        fix: str = "check provider.address",
    ) -> Any:
        """The decoded JSON answer of :meth:`request` (None for an empty body); an answer
        that is not JSON is a PermanentProviderError ending ``fix: <fix>``."""
        response = self.request(method, path, params=params, body=body)
        if not response.text.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PermanentProviderError(
                f"{self.name} at {self.where} answered {path or '/'} with something that is "
                f"not JSON; fix: {fix}"
            ) from None


class HTTPProvider(OnlineCheck):
    """Base of the metric providers that query one HTTP API through :class:`Endpoint`.

    Builds ``api`` from an http(s) ``address`` (a SpecError naming ``<path>.address``
    otherwise; its query parameters are kept in ``address_params``), sends ``secret`` as
    ``Authorization`` (see :meth:`authorization`) and the provider's own ``set_headers``, and
    gives ``close`` and a ``repr`` without credentials. Subclasses set ``name`` (the default
    provider name), ``example`` (an address for the error), ``hints`` (fix hints by HTTP
    status), ``endpoint_class`` when ``api`` is an Endpoint subclass, and :meth:`probe`.
    """

    name = "http"
    example = "http://host:port"
    hints: ClassVar[Mapping[int, str]] = {}
    endpoint_class: ClassVar[type[Endpoint]] = Endpoint

    def __init__(
        self,
        address: str,
        *,
        headers: Headers | None = None,
        secret: str | None = None,
        set_headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        name: str | None = None,
        path: str = "provider",
    ) -> None:
        base, self.address_params = parse_address(address, path, self.example)
        if name is not None:
            self.name = name
        own = {"Authorization": self.authorization(secret)} if secret else {}
        own.update(set_headers or {})
        self.api = self.endpoint_class(
            base,
            name=self.name,
            headers=headers,
            set_headers=own,
            timeout=timeout,
            verify=verify,
            hints=self.hints,
        )

    @property
    def endpoint(self) -> Endpoint:
        """``api`` (the name the Graphite and InfluxDB providers gave it)."""
        return self.api

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api.where!r})"

    def authorization(self, secret: str) -> str:
        """The ``Authorization`` value of a credential (:func:`.credentials.authorization`)."""
        return authorization(secret)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.api.close()


__all__ = [
    "DEFAULT_HINTS",
    "Endpoint",
    "HTTPOptions",
    "HTTPProvider",
    "Headers",
    "Params",
    "error_text",
    "header_items",
    "http_options",
    "parse_address",
    "render_query",
    "safe_address",
    "spec_address",
    "spec_secret",
]
