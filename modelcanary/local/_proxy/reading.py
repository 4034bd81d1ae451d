"""What an exchange (a served call or its mirror copy) reads of an answer as it passes: the
LLM tracker of a chat/completions call, else the first bytes of a 2xx answer (the preview the
prediction is parsed from). Shared by the client connection and the mirror exchange, so the
two read an answer the same way."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from ...analysis._llm_records import LLMExchange
from .._llm_parse import LLMRequest, LLMTracker
from .body import dechunk
from .http11 import CHUNKED, ResponseHead

MAX_PREVIEW = 1 << 20
"""Bytes of a streamed (chunked) answer kept to read its prediction from; past this the
call is recorded without a prediction (the bytes themselves are all forwarded)."""


class Reader(Protocol):
    """An exchange that reads its answer: an LLM tracker, or a preview."""

    llm: LLMTracker | None
    preview: bytearray | None


class LLMRecorder(Protocol):
    """Where a finished LLM exchange goes (``ProxyState.record_llm``)."""

    def record_llm(self, exchange: LLMExchange, request: LLMRequest) -> None: ...


def record_whole(
    recorder: LLMRecorder, llm: LLMTracker | None, response: ResponseHead, body: bytes, now: float
) -> None:
    """Read a whole (buffered) answer of an LLM call and record the exchange (no tracker:
    not an LLM call, nothing to do)."""
    if llm is not None:
        llm.begin(response.status, response.event_stream)
        llm.feed(dechunk(body) if response.framing == CHUNKED else body, now)
        recorder.record_llm(llm.end(now), llm.request)


def begin_stream(exchange: Reader, response: ResponseHead) -> None:
    """A streamed answer starts: its LLM tracker reads it, else a 2xx answer is previewed."""
    if exchange.llm is not None:
        exchange.llm.begin(response.status, response.event_stream)
    elif 200 <= response.status < 300:
        exchange.preview = bytearray()  # for the prediction, bounded


def read_stream(exchange: Reader, data: bytes) -> None:
    """The next piece of a streamed answer: to the LLM tracker (read once the pieces that came
    with this one are forwarded), else into the preview."""
    if exchange.llm is not None:
        exchange.llm.later(data, time.perf_counter(), asyncio.get_running_loop().call_soon)
    else:
        keep(exchange, data)


def keep(exchange: Reader, data: bytes) -> None:
    """Keep a streamed answer's first ``MAX_PREVIEW`` bytes for its prediction (past that,
    none: the prediction is then not recorded)."""
    preview = exchange.preview
    if preview is not None:
        if len(preview) + len(data) > MAX_PREVIEW:
            exchange.preview = None
        else:
            preview += data


__all__ = [
    "MAX_PREVIEW",
    "LLMRecorder",
    "Reader",
    "begin_stream",
    "keep",
    "read_stream",
    "record_whole",
]
