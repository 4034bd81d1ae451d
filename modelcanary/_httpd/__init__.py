"""A hardened base for the background stdlib HTTP servers (gate, MLflow and OTLP receivers).

``http.server`` alone trusts its peer: it reads a body of any announced length (``-1`` reads to
the end of the stream), waits forever for a slow client, starts one thread per connection
without limit, prints a traceback for any exception and answers nothing. Every listening port
of modelcanary that takes request bodies builds on this module instead, which adds:

- **time bounds**: each socket read waits at most ``read_timeout`` (also the keep-alive idle
  time) and a whole request (line, headers, body) must arrive within ``request_timeout``;
- **a connection cap**: past ``max_connections`` open connections a new one is answered
  ``503`` at once (with ``Retry-After``) and closed, so slow clients cannot pile up threads;
- **bounded input**: request line and headers within ``max_header_bytes`` (else 431), a body
  only with a valid ``Content-Length`` (missing 411 when required, chunked 411, negative or
  non-numeric 400, over ``max_body`` 413 without reading it) read exactly, within the deadline;
- **origin checks** for browser attacks (CSRF, DNS rebinding): ``Host`` against a
  :class:`HostPolicy`, any cross-site ``Origin`` / ``Sec-Fetch-Site`` refused (403), and a
  JSON ``Content-Type`` check (415) so a web page cannot send a body without a CORS preflight;
- **quiet failure**: every bad request is a 4xx with a short text body and one log line; an
  unexpected exception is one warning line and a 500, never a traceback on stderr.

Standard library only: any layer may import it. ``checks`` (limits, host names, the 4xx
exception), ``server`` (the cap, the deadline reader, the background thread), ``handler``,
``service`` (the start/stop/``with`` protocol of a service or a child process, a URL).
"""

from __future__ import annotations

from .checks import HostPolicy, HTTPProblem, Limits, clip, host_name, is_loopback, loads_json
from .handler import Handler
from .server import BackgroundServer, Server
from .service import Service, Stoppable, http_url

__all__ = [
    "BackgroundServer",
    "HTTPProblem",
    "Handler",
    "HostPolicy",
    "Limits",
    "Server",
    "Service",
    "Stoppable",
    "clip",
    "host_name",
    "http_url",
    "is_loopback",
    "loads_json",
]
