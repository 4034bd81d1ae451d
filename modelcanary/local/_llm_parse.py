"""What the local router reads of an OpenAI-compatible exchange as its bytes pass through.

The router forwards every byte at once; beside it, an :class:`LLMTracker` per call reads
the request (prompt text for the token approximation, ``stream``) and the answer, either
Server-Sent Events parsed incrementally (``data:`` lines: content deltas, ``finish_reason``,
``usage``, error events) or a whole JSON body, and times the first and last content chunk.
Memory is bounded: the answer text is cut at ``MAX_ANSWER_CHARS`` (the token count is not:
it is counted as text passes, with the same rule as :func:`approx_tokens`), a partial SSE
line at ``MAX_EVENT_BYTES``, an error body at ``MAX_ERROR_BYTES``.

One :class:`LLMExchange` comes out per call, served or mirrored, with its ``error_class``
(the ``ErrorClass`` rules: 429 rate-limit, a 400 naming the context length, a content
filter, a stream cut before its end or the router's 504 timeout, other 5xx or transport
failures server, other 4xx client).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..analysis._llm_records import (
    MAX_ANSWER_CHARS,
    MAX_PROMPT_CHARS,
    MAX_REFERENCE_CHARS,
    ErrorClass,
    LLMExchange,
    approx_tokens,
)
from ..analysis._measurements import Side

LLM_PATHS = (b"/v1/chat/completions", b"/v1/completions")
"""Request paths recorded as LLM exchanges whatever the version's protocol."""
MAX_EVENT_BYTES = 1 << 20
"""Longest SSE line kept while incomplete (a longer one is skipped)."""
MAX_ERROR_BYTES = 16 * 1024
"""Error body kept to classify the error."""
MAX_JSON_BYTES = 8 << 20
"""Non-streamed JSON answer kept to parse (the router forwards it whole anyway)."""

_WORD = re.compile(r"\w+|[^\w\s]")
"""``approx_tokens``'s rule (kept equal by a test)."""
_TAIL_WORD = re.compile(r"\w+\Z")
_CONTEXT = ("context_length", "context length", "maximum context", "too many tokens")
_FILTER = ("content_filter", "content filter", "content management policy")


def is_llm_target(target: bytes) -> bool:
    """Whether a request target is an OpenAI chat/completions call."""
    path = target.split(b"?", 1)[0].rstrip(b"/")
    return path.endswith(LLM_PATHS)


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """The parts of a completion request an exchange record needs."""

    timestamp: float
    stream: bool
    prompt_tokens: int
    reference: str | None
    prompt: str = ""


def parse_request(body: bytes, reference: bytes | None, timestamp: float) -> LLMRequest:
    """Read ``stream`` and the prompt text (chat ``messages`` or ``prompt``) of a request
    body; a body that is not a JSON object counts as an unstreamed prompt of its text."""
    ref = None
    if reference is not None:
        ref = unquote(reference.decode("latin-1"), errors="replace")[:MAX_REFERENCE_CHARS]
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        text = body.decode(errors="replace")
        return LLMRequest(timestamp, False, approx_tokens(text), ref, text[:MAX_PROMPT_CHARS])
    text = prompt_text(payload)
    stream = payload.get("stream") is True
    return LLMRequest(timestamp, stream, approx_tokens(text), ref, text[:MAX_PROMPT_CHARS])


def prompt_text(payload: dict[str, Any]) -> str:
    """The text of every message (chat) or of the prompt (completions), joined."""
    parts: list[str] = []
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):  # content parts: keep the text ones
                parts += [
                    p["text"]
                    for p in content
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                ]
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        parts.append(prompt)
    elif isinstance(prompt, list):
        parts += [p for p in prompt if isinstance(p, str)]
    return "\n".join(parts)


def classify(
    status: int, error_text: str, finish_reason: str | None, cut: bool
) -> ErrorClass | None:
    """The ``ErrorClass`` of an answer (None: answered without error)."""
    if status == 429:
        return "rate-limit"
    if status in (504, 408):
        return "timeout"
    if status >= 500:
        return "server"
    low = error_text.lower()
    if status >= 400 or low:
        if any(word in low for word in _CONTEXT):
            return "context-length"
        if any(word in low for word in _FILTER):
            return "content-filter"
        return "client" if status >= 400 else "server"  # an error event inside a 200 stream
    if finish_reason == "content_filter":
        return "content-filter"
    return "timeout" if cut else None


