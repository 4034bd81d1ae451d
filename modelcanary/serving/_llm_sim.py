"""``modelcanary serve --llm-sim``: an OpenAI-compatible LLM simulator for tests and demos.

Speaks the parts of the OpenAI HTTP API that LLM servers (vLLM, llama.cpp, TGI, SGLang,
Ollama) share: ``POST /v1/chat/completions`` and ``POST /v1/completions``, streamed as
Server-Sent Events (``data: {chunk}`` ... ``data: [DONE]``, with the final ``usage`` chunk
when ``stream_options.include_usage``) or not, ``GET /v1/models``, ``GET /health`` and
``GET /ping``, and ``GET /metrics`` with vLLM's metric names (``vllm:time_to_first_token_seconds``,
``vllm:time_per_output_token_seconds``, ``vllm:e2e_request_latency_seconds``,
``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``, ``vllm:request_success_total``),
so Prometheus-based LLM SLIs can be tried against it.

Behaviour is configured by :class:`LLMSimConfig`: time to first token (log-normal around the
mean), output tokens per second, the shares of 500 errors, 429 rate limits, refusals and
invalid JSON (in ``response_format: json_object`` mode), a context length (longer prompts get
OpenAI's 400 ``context_length_exceeded``) and answer quality on the built-in task set
(:mod:`modelcanary.serving._llm_tasks`). Draws come from one seeded generator.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass

from .._httpd import HTTPProblem
from ._exposition import Histogram, escape_label
from ._llm_tasks import REFUSAL, answer, count_tokens, pieces

TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""vLLM's bounds of ``vllm:time_to_first_token_seconds``."""
TPOT_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
"""vLLM's bounds of ``vllm:time_per_output_token_seconds``."""
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip
"""vLLM's bounds of ``vllm:e2e_request_latency_seconds``."""


@dataclass(frozen=True)
class LLMSimConfig:
    """How the simulated model behaves (every share is a probability per request)."""

    model: str = "sim-llm"
    ttft_ms: float = 50.0
    """Mean time to the first token."""
    ttft_sigma: float = 0.3
    """Shape of the log-normal TTFT (0: always ``ttft_ms``)."""
    tokens_per_second: float = 100.0
    """Output speed after the first token (time per output token = 1 / this)."""
    error_rate: float = 0.0
    """Share answered 500."""
    rate_limit_rate: float = 0.0
    """Share answered 429 (``Retry-After: 1``)."""
    refusal_rate: float = 0.0
    """Share answered with a refusal."""
    json_invalid_rate: float = 0.0
    """Share of ``json_object`` answers cut short (invalid JSON)."""
    quality: float = 0.9
    """Chance a task-set prompt gets its reference answer."""
    mean_output_tokens: int = 40
    """Mean length of answers to prompts outside the task set."""
    context_length: int = 8192
    """Prompt tokens above this are refused (400 ``context_length_exceeded``)."""
    seed: int | None = None

    def __post_init__(self) -> None:
        shares = ("error_rate", "rate_limit_rate", "refusal_rate", "json_invalid_rate", "quality")
        for name in shares:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {value} is not a share between 0 and 1")
        if self.ttft_ms < 0 or self.tokens_per_second <= 0 or self.context_length < 1:
            raise ValueError("ttft_ms >= 0, tokens_per_second > 0 and context_length >= 1")


@dataclass(frozen=True)
class Completion:
    """One request, parsed: what to answer and how."""

    chat: bool
    prompt: str
    stream: bool
    include_usage: bool
    json_mode: bool
    max_tokens: int | None
    prompt_tokens: int
    """Approximate tokens of every message (what the context length applies to)."""


