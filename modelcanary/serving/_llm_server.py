"""The LLM simulator's HTTP side: the OpenAI-compatible handler and a start/stop server.

Streams are written as they are produced (chunked transfer encoding, one SSE event per
token, flushed at once), so a client through a proxy sees the first token after the
configured TTFT, not when the answer is complete. Errors use OpenAI's body
``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from typing import Any

from .._httpd import BackgroundServer, Handler, HTTPProblem, Limits, Service
from ._exposition import CONTENT_TYPE
from ._llm_sim import Completion, LLMSimConfig, LLMSimulator, parse_completion
from ._llm_tasks import count_tokens, pieces

log = logging.getLogger("modelcanary.llm_sim")

LIMITS = Limits(max_body=4 << 20, request_timeout=120.0, max_connections=512)
"""Prompts may be large and streams long."""
_ERRORS = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
}


class _LLMHandler(Handler):
    """``/v1/chat/completions``, ``/v1/completions``, ``/v1/models``, health and metrics."""

    @property
    def sim(self) -> LLMSimulator:
        sim: LLMSimulator = self.server.app
        return sim

    def error_body(self, status: int, message: str) -> tuple[bytes, str]:
        kind = _ERRORS.get(status, "invalid_request_error")
        body = {"error": {"message": message, "type": kind, "code": None, "param": None}}
        return json.dumps(body).encode(), "application/json"

    def do_GET(self) -> None:
        path = self.path_only()
        if path in ("/ping", "/health", "/healthz"):
            self.reply(200, b"{}", "application/json")
        elif path == "/metrics":
            self.reply(200, self.sim.render().encode(), CONTENT_TYPE)
        elif path == "/v1/models":
            model = {"id": self.sim.config.model, "object": "model", "owned_by": "modelcanary"}
            self.reply(
                200, json.dumps({"object": "list", "data": [model]}).encode(), "application/json"
            )
        else:
            raise HTTPProblem(404, f"no route {path}")

    def do_POST(self) -> None:
        path = self.path_only()
        if path not in ("/v1/chat/completions", "/v1/completions"):
            raise HTTPProblem(404, f"no route {path}")
        started = time.monotonic()
        request = parse_completion(self.read_body(required=True), path.endswith("chat/completions"))
        cfg = self.sim.config
        if request.prompt_tokens > cfg.context_length:
            self.sim.observe(400)
            self._openai_error(
                400,
                f"This model's maximum context length is {cfg.context_length} tokens; the "
                f"messages have {request.prompt_tokens}",
                "context_length_exceeded",
            )
            return
        fate, ttft = self.sim.draw()
        if fate < cfg.rate_limit_rate:
            self.sim.observe(429)
            self._openai_error(429, "Rate limit reached: retry after 1 s", "rate_limit_exceeded")
            return
        if fate < cfg.rate_limit_rate + cfg.error_rate:
            time.sleep(ttft)
            self.sim.observe(500)
            self._openai_error(500, "The server had an error while processing the request", None)
            return
        text, reason = self.sim.text(request)
        if request.stream:
            self._stream(request, text, reason, started, ttft)
        else:
            self._whole(request, text, reason, started, ttft)

    # -- answers ----------------------------------------------------------------------------
    def _openai_error(self, status: int, message: str, code: str | None) -> None:
        kind = _ERRORS.get(status, "invalid_request_error")
        body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
        headers = {"Retry-After": "1"} if status == 429 else None
        self.reply(status, json.dumps(body).encode(), "application/json", headers)

    def _envelope(self, request: Completion, chunk: bool) -> dict[str, Any]:
        kind = "chat.completion" if request.chat else "text_completion"
        return {
            "id": f"{'chatcmpl' if request.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": f"{kind}.chunk" if chunk and request.chat else kind,
            "created": int(time.time()),
            "model": self.sim.config.model,
        }

    def _usage(self, request: Completion, output: int) -> dict[str, int]:
        return {
            "prompt_tokens": request.prompt_tokens,
            "completion_tokens": output,
            "total_tokens": request.prompt_tokens + output,
        }

    def _whole(
        self, request: Completion, text: str, reason: str, started: float, ttft: float
    ) -> None:
        output = count_tokens(text)
        gap = 1.0 / self.sim.config.tokens_per_second
        time.sleep(max(0.0, started + ttft + gap * max(0, output - 1) - time.monotonic()))
        body = self._envelope(request, chunk=False)
        if request.chat:
            message = {"role": "assistant", "content": text}
            body["choices"] = [{"index": 0, "message": message, "finish_reason": reason}]
        else:
            body["choices"] = [{"index": 0, "text": text, "finish_reason": reason}]
        body["usage"] = self._usage(request, output)
        self.reply(200, json.dumps(body).encode(), "application/json")
        self.sim.observe(
            200, request.prompt_tokens, output, ttft, time.monotonic() - started, reason
        )

    def _stream(
        self, request: Completion, text: str, reason: str, started: float, ttft: float
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = self._envelope(request, chunk=True)
        gap = 1.0 / self.sim.config.tokens_per_second
        parts = pieces(text)
        first_at = 0.0
        if request.chat:  # the role comes first, as OpenAI's streams do
            self._event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        for i, part in enumerate(parts):
            due = started + ttft + gap * i
            time.sleep(max(0.0, due - time.monotonic()))
            if i == 0:
                first_at = time.monotonic() - started
            self._event({**base, "choices": [self._delta(request, part, None)]})
        self._event({**base, "choices": [self._delta(request, "", reason)]})
        if request.include_usage:
            self._event({**base, "choices": [], "usage": self._usage(request, len(parts))})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")
        elapsed = time.monotonic() - started
        self.sim.observe(200, request.prompt_tokens, len(parts), first_at, elapsed, reason)

    @staticmethod
    def _delta(request: Completion, text: str, reason: str | None) -> dict[str, Any]:
        if request.chat:
            delta = {"content": text} if text else {}
            return {"index": 0, "delta": delta, "finish_reason": reason}
        return {"index": 0, "text": text, "finish_reason": reason}

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class LLMSimServer(Service):
    """The simulator on a port: ``start()`` binds and serves, ``stop()`` releases it."""

    def __init__(self, config: LLMSimConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.simulator = LLMSimulator(config)
        self.host, self.requested_port = host, port
        self._http: BackgroundServer | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (after ``start()``)."""
        if self._http is None:
            raise RuntimeError("the simulator is not started: call start() first")
        return self._http.url

    def start(self) -> LLMSimServer:
        if self._http is None:
            self._http = BackgroundServer(
                self.host,
                self.requested_port,
                _LLMHandler,
                app=self.simulator,
                limits=LIMITS,
                logger=log,
                name="modelcanary-llm-sim",
            )
            self._http.start()
        return self

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()


def serve_llm_sim_until_stopped(config: LLMSimConfig, *, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM; prints the URL once listening. Returns the exit code."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LLMSimServer(config, host=host, port=port) as server:
        print(f"serving LLM simulator {config.model!r} on {server.url}", flush=True)
        stop.wait()
    return 0