class LLMTracker:
    """Reads one call's answer as it passes and builds its :class:`LLMExchange`."""

    __slots__ = (
        "answer",
        "carry",
        "chars",
        "counted",
        "done",
        "error",
        "event",
        "finish_reason",
        "first",
        "last",
        "line",
        "mirrored",
        "pending",
        "request",
        "request_id",
        "side",
        "started",
        "status",
        "streamed",
        "unit",
        "usage",
    )

    def __init__(
        self,
        request: LLMRequest,
        side: Side,
        mirrored: bool,
        request_id: str,
        unit: str | None,
        started: float,
    ) -> None:
        self.request, self.side, self.mirrored = request, side, mirrored
        self.request_id, self.unit, self.started = request_id, unit, started
        self.status = 0
        self.streamed = False
        """The answer is an event stream (else a JSON or error body, kept bounded)."""
        self.line = bytearray()
        """The incomplete line (event stream) or the body so far (JSON, error)."""
        self.event: list[bytes] = []
        self.answer: list[str] = []
        self.chars = self.counted = 0
        self.carry = ""
        self.first: float | None = None
        self.last: float | None = None
        self.finish_reason: str | None = None
        self.usage: tuple[int, int] | None = None
        self.error = ""
        self.done = False
        self.pending: list[tuple[bytes, float]] = []
        """Pieces kept by ``later`` and not read yet, with their arrival times."""

    # -- input ----------------------------------------------------------------------------
    def begin(self, status: int, event_stream: bool) -> None:
        """The answer's head arrived."""
        self.status = status
        self.streamed = event_stream and status < 400

    def feed(self, data: bytes, now: float) -> None:
        """Bytes of the answer's payload (de-chunked), as they pass."""
        if not self.streamed:
            limit = MAX_ERROR_BYTES if self.status >= 400 else MAX_JSON_BYTES
            if len(self.line) < limit:
                self.line += data[: limit - len(self.line)]
            return
        line = self.line
        pos = 0
        while True:
            eol = data.find(b"\n", pos)
            if eol < 0:
                if len(line) + len(data) - pos <= MAX_EVENT_BYTES:
                    line += data[pos:]
                else:
                    line.clear()  # an event too large to read: skipped
                return
            if line:
                line += data[pos:eol]
                text = bytes(line)
                line.clear()
            else:
                text = data[pos:eol]
            pos = eol + 1
            self._line(text.rstrip(b"\r"), now)

    def later(
        self, data: bytes, now: float, call_soon: Callable[[Callable[[], None]], object]
    ) -> None:
        """``feed`` on the loop's next turn, once every piece that arrived with this one was
        forwarded (parsing never delays another stream's piece; ``now`` is kept, so the
        times are those of arrival). ``end`` and ``failed`` read what is still pending."""
        pending = self.pending
        pending.append((data, now))
        if len(pending) == 1:
            call_soon(self.flush)

    def flush(self) -> None:
        """Read the pieces ``later`` kept."""
        pending, self.pending = self.pending, []
        for data, now in pending:
            self.feed(data, now)

    def _line(self, text: bytes, now: float) -> None:
        if not text:
            if self.event:
                payload = b"\n".join(self.event)
                self.event = []
                self._event(payload, now)
        elif text.startswith(b"data:"):
            self.event.append(text[5:].strip())

    def _event(self, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            return
        if isinstance(chunk, dict):
            self._read(chunk, now, "delta")

    def _read(self, obj: dict[str, Any], now: float, key: str) -> None:
        """One chunk (``key`` "delta") or a whole answer (``key`` "message")."""
        error = obj.get("error")
        if error is not None:
            self.error = json.dumps(error)[:MAX_ERROR_BYTES]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            prompt, output = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(output, int):
                self.usage = (prompt, output)
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        part = choice.get(key)
        content = part.get("content") if isinstance(part, dict) else choice.get("text")
        if isinstance(content, str) and content:
            if self.first is None:
                self.first = now
            self.last = now
            self._text(content)
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            self.finish_reason = reason

    def _text(self, content: str) -> None:
        room = MAX_ANSWER_CHARS - self.chars
        if room > 0:
            self.answer.append(content[:room])
            self.chars += min(room, len(content))
        text = self.carry + content
        tail = _TAIL_WORD.search(text)  # a word at the end may go on in the next delta
        if tail is not None:
            self.carry = tail.group()
            text = text[: tail.start()]
        else:
            self.carry = ""
        self.counted += len(_WORD.findall(text))

    # -- output ---------------------------------------------------------------------------
    def end(self, now: float) -> LLMExchange:
        """The answer ended normally (whole body read, or the stream's last chunk)."""
        if self.pending:
            self.flush()
        if self.line and not self.streamed:
            body = bytes(self.line)
            self.line.clear()
            if self.status < 400:
                try:
                    whole = json.loads(body)
                except ValueError:
                    whole = None
                if isinstance(whole, dict):
                    self._read(whole, now, "message")
            else:
                self.error = body.decode(errors="replace")
            return self._build(now, cut=False)
        if self.streamed:
            self.feed(b"\n\n", now)  # an event without its blank line
            complete = self.done or self.finish_reason is not None
            return self._build(now, cut=not complete)
        return self._build(now, cut=False)

    def failed(self, status: int, now: float) -> LLMExchange:
        """No answer, or an answer cut off (``status``: the router's 502/503/504)."""
        if self.pending:
            self.flush()
        if self.status and self.status < 400:  # the head came, then the stream broke
            if self.streamed:
                self.feed(b"\n\n", now)
            return self._build(now, cut=True)
        self.status = status
        return self._build(now, cut=False)

    def _build(self, now: float, cut: bool) -> LLMExchange:
        output = self.counted + (1 if self.carry else 0)
        prompt = self.request.prompt_tokens
        if self.usage is not None:
            prompt, output = self.usage
        error_class = classify(self.status, self.error, self.finish_reason, cut)
        latency = (now - self.started) * 1000.0
        first, last = self.first, self.last
        if self.streamed:
            ttft = None if first is None else (first - self.started) * 1000.0
            tpot = None
            if first is not None and last is not None and output >= 2:
                tpot = (last - first) * 1000.0 / (output - 1)
        else:
            ttft = latency if first is not None else None
            tpot = None
        request = self.request
        return LLMExchange(
            timestamp=request.timestamp,
            side=self.side,
            mirrored=self.mirrored,
            request_id=self.request_id,
            status=self.status,
            error_class=error_class,
            stream=self.streamed or request.stream,
            prompt_tokens=prompt,
            output_tokens=output,
            tokens_exact=self.usage is not None,
            latency_ms=latency,
            ttft_ms=ttft,
            tpot_ms=tpot,
            answer="".join(self.answer),
            finish_reason=self.finish_reason,
            reference=request.reference,
            unit=self.unit,
            prompt=request.prompt,
        )
