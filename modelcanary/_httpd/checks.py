"""What a request may be: limits, the 4xx exception, host names and the JSON body parser."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DIGITS = re.compile(r"[0-9]{1,18}")
"""A Content-Length worth converting (longer ones are over any limit)."""
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class Limits:
    """Bounds of one server: sizes in bytes, times in seconds."""

    max_body: int = 1 << 20
    max_header_bytes: int = 64 << 10
    read_timeout: float = 10.0
    request_timeout: float = 30.0
    max_connections: int = 32


class HTTPProblem(Exception):
    """A request that gets a 4xx answer: raised by the checks, answered by :class:`Handler`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class HeadersTooLarge(http.client.HTTPException):
    """Request line and headers over the budget (``parse_request`` answers it 431)."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` names and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or URL authority: lowercase, no port, no brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.partition(":")[0].rstrip(".")


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` names a server answers (DNS-rebinding defence).

    IP literals always pass: a rebinding attack needs a DNS name of the attacker's, so only
    names are checked. ``names`` holds exact names and ``*.suffix`` patterns; ``any_name``
    turns the check off (``*``).
    """

    names: frozenset[str] = frozenset(_LOOPBACK_NAMES)
    any_name: bool = False

    @classmethod
    def build(cls, listen_host: str, extra: Iterable[str] = ()) -> HostPolicy:
        """Loopback names, the listen address (unless a wildcard) and ``extra`` names."""
        names = set(_LOOPBACK_NAMES)
        listen = host_name(listen_host)
        if listen and listen not in ("0.0.0.0", "::"):
            names.add(listen)
        wanted = [n.strip().lower().rstrip(".") for n in extra if n.strip()]
        return cls(frozenset(names | set(wanted)), any_name="*" in wanted)

    def allows(self, host: str) -> bool:
        """True when the name ``host`` (see :func:`host_name`) may be served."""
        if self.any_name or _is_ip(host) or host in self.names:
            return True
        return any(n.startswith("*.") and host.endswith(n[1:]) for n in self.names)


def client_name(address: Any) -> str:
    """The peer address of a connection, for log lines."""
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


def clip(value: str, limit: int = 80) -> str:
    """``repr`` of a client-sent value, shortened, safe for one log line or answer."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def loads_json(body: bytes) -> Any:
    """Parse a JSON body; ``ValueError`` with a short reason for bad UTF-8, syntax or depth."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None


__all__ = [
    "DIGITS",
    "HTTPProblem",
    "HeadersTooLarge",
    "HostPolicy",
    "Limits",
    "client_name",
    "clip",
    "host_name",
    "is_loopback",
    "loads_json",
]
