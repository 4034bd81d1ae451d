"""``Handler``: the request handler of every hardened server (checks, bounded body, answers)."""

from __future__ import annotations

import contextlib
import hmac
import io
import logging
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .checks import DIGITS, HeadersTooLarge, HostPolicy, HTTPProblem, client_name, clip, host_name
from .server import DeadlineReader

if TYPE_CHECKING:
    from .server import Server


class Handler(BaseHTTPRequestHandler):
    """Request handler with the checks above; subclasses write ``do_GET``/``do_POST``.

    In a ``do_*`` method, raise :class:`HTTPProblem` for a 4xx (it is logged and answered with
    :meth:`error_body`), read the body with :meth:`read_body` and answer with :meth:`reply`.
    A response sent before the announced body was read closes the connection, so unread body
    bytes are never parsed as the next request.
    """

    protocol_version = "HTTP/1.1"
    server_version = "modelcanary"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall
    server: Server

    def setup(self) -> None:
        super().setup()
        read_timeout = self.server.limits.read_timeout
        self.connection.settimeout(read_timeout)
        self.rfile.close()  # the stdlib's reader: replaced by one with a deadline
        self._reader = DeadlineReader(self.connection, read_timeout)
        self.rfile = io.BufferedReader(self._reader)
        self._answered = False
        self._body_read = False

    def handle_one_request(self) -> None:
        limits = self.server.limits
        self._reader.deadline = time.monotonic() + limits.request_timeout
        self._reader.budget = limits.max_header_bytes  # give or take one 8 KiB read-ahead
        self._answered = self._body_read = False
        self.raw_requestline, self.requestline, self.command = b"", "", ""
        self.request_version = "HTTP/1.0"  # what an error before parsing is answered in
        try:
            self._one_request()
        except HTTPProblem as problem:
            self.refuse(problem)
        except HeadersTooLarge:
            self.refuse(HTTPProblem(431, "request line and headers are too large"))
        except TimeoutError:
            self.close_connection = True
            if self.raw_requestline and not self._answered:  # a slow request, not an idle one
                self.refuse(HTTPProblem(408, "the request did not arrive in time"))
        except OSError as exc:  # the client went away: nobody to answer
            self.close_connection = True
            self.server.log.debug("connection from %s lost: %s", self.client(), exc)
        except Exception as exc:
            self.close_connection = True
            self.server.log.warning(
                "%s %s from %s failed: %s: %s",
                clip(self.command, 10),
                clip(self.path_only()),
                self.client(),
                type(exc).__name__,
                exc,
            )
            self.server.log.debug("the failure", exc_info=True)
            if not self._answered:
                with contextlib.suppress(OSError):
                    self.reply(500, b"internal error\n")

    def _one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except HeadersTooLarge:
            raise HTTPProblem(414, "request line too long") from None
        if len(self.raw_requestline) > 65536:
            raise HTTPProblem(414, "request line too long")
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():  # it answered already
            return
        self._reader.budget = None
        method = getattr(self, f"do_{self.command}", None)
        if method is None:
            allowed = ", ".join(sorted(n[3:] for n in dir(self) if n.startswith("do_")))
            raise HTTPProblem(
                405, f"method {clip(self.command, 20)} not allowed", {"Allow": allowed}
            )
        method()
        self.wfile.flush()

    def handle_expect_100(self) -> bool:
        """Refuse a bad or too large ``Content-Length`` before the client sends the body."""
        try:
            self.content_length()
        except HTTPProblem as problem:
            self.refuse(problem)
            return False
        return super().handle_expect_100()

    # --- checks ---

    def content_length(self, *, required: bool = False) -> int:
        """The announced body size, validated: 411, 400 or 413 as :class:`HTTPProblem`."""
        limit = self.server.limits.max_body
        if self.headers.get("Transfer-Encoding") is not None:
            raise HTTPProblem(411, "Transfer-Encoding bodies are not accepted: send Content-Length")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            if required:
                raise HTTPProblem(411, "Content-Length is required")
            return 0
        if len(values) > 1:
            raise HTTPProblem(400, "conflicting Content-Length headers")
        value = values.pop()
        if not DIGITS.fullmatch(value):
            if value.isascii() and value.isdigit():
                raise HTTPProblem(413, f"body over {limit} bytes")
            raise HTTPProblem(400, f"Content-Length must be a byte count, not {clip(value, 24)}")
        length = int(value)
        if length > limit:
            raise HTTPProblem(413, f"body over {limit} bytes")
        return length

    def read_body(self, *, required: bool = False) -> bytes:
        """Exactly ``Content-Length`` bytes (validated first), within the request deadline."""
        length = self.content_length(required=required)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise HTTPProblem(400, f"the body ended after {len(body)} of {length} bytes")
        self._body_read = True
        return body

    def check_origin(self, hosts: HostPolicy | None) -> None:
        """403 for a ``Host`` that ``hosts`` does not allow, and for any cross-site request.

        Browsers send ``Origin`` (and ``Sec-Fetch-Site``) with cross-site requests; the servers
        built here have no web UI, so only an origin equal to the server's own is accepted.
        """
        found = self.headers.get_all("Host") or []
        if len(found) > 1:
            raise HTTPProblem(400, "more than one Host header")
        host = host_name(found[0]) if found else ""
        if hosts is not None and host and not hosts.allows(host):
            raise HTTPProblem(403, f"Host {clip(found[0], 60)} is not served here")
        origin = self.headers.get("Origin")
        if origin is not None and not self._own_origin(origin, host, hosts):
            raise HTTPProblem(403, f"cross-origin request from {clip(origin, 60)} refused")
        site = (self.headers.get("Sec-Fetch-Site") or "none").strip().lower()
        if site not in ("none", "same-origin"):
            raise HTTPProblem(403, f"cross-site browser request refused ({clip(site, 20)})")

    def _own_origin(self, origin: str, host: str, hosts: HostPolicy | None) -> bool:
        try:
            parts = urlsplit(origin.strip())
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        name = parts.hostname or ""
        return (
            parts.scheme in ("http", "https")
            and name == host
            and port == self.server.server_address[1]
            and (hosts is None or hosts.allows(name))
        )

    def require_json(self) -> None:
        """415 unless ``Content-Type`` is ``application/json`` (a browser cannot send it
        cross-site without a CORS preflight, which these servers never grant)."""
        kind = (self.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
        if kind != "application/json":
            got = clip(kind, 40) if kind else "none"
            raise HTTPProblem(415, f"Content-Type must be application/json (got {got})")

    def require_bearer(self, token: bytes | None, realm: str) -> None:
        """401 unless ``Authorization: Bearer <token>`` matches (constant-time compare)."""
        if token is None:
            return
        scheme, _, value = (self.headers.get("Authorization") or "").strip().partition(" ")
        offered = value.strip().encode("latin-1", "replace")
        matched = hmac.compare_digest(offered, token)
        if scheme.lower() != "bearer" or not matched:
            why = "a bearer token is required" if not value else "wrong bearer token"
            challenge = {"WWW-Authenticate": f'Bearer realm="{realm}"'}
            raise HTTPProblem(401, f"{why} (Authorization: Bearer <token>)", challenge)

    # --- answers ---

    def error_body(self, status: int, message: str) -> tuple[bytes, str]:
        """Body and content type of an error answer (subclasses speak their protocol)."""
        return f"{message}\n".encode(), "text/plain; charset=utf-8"

    def refuse(self, problem: HTTPProblem) -> None:
        """Log one line and answer a :class:`HTTPProblem` (unless an answer was sent)."""
        level = logging.WARNING if problem.status in (401, 403) else logging.INFO
        self.server.log.log(
            level,
            "%d to %s %s from %s: %s",
            problem.status,
            clip(self.command, 10),
            clip(self.path_only()),
            self.client(),
            problem.message,
        )
        if self._answered:
            self.close_connection = True
            return
        body, kind = self.error_body(problem.status, problem.message)
        self.reply(problem.status, body, kind, problem.headers)

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send one complete answer; closes the connection if a request body was left unread."""
        if not self._body_read and self._announces_body():
            self.close_connection = True
        self.connection.settimeout(self.server.limits.read_timeout)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self) -> str:
        return self.server_version

    def send_response(self, code: int, message: str | None = None) -> None:
        self._answered = True
        super().send_response(code, message)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's parse errors (400, 414, 431, 505) as short answers, connection closed."""
        self.close_connection = True
        self.refuse(HTTPProblem(code, message or explain or "bad request"))

    def _announces_body(self) -> bool:
        headers = getattr(self, "headers", None)
        if headers is None:
            return False
        length = (headers.get("Content-Length") or "0").strip()
        return length != "0" or headers.get("Transfer-Encoding") is not None

    def path_only(self) -> str:
        """The request path without query string ('' before the request line is read)."""
        return getattr(self, "path", "").partition("?")[0]

    def client(self) -> str:
        """The peer address, for log lines."""
        return client_name(self.client_address)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log.debug("%s %s", self.client(), format % args)


__all__ = ["Handler"]
