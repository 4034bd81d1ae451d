"""HTTP/1.1 bodies and canned answers for the local router: chunked framing, own replies."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

from .http11 import CRLF, HttpError

_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class ChunkScanner:
    """Finds the end of a chunked body incrementally, resuming where the last scan stopped.

    ``limit`` bounds the payload: a chunk that would take it past ``limit`` bytes raises
    ``HttpError(413)`` as soon as its size line is read, before its bytes are buffered.
    """

    __slots__ = ("limit", "pos", "total", "trailers")

    def __init__(self, start: int, limit: int = 1 << 62) -> None:
        self.pos = start
        self.limit = limit
        self.total = 0
        self.trailers = False

    def scan(self, buf: bytes | bytearray) -> int:
        """Offset just past the chunked body in ``buf``, or -1 while it is incomplete."""
        pos = self.pos
        while True:
            eol = buf.find(CRLF, pos)
            if eol < 0:
                if len(buf) - pos > 8192:
                    raise HttpError(400, "chunk header or trailer line too long")
                self.pos = pos
                return -1
            if self.trailers:
                if eol == pos:
                    return eol + 2
                pos = eol + 2
                continue
            size = _chunk_size(buf[pos:eol])
            if size == 0:
                self.trailers = True
                pos = eol + 2
                continue
            if self.total + size > self.limit:
                raise HttpError(413, "chunked body too large")
            end = eol + 2 + size + 2
            if len(buf) < end:
                self.pos = pos
                return -1
            if buf[end - 2 : end] != CRLF:
                raise HttpError(400, "chunk not followed by CRLF")
            self.total += size
            pos = end


class ChunkDecoder:
    """Decodes a chunked body incrementally into its payload as bytes arrive (streaming).

    ``feed`` returns the payload bytes found in ``data`` (nothing is kept but a partial size
    line or chunk-ending CRLF), so a streamed answer of any length costs no memory;
    ``done`` is set once the last chunk and the trailers were read (bytes after it are
    ignored). A malformed body raises ``HttpError(502)``.
    """

    __slots__ = ("done", "left", "line", "state")

    _SIZE, _DATA, _END, _TRAILER = 0, 1, 2, 3

    def __init__(self) -> None:
        self.line = bytearray()
        self.left = 0
        self.state = self._SIZE
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The payload bytes in ``data`` (possibly empty)."""
        out: list[bytes] = []
        pos, size = 0, len(data)
        line = self.line
        while pos < size and not self.done:
            state = self.state
            if state == self._SIZE and not line:  # the usual case: whole chunks in one read
                eol = data.find(b"\r\n", pos)
                if 0 <= eol - pos <= 16:
                    text = data[pos:eol]
                    left = int(text, 16) if _HEX.fullmatch(text) else -1
                    end = eol + 2 + left
                    if left > 0 and data[end : end + 2] == CRLF:
                        out.append(data[eol + 2 : end])
                        pos = end + 2
                        continue
            if state == self._DATA:
                take = min(self.left, size - pos)
                out.append(data[pos : pos + take])
                pos += take
                self.left -= take
                if not self.left:
                    self.state = self._END
            elif state == self._END:
                piece = data[pos : pos + 2 - len(line)]
                line += piece
                pos += len(piece)
                if len(line) == 2:
                    if line != CRLF:
                        raise HttpError(502, "upstream chunk not followed by CRLF")
                    line.clear()
                    self.state = self._SIZE
            else:
                eol = data.find(b"\n", pos)
                if eol < 0:
                    line += data[pos:]
                    if len(line) > 8192:
                        raise HttpError(502, "upstream chunk header or trailer line too long")
                    break
                line += data[pos : eol + 1]
                pos = eol + 1
                if not line.endswith(CRLF):
                    raise HttpError(502, "upstream chunk line not ended by CRLF")
                text = bytes(line[:-2])
                line.clear()
                if state == self._TRAILER:
                    self.done = not text
                    continue
                try:
                    self.left = _chunk_size(text)
                except HttpError:
                    raise HttpError(502, "bad upstream chunk size") from None
                self.state = self._DATA if self.left else self._TRAILER
        return out[0] if len(out) == 1 else b"".join(out)


def _chunk_size(line: bytes | bytearray) -> int:
    text = bytes(line).split(b";", 1)[0].strip()
    if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
        raise HttpError(400, "bad chunk size")
    return int(text, 16)


def dechunk(raw: bytes | bytearray) -> bytes:
    """The payload of a complete chunked body (trailers dropped)."""
    parts: list[bytes] = []
    pos = 0
    while True:
        eol = raw.find(CRLF, pos)
        if eol < 0:
            raise HttpError(400, "truncated chunked body")
        size = _chunk_size(raw[pos:eol])
        if size == 0:
            return b"".join(parts)
        parts.append(bytes(raw[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


def simple_response(
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    *,
    close: bool = False,
    head_only: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A complete response generated by the router itself (errors, reserved endpoints)."""
    head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d%s%s\r\n\r\n" % (
        status,
        _REASONS.get(status, b"Unknown"),
        content_type,
        len(body),
        b"\r\nconnection: close" if close else b"",
        extra,
    )
    return head if head_only else head + body


def error_body(status: int, message: str) -> bytes:
    """The JSON body of a router-generated error (any message text stays valid JSON)."""
    return json.dumps({"error": message, "status": status}).encode()