class LLMSimulator:
    """Draws, timings and metrics of the simulated model (thread-safe)."""

    def __init__(self, config: LLMSimConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._ttft = Histogram(TTFT_BUCKETS)
        self._tpot = Histogram(TPOT_BUCKETS)
        self._e2e = Histogram(E2E_BUCKETS)
        self._prompt_tokens = 0
        self._generation_tokens = 0
        self._finished: dict[str, int] = {"stop": 0, "length": 0, "error": 0}
        self._status: dict[int, int] = {200: 0}

    # -- draws ------------------------------------------------------------------------------
    def draw(self) -> tuple[float, float]:
        """(a uniform draw for the request's fate, the TTFT in seconds)."""
        with self._lock:
            fate = self._rng.random()
            mean = self.config.ttft_ms / 1000.0
            sigma = self.config.ttft_sigma
            ttft = mean * math.exp(self._rng.gauss(-sigma * sigma / 2, sigma)) if sigma else mean
        return fate, ttft

    def text(self, request: Completion) -> tuple[str, str]:
        """(answer text, finish reason) for ``request``."""
        cfg = self.config
        with self._lock:
            refuse = self._rng.random() < cfg.refusal_rate
            broken = self._rng.random() < cfg.json_invalid_rate
            content = answer(
                request.prompt, self._rng, quality=cfg.quality, mean_tokens=cfg.mean_output_tokens
            )
        if refuse:
            content = REFUSAL
        elif request.json_mode:
            content = json.dumps({"answer": content})
            if broken:
                content = content[: max(1, len(content) // 2)]
        reason = "stop"
        if request.max_tokens is not None:
            cut = pieces(content)
            if len(cut) > request.max_tokens:
                content, reason = "".join(cut[: request.max_tokens]), "length"
        return content, reason

    # -- metrics ----------------------------------------------------------------------------
    def observe(
        self,
        status: int,
        prompt_tokens: int = 0,
        output: int = 0,
        ttft: float = 0.0,
        e2e: float = 0.0,
        reason: str = "stop",
    ) -> None:
        """Count one request (TTFT and token figures only for answered ones)."""
        with self._lock:
            self._status[status] = self._status.get(status, 0) + 1
            if status >= 500:  # vLLM counts a request its engine failed as finished "error"
                self._finished["error"] += 1
            if status != 200:
                return
            self._ttft.observe(ttft)
            self._e2e.observe(e2e)
            if output > 1:
                self._tpot.observe((e2e - ttft) / (output - 1))
            self._prompt_tokens += prompt_tokens
            self._generation_tokens += output
            self._finished[reason] = self._finished.get(reason, 0) + 1

    def render(self) -> str:
        """Prometheus text exposition (vLLM names, label ``model_name``)."""
        labels = f'model_name="{escape_label(self.config.model)}"'
        with self._lock:
            lines = ["# TYPE vllm:time_to_first_token_seconds histogram"]
            lines += self._ttft.render("vllm:time_to_first_token_seconds", labels)
            lines.append("# TYPE vllm:time_per_output_token_seconds histogram")
            lines += self._tpot.render("vllm:time_per_output_token_seconds", labels)
            lines.append("# TYPE vllm:e2e_request_latency_seconds histogram")
            lines += self._e2e.render("vllm:e2e_request_latency_seconds", labels)
            lines += [
                "# TYPE vllm:prompt_tokens_total counter",
                f"vllm:prompt_tokens_total{{{labels}}} {self._prompt_tokens}",
                "# TYPE vllm:generation_tokens_total counter",
                f"vllm:generation_tokens_total{{{labels}}} {self._generation_tokens}",
                "# TYPE vllm:request_success_total counter",
            ]
            lines += [
                f'vllm:request_success_total{{{labels},finished_reason="{r}"}} {n}'
                for r, n in sorted(self._finished.items())
            ]
            lines.append("# TYPE modelcanary_llm_sim_requests_total counter")
            lines += [
                f'modelcanary_llm_sim_requests_total{{{labels},status="{s}"}} {n}'
                for s, n in sorted(self._status.items())
            ]
        return "\n".join(lines) + "\n"


def parse_completion(body: bytes, chat: bool) -> Completion:
    """The request body as a :class:`Completion`; HTTPProblem 400 naming the field."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HTTPProblem(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPProblem(400, "the body must be a JSON object")
    if chat:
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPProblem(400, "messages: give a non-empty list of {role, content}")
        texts = [m.get("content") for m in messages if isinstance(m, dict)]
        if not all(isinstance(t, str) for t in texts) or not texts:
            raise HTTPProblem(400, "messages[].content: give text")
        prompt = str(texts[-1])
        context = " ".join(str(t) for t in texts)
    else:
        raw = data.get("prompt")
        if not isinstance(raw, str):
            raise HTTPProblem(400, "prompt: give text")
        prompt = context = raw
    max_tokens = data.get("max_tokens", data.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise HTTPProblem(400, "max_tokens: give a positive integer")
    options = data.get("stream_options") or {}
    fmt = data.get("response_format") or {}
    return Completion(
        chat=chat,
        prompt=prompt if prompt.strip() else context,
        stream=data.get("stream") is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        json_mode=isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"),
        max_tokens=max_tokens,
        prompt_tokens=count_tokens(context),
    )
