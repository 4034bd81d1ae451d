"""Minimal HTTP/1.1 wire helpers for the local router: request and response heads.

Only what a reverse proxy in front of model servers needs: heads, how bodies are framed, and
hop-by-hop headers (RFC 9110 section 7.6.1); chunked bodies and the router's own answers are
in ``http_body``. Header names are compared lower-cased; the raw head is kept, so forwarding
copies bytes instead of rebuilding heads (the common case: no hop-by-hop header present).

Heads are checked against the RFC 9112 grammar before anything is read from them (one
linear regex per head): a request line of ``token SP origin-form SP HTTP/d.d``, header lines of
``token ":" value`` with no CR, LF, NUL or other control byte in the value and no whitespace
before the colon, no obs-fold. Anything else is ``400``, so a head the router forwards can
never carry a header line, a request, or a framing an upstream would read differently
(request smuggling, header injection). Framing follows RFC 9112 section 6: ``Content-Length``
and ``Transfer-Encoding`` together, several different lengths, or a coding list not ending
in a single ``chunked`` is ``400``; a coding other than ``chunked`` is ``501``.
"""

from __future__ import annotations

import re
from typing import NoReturn

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024
"""Largest upstream response head accepted (bytes); requests: ``RouterLimits.max_head``."""
MAX_BODY = 64 * 1024 * 1024
"""Largest upstream response body accepted (bytes); requests: ``RouterLimits.max_body``."""
REFERENCE_NAME = b"x-modelcanary-reference"
"""``analysis._llm_records.REFERENCE_HEADER``: stripped from every forwarded request."""
MAX_REQUEST_ID = 128
"""Default longest client ``x-request-id`` kept (``RouterLimits.max_request_id``)."""

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VALUE = rb"[^\x00-\x08\x0a-\x1f\x7f]*"  # field-content: no CTL but HTAB (obs-text allowed)
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (/[^\x00-\x20\x7f]*) HTTP/([0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [0-9]{3}(?:[ \t]" + _VALUE + rb")?")
_FIELDS = re.compile(rb"(?:\r\n" + _TOKEN + rb":" + _VALUE + rb")*")
_REQUEST_HEAD = re.compile(_REQUEST_LINE.pattern + _FIELDS.pattern)
"""A whole well-formed request head in one linear match (the common case: one regex call)."""
_VISIBLE = re.compile(rb"[\x21-\x7e]+")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Response framings (how the end of an upstream response body is found).
LENGTH, CHUNKED, UNTIL_CLOSE, NO_BODY = 0, 1, 2, 3


class HttpError(Exception):
    """A malformed or unsupported message; ``status`` is the answer to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _keys(*names: bytes) -> dict[bytes, bytes]:
    return {name: b"\r\n" + name + b":" for name in names}


_KEY = _keys(
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"x-request-id",
    b"cookie",
    b"host",
    b"transfer-encoding",
    b"x-modelcanary-reference",
)
_REQUEST_HOP = re.compile(
    rb"\r\n(?:connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade"
    rb"|expect):"
)
_RESPONSE_HOP = re.compile(
    rb"\r\n(?:connection|keep-alive|proxy-connection|te|trailer|upgrade|transfer-encoding):"
)


def header_values(head: bytes, lower: bytes, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (lower-case) in ``head``; ``lower`` is ``head.lower()``."""
    key = _KEY.get(name) or b"\r\n" + name + b":"
    values: list[bytes] = []
    pos = lower.find(key)
    while pos >= 0:
        start = pos + len(key)
        stop = head.find(CRLF, start)
        if stop < 0:
            stop = len(head)
        values.append(head[start:stop].strip())
        pos = lower.find(key, stop)
    return values


_CONTENT_LENGTH = _KEY[b"content-length"]


def _first_value(head: bytes, lower: bytes, key: bytes) -> bytes | None:
    """The first value of the header whose ``CRLF name:`` is ``key``, or None."""
    pos = lower.find(key)
    if pos < 0:
        return None
    start = pos + len(key)
    stop = head.find(CRLF, start)
    return head[start : stop if stop >= 0 else len(head)].strip()


def _conflicting_lengths(head: bytes, lower: bytes) -> bool:
    """Several different Content-Length values (a request smuggling vector)."""
    if lower.count(_CONTENT_LENGTH) < 2:
        return False
    return len(set(header_values(head, lower, b"content-length"))) > 1


def _malformed(head: bytes) -> NoReturn:
    """Raise the 400 saying which part of a head that failed the grammar is wrong."""
    line = _REQUEST_LINE.match(head)
    if line is None or (line.end() < len(head) and head[line.end() : line.end() + 2] != CRLF):
        raise HttpError(400, "malformed request line (expected: METHOD /path HTTP/1.1)")
    raise HttpError(400, "malformed header line (name: value, no control characters)")


_NEVER_DROPPED = frozenset({b"close", b"keep-alive", b"", b"host", b"x-request-id"})
"""``Connection`` tokens that never remove a header: the router needs Host and the id."""


class RequestHead:
    """A parsed request head. ``rebuild`` is set when forwarding must drop or change lines.

    Headers are found with substring searches on the lower-cased head (no per-line loop);
    the line list is only built when a head must be rewritten or matched.
    """

    __slots__ = (
        "_lines",
        "close",
        "content_length",
        "cookie",
        "drop",
        "expect_continue",
        "framed",
        "has_host",
        "head",
        "method",
        "rebuild",
        "reference",
        "request_id",
        "target",
    )

    def __init__(self, head: bytes, max_request_id: int = MAX_REQUEST_ID) -> None:
        whole = _REQUEST_HEAD.fullmatch(head)
        if whole is None:
            _malformed(head)
        method, target, version = whole.groups()
        if version != b"1.1" and version != b"1.0":
            raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        self.head, self.method, self.target = head, method, target
        self._lines: list[bytes] | None = None
        self.close = version == b"1.0"  # 1.0 clients: answer, then close
        self.expect_continue = False
        self.drop: frozenset[bytes] = HOP_BY_HOP
        lower = head.lower()
        value = _first_value(head, lower, _CONTENT_LENGTH)
        self.framed = value is not None
        self.content_length = 0
        if value is not None:
            if not value.isdigit() or _conflicting_lengths(head, lower):
                raise HttpError(400, "bad Content-Length")
            self.content_length = int(value)
        id_key = _KEY[b"x-request-id"]
        self.request_id = _first_value(head, lower, id_key)
        pos = lower.find(_KEY[b"cookie"])
        self.cookie = b"; ".join(header_values(head, lower, b"cookie")) if pos >= 0 else None
        host = _KEY[b"host"]
        pos = lower.find(host)
        self.has_host = pos >= 0
        if self.has_host and lower.find(host, pos + 6) >= 0:
            raise HttpError(400, "several Host headers")
        self.rebuild = self.close or _REQUEST_HOP.search(lower) is not None
        self.reference: bytes | None = None
        """The ``x-modelcanary-reference`` value (the load record's reference answer), which
        is never forwarded: a model must not see the answer it is judged against."""
        reference_key = _KEY[REFERENCE_NAME]
        if lower.find(reference_key) >= 0:
            self.reference = _first_value(head, lower, reference_key)
            self.rebuild = True
            self.drop = self.drop | {REFERENCE_NAME}
        rid = self.request_id
        if rid is not None and (
            len(rid) > max_request_id or _VISIBLE.fullmatch(rid) is None or lower.count(id_key) > 1
        ):  # replaced by the router's own id: ids stay small and pair champion and mirror
            self.request_id, self.rebuild = None, True
            self.drop = self.drop | {b"x-request-id"}
        if self.rebuild:
            self._hop_by_hop(head, lower, version)

    def _hop_by_hop(self, head: bytes, lower: bytes, version: bytes) -> None:
        if lower.find(_KEY[b"transfer-encoding"]) >= 0:
            self._transfer_coding(head, lower, version)
        tokens = {
            t.strip()
            for v in header_values(head, lower, b"connection")
            for t in v.lower().split(b",")
        }
        if b"close" in tokens:
            self.close = True
        extra = tokens - _NEVER_DROPPED
        if extra:
            self.drop = self.drop | extra
        expect = header_values(head, lower, b"expect")
        self.expect_continue = bool(expect) and expect[0].lower() == b"100-continue"

    def _transfer_coding(self, head: bytes, lower: bytes, version: bytes) -> None:
        """RFC 9112 section 6.1: only a single, final ``chunked``; never with a length."""
        if self.framed:
            raise HttpError(400, "Content-Length and Transfer-Encoding together")
        if version == b"1.0":
            raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = [
            c.strip()
            for v in header_values(head, lower, b"transfer-encoding")
            for c in v.lower().split(b",")
        ]
        codings = [c for c in codings if c]
        if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") > 1:
            raise HttpError(400, "Transfer-Encoding must end with a single chunked")
        if len(codings) > 1:
            raise HttpError(501, "unsupported Transfer-Encoding (only chunked)")
        self.content_length, self.framed = -1, True  # chunked: forwarded de-chunked

    def first_header(self, key: bytes) -> bytes | None:
        """The first value of the header whose ``CRLF name:`` (lower-case) is ``key``, or None.

        Not read at parse time: only a router told to read such a header (the unit header,
        ``RouteTable.unit_key``) pays for the search."""
        head = self.head
        return _first_value(head, head.lower(), key)

    @property
    def lines(self) -> list[bytes]:
        """The request line, then the header lines (split on first use)."""
        if self._lines is None:
            self._lines = self.head.split(CRLF)
        return self._lines

    def forward_head(self, prefix: bytes, host: bytes, body_length: int) -> bytes:
        """The head to send upstream (no final blank line), hop-by-hop lines removed."""
        if not self.rebuild and not prefix and self.has_host:
            return self.head
        kept = [b"%s %s%s HTTP/1.1" % (self.method, prefix, self.target)]
        drop = self.drop
        for line in self.lines[1:]:
            name = line[: line.find(b":")].strip().lower()
            if name not in drop and name != b"content-length" and name != b"expect":
                kept.append(line)
        if not self.has_host:
            kept.append(b"host: " + host)
        if body_length or self.framed:
            kept.append(b"content-length: %d" % body_length)
        return CRLF.join(kept)


class ResponseHead:
    """A parsed upstream response head and how its body is framed."""

    __slots__ = (
        "close",
        "event_stream",
        "framing",
        "head",
        "length",
        "rebuild",
        "status",
        "streamed",
    )

    def __init__(self, head: bytes, head_only: bool) -> None:
        line = _STATUS_LINE.match(head)
        if line is None:
            raise HttpError(502, "malformed upstream status line")
        if _FIELDS.fullmatch(head, line.end()) is None:  # nothing unchecked reaches a client
            raise HttpError(502, "malformed upstream header line")
        self.status = status = int(head[9:12])
        self.head = head
        self.close = head[7:8] == b"0"  # HTTP/1.0 upstream: connection not reused
        lower = head.lower()
        self.length = -1
        value = _first_value(head, lower, _CONTENT_LENGTH)
        if value is not None:
            if not value.isdigit():
                raise HttpError(502, "bad upstream Content-Length")
            self.length = int(value)
        chunked = False
        hop = _RESPONSE_HOP.search(lower) is not None
        if hop:
            codings = header_values(head, lower, b"transfer-encoding")
            chunked = bool(codings) and codings[-1].lower().endswith(b"chunked")
            for value in header_values(head, lower, b"connection"):
                if b"close" in value.lower():
                    self.close = True
                elif b"keep-alive" in value.lower():
                    self.close = False
        # the status line must say HTTP/1.1 to our clients; hop-by-hop lines other than
        # the chunked coding (kept when the body is forwarded chunked) must go
        self.rebuild = head[7:8] == b"0" or (hop and not (chunked and _only_chunked(lower)))
        if head_only or status < 200 or status in (204, 304):
            self.framing = NO_BODY
        elif chunked:
            self.framing = CHUNKED
        elif self.length >= 0:
            self.framing = LENGTH
        else:
            self.framing, self.close = UNTIL_CLOSE, True
        framing = self.framing
        self.event_stream = framing != NO_BODY and lower.find(b"text/event-stream") >= 0
        """A body of Server-Sent Events."""
        self.streamed = framing == CHUNKED or self.event_stream
        """Forwarded as it arrives (event streams, chunked bodies), not buffered whole."""

    def client_head(self, body_length: int, dechunk: bool) -> bytes:
        """The head to send to our client (HTTP/1.1 status line, hop-by-hop lines removed).

        ``dechunk``: the body is sent de-chunked, with ``body_length`` as Content-Length.
        """
        framing = self.framing
        if not self.rebuild and not dechunk:
            if framing == UNTIL_CLOSE:
                return self.head + b"\r\ncontent-length: %d" % body_length
            return self.head
        kept = self._end_to_end()
        if framing == CHUNKED and not dechunk:
            kept.append(b"transfer-encoding: chunked")
        elif framing != NO_BODY:
            kept.append(b"content-length: %d" % body_length)
        elif self.length >= 0:
            kept.append(b"content-length: %d" % self.length)
        return CRLF.join(kept)

    def _end_to_end(self) -> list[bytes]:
        """The head's lines for our client: the status line as HTTP/1.1, then every header but
        the hop-by-hop ones and ``content-length`` (the caller adds the framing it sends)."""
        lines = self.head.split(CRLF)
        kept = [b"HTTP/1.1 " + lines[0][9:]]
        for line in lines[1:]:
            name = line[: line.find(b":")].strip().lower()
            if name not in HOP_BY_HOP and name != b"content-length":
                kept.append(line)
        return kept

    def stream_head(self, chunked: bool) -> bytes:
        """The head of a streamed answer: a LENGTH body keeps its length; any other goes
        ``chunked`` (re-framed by the router) or, for a client whose connection closes after
        it (``chunked`` False), delimited by the close."""
        if self.framing == LENGTH:
            return self.client_head(self.length, False)
        kept = self._end_to_end()
        if chunked:
            kept.append(b"transfer-encoding: chunked")
        return CRLF.join(kept)


def _only_chunked(lower: bytes) -> bool:
    """True when Transfer-Encoding is the only hop-by-hop header of a response head."""
    return len(_RESPONSE_HOP.findall(lower)) == 1
