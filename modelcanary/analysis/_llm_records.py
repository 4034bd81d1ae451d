"""One LLM exchange as the local router saw it: the contract between the router, the analysis
and the widget for OpenAI-compatible versions (``protocol: openai``).

The router builds one :class:`LLMExchange` per chat/completions request it served or mirrored
(streamed or not), from the bytes it passed through: time to first content token, the gaps
between content chunks, token counts (from ``usage`` when the server sends it, else the
documented approximation in :func:`approx_tokens`), the answer text (bounded) and the
``reference`` the load record carried (sent in the :data:`REFERENCE_HEADER`, which the router
strips before forwarding, so a model never sees it). Mirrored exchanges share the request id of
the served one, which is how champion and challenger answers pair up for shadow evaluation.

Pure data: no I/O here. Providers put the exchanges of a window in ``IntervalData.llm``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..spec._llm import ERROR_CLASS_NAMES, ErrorClassName
from ._measurements import Side, Window

ErrorClass = ErrorClassName
"""Why an LLM request failed: the spec's ``errorClass`` names (one list, in spec/_llm.py)."""
ERROR_CLASSES = ERROR_CLASS_NAMES

REFERENCE_HEADER = "x-modelcanary-reference"
"""Header the load generator puts the record's ``reference`` answer in (percent-encoded
UTF-8, at most :data:`MAX_REFERENCE_CHARS`); the router strips it before forwarding."""

MAX_ANSWER_CHARS = 4096
"""Answer text kept per exchange (longer answers are cut; token counts are not)."""
MAX_REFERENCE_CHARS = 2048
"""Reference text carried per request."""
MAX_PROMPT_CHARS = 4096
"""Prompt text kept per exchange (what a pairwise judge is shown as the question)."""

PROMPT_BUCKETS: tuple[int, ...] = (128, 512, 2048)
"""Default prompt-length bucket edges in tokens: [0,128), [128,512), [512,2048), [2048,inf).
Latency SLIs are stratified by these buckets so a version that happened to get longer prompts
is not blamed for it."""

_WORD = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """Token count when the server sent no ``usage``: words and punctuation marks, the
    documented approximation (within ~25 % of BPE tokenizers on English prose)."""
    return len(_WORD.findall(text))


def prompt_bucket(tokens: int, edges: tuple[int, ...] = PROMPT_BUCKETS) -> int:
    """Index of the prompt-length bucket ``tokens`` falls in (0 .. len(edges))."""
    for index, edge in enumerate(edges):
        if tokens < edge:
            return index
    return len(edges)


@dataclass(frozen=True, slots=True)
class LLMExchange:
    """One chat/completions request and its answer, measured at the router."""

    timestamp: float
    """When the router received the request (epoch seconds)."""
    side: Side
    mirrored: bool
    """True for the copy sent to the challenger while the champion answered the client."""
    request_id: str
    """Shared by a served request and its mirror copy."""
    status: int
    """HTTP status (502 when the version could not be reached)."""
    error_class: ErrorClass | None
    stream: bool
    prompt_tokens: int
    output_tokens: int
    tokens_exact: bool
    """True when both counts came from the server's ``usage``."""
    latency_ms: float
    """Request received to last byte of the answer."""
    ttft_ms: float | None
    """Request received to first content token (streamed); the whole latency when not
    streamed; None when no token came."""
    tpot_ms: float | None
    """Mean time per output token after the first: (last - first content chunk) /
    (output_tokens - 1); None below two output tokens."""
    answer: str = ""
    finish_reason: str | None = None
    reference: str | None = None
    unit: str | None = None
    prompt: str = ""
    """The request's prompt text (chat messages or ``prompt`` joined, at most
    :data:`MAX_PROMPT_CHARS`): the question an LLM judge is shown, for any client's traffic."""

    @property
    def ok(self) -> bool:
        """Answered without error."""
        return self.error_class is None and self.status < 400


@runtime_checkable
class LLMSource(Protocol):
    """Anything that keeps the LLM exchanges of a rollout (the local router's LLM log)."""

    def llm_exchanges(self, window: Window) -> list[LLMExchange]:
        """The exchanges whose request arrived inside ``window``, oldest first."""
        ...


def all_exchanges(source: object) -> list[LLMExchange]:
    """Every exchange ``source`` keeps so far, oldest first; [] for a source that keeps none
    (not an :class:`LLMSource`: a cluster run, an MLflow-protocol rollout)."""
    if not isinstance(source, LLMSource):
        return []
    return list(source.llm_exchanges(Window(0.0, math.inf)))
