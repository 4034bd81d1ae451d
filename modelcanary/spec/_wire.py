"""Checks of spec text that reaches the wire verbatim: URLs, header and cookie names, addresses.

A value written here ends up in an HTTP request line, a ``Set-Cookie`` header or a socket
``bind``; unchecked text there is header injection (``"mc\\r\\nX-Injected: evil"``), a crash
(a non-Latin-1 cookie name) or a silent misroute (``port 999999``). Each check raises
``ValueError`` with the problem and the fix, so pydantic reports it at the field's path; the
``Annotated`` aliases below attach them to fields. Messages never echo a whole URL: webhook and
alert URLs often carry a token.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from ._base import short_repr

TOKEN_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
"""RFC 9110 ``tchar``+ (= RFC 6265 cookie-name token): what a header or cookie name may hold."""
_TOKEN = re.compile(TOKEN_PATTERN)
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
_COOKIE_PATH = re.compile(r"^/[\x20-\x3a\x3c-\x7e]*$")
_HOST_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(\.{_HOST_LABEL})*\.?$")
_ENV_NAME = re.compile(r"^[^=\s]+$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_URL_LENGTH = 2048
MAX_HEADER_VALUE_LENGTH = 8192
HTTP_SCHEMES = ("http", "https")
PROVIDER_SCHEMES = ("http", "https", "otlp+http", "otlp+https")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_url(value: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str:
    """``value`` if it is an absolute URL with one of ``schemes``, a host and a port in
    1-65535, without whitespace or control characters; else ``ValueError`` saying what to fix."""
    example = f"write it as {schemes[0]}://host:port/path"
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(
            f"is {len(value)} characters long; URLs are limited to {MAX_URL_LENGTH} characters"
        )
    for i, char in enumerate(value):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(
                f"has a space or control character ({char!r}) at position {i}; remove it "
                "(percent-encode a space as %20)"
            )
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes:
        found = f"scheme {scheme.lower()!r}" if sep else "no scheme"
        raise ValueError(f"is not a URL with {' or '.join(schemes)} ({found}); {example}")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    host, port = _split_host_port(hostport)
    if not host:
        raise ValueError(f"has no host; {example}")
    _check_host(host, example)
    if port is not None:
        _check_port(port, example)
    return value


def check_listen(value: str) -> str:
    """``host:port`` for the local router to bind: a host name or IPv4 address and a port in
    1-65535 (``ValueError`` otherwise)."""
    example = "write it as HOST:PORT, e.g. 127.0.0.1:8080 (omit listen for a free port)"
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        raise ValueError(f"has a space or control character; {example}")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port:
        raise ValueError(f"is not HOST:PORT; {example}")
    if host.startswith("["):
        raise ValueError(f"IPv6 listen addresses are not supported; {example}")
    _check_host(host, example)
    _check_port(port, example)
    return value


def check_token(value: str) -> str:
    """``value`` if it is an RFC 9110 token (header name, RFC 6265 cookie name)."""
    if not _TOKEN.fullmatch(value):
        bad = next((c for c in value if not _TOKEN.fullmatch(c)), "")
        raise ValueError(
            f"{short_repr(value)} is not a valid header/cookie name: {bad!r} is not allowed; use "
            "letters, digits and !#$%&'*+-.^_`|~ only (no spaces, separators or line breaks)"
        )
    return value


def check_header_value(value: str) -> str:
    """``value`` if it is a header value of visible ASCII, spaces and tabs (no CR/LF)."""
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        raise ValueError(f"is longer than {MAX_HEADER_VALUE_LENGTH} characters; shorten it")
    if not _HEADER_VALUE.fullmatch(value):
        bad = next(c for c in value if not _HEADER_VALUE.fullmatch(c))
        raise ValueError(
            f"has {bad!r}, which a header value cannot carry; use printable ASCII "
            "(no line breaks, control or non-ASCII characters; percent-encode them)"
        )
    return value


def check_cookie_path(value: str) -> str:
    """A cookie ``Path`` attribute: starts with ``/``, printable ASCII without ``;``."""
    if not _COOKIE_PATH.fullmatch(value):
        raise ValueError(
            f"{short_repr(value)} is not a cookie path; start it with '/' and use printable "
            "ASCII without ';' or line breaks, e.g. /predict"
        )
    return value


def check_cookie_domain(value: str) -> str:
    """A cookie ``Domain`` attribute: a host name such as ``example.com``."""
    if len(value) > 253 or not _HOSTNAME.fullmatch(value.removeprefix(".")):
        raise ValueError(
            f"{short_repr(value)} is not a domain name; write a host name such as example.com"
        )
    return value


def check_env_name(value: str) -> str:
    """An environment variable name: no ``=``, spaces or control characters."""
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{short_repr(value)} is not an environment variable name; use e.g. SLACK_WEBHOOK_URL "
            "(no '=', spaces or line breaks)"
        )
    return value


def check_label_key(value: str) -> str:
    """A Kubernetes label or annotation key: ``[prefix/]name`` (DNS prefix, 63-char name)."""
    prefix, _, name = value.rpartition("/")
    if (
        len(name) > 63
        or not _LABEL_NAME.fullmatch(name)
        or ("/" in value and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)))
    ):
        raise ValueError(
            f"{short_repr(value)} is not a Kubernetes label key; use [dns-prefix/]name with a "
            "name of at most 63 letters, digits, '-', '_' or '.' starting and ending alphanumeric"
        )
    return value


def check_label_value(value: str) -> str:
    """A Kubernetes label value: empty, or at most 63 characters like a label name."""
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise ValueError(
            f"{short_repr(value)} is not a Kubernetes label value; use at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending alphanumeric"
        )
    return value


def check_provider_url(value: str) -> str:
    """A metric backend address: :func:`check_url` with http(s) or otlp+http(s)."""
    return check_url(value, PROVIDER_SCHEMES)


def check_proxy_url(value: str) -> str:
    """A proxy address: :func:`check_url` with http, https, socks5 or socks5h."""
    return check_url(value, PROXY_SCHEMES)


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return hostport, None
        rest = hostport[end + 1 :]
        return hostport[: end + 1], rest[1:] if rest.startswith(":") else None
    host, sep, port = hostport.partition(":")
    return host, port if sep else None


def _check_host(host: str, example: str) -> None:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            raise ValueError(f"host {short_repr(host)} is not an IPv6 address; {example}") from None
        return
    ascii_host = host if host.isascii() else _idna(host)
    if len(ascii_host) > 253 or not _HOSTNAME.fullmatch(ascii_host):
        raise ValueError(f"host {short_repr(host)} is not a host name or IP address; {example}")
    if re.fullmatch(r"[0-9.]+", ascii_host):
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError:
            raise ValueError(f"host {short_repr(host)} is not an IPv4 address; {example}") from None


def _idna(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return "\x00"  # fails the host name pattern


def _check_port(port: str, example: str) -> None:
    if not port.isdigit() or not port.isascii() or len(port) > 5 or not 1 <= int(port) <= 65535:
        raise ValueError(f"port {short_repr(port)} is not a number in 1-65535; {example}")


_STRING = {"type": "string"}
HttpUrl = Annotated[
    str,
    AfterValidator(check_url),
    WithJsonSchema({**_STRING, "maxLength": MAX_URL_LENGTH}),
]
"""An ``http(s)://host[:port]/...`` URL (checked by :func:`check_url`)."""
ProxyUrl = Annotated[
    str,
    AfterValidator(check_proxy_url),
    WithJsonSchema({**_STRING, "maxLength": MAX_URL_LENGTH}),
]
"""A proxy address: http, https, socks5 or socks5h."""
Token = Annotated[
    str, AfterValidator(check_token), WithJsonSchema({**_STRING, "pattern": TOKEN_PATTERN})
]
"""A header or cookie name (RFC 9110 / RFC 6265 token)."""
HeaderValue = Annotated[
    str,
    StringConstraints(min_length=0),
    AfterValidator(check_header_value),
    WithJsonSchema({**_STRING, "maxLength": MAX_HEADER_VALUE_LENGTH}),
]
"""A header value: printable ASCII, spaces and tabs (may be empty)."""
ListenAddress = Annotated[str, AfterValidator(check_listen)]
"""``host:port`` with a port in 1-65535."""
CookiePath = Annotated[str, AfterValidator(check_cookie_path)]
CookieDomain = Annotated[str, AfterValidator(check_cookie_domain)]
EnvName = Annotated[str, AfterValidator(check_env_name)]
LabelKey = Annotated[str, AfterValidator(check_label_key)]
LabelValue = Annotated[str, StringConstraints(min_length=0), AfterValidator(check_label_value)]
