"""A small OpenAI-compatible chat client (``POST /v1/chat/completions``), streaming or not.

Measures what LLM SLIs need from the client side: time to the first content token (streamed
answers), total latency, and the server's ``usage`` (else tokens approximated as words and
punctuation runs). Errors keep the server's OpenAI error body (``error.message``/``code``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import ModelCanaryError

_TOKEN = re.compile(r"\w+|[^\w\s]+")


@dataclass(frozen=True)
class ChatAnswer:
    """One answer and how it came."""

    text: str
    status: int
    """HTTP status (200 answered; 429, 500, 400 ...)."""
    latency_ms: float
    ttft_ms: float | None
    """Time to the first content token (streamed answers only)."""
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    error: str = ""
    """The server's error message when ``status`` is not 200."""


class OpenAIChat:
    """Chat completions against one OpenAI-compatible base URL (``http://host:port``)."""

    def __init__(
        self,
        url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        timeout: float = 60.0,
        stream: bool = False,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ModelCanaryError(f"{url!r} is not an http(s) URL of an OpenAI-compatible server")
        self.url = url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.stream = stream
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def chat(self, prompt: str, *, system: str | None = None, **params: Any) -> ChatAnswer:
        """Ask ``prompt`` (one user message, optional system message)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        body = {"model": self.model, "messages": messages, **params}
        started = time.monotonic()
        try:
            if self.stream:
                return self._streamed({**body, "stream": True}, started)
            reply = self._http.post(f"{self.url}/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise ModelCanaryError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        latency = (time.monotonic() - started) * 1000
        data = _json(reply.content)
        if reply.status_code != 200:
            return _failed(reply.status_code, data, latency)
        choice = (data.get("choices") or [{}])[0]
        text = str((choice.get("message") or {}).get("content") or "")
        usage = data.get("usage") or {}
        return ChatAnswer(
            text,
            200,
            latency,
            None,
            int(usage.get("prompt_tokens") or len(_TOKEN.findall(prompt))),
            int(usage.get("completion_tokens") or len(_TOKEN.findall(text))),
            choice.get("finish_reason"),
        )

    def _streamed(self, body: dict[str, Any], started: float) -> ChatAnswer:
        body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        first: float | None = None
        usage: dict[str, Any] = {}
        reason = None
        with self._http.stream("POST", f"{self.url}/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                latency = (time.monotonic() - started) * 1000
                return _failed(reply.status_code, _json(reply.read()), latency)
            for line in reply.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = _json(line[6:].encode())
                usage = event.get("usage") or usage
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece and first is None:
                        first = (time.monotonic() - started) * 1000
                    parts.append(piece)
                    reason = choice.get("finish_reason") or reason
        text = "".join(parts)
        return ChatAnswer(
            text,
            200,
            (time.monotonic() - started) * 1000,
            first,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or len(_TOKEN.findall(text))),
            reason,
        )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _failed(status: int, data: dict[str, Any], latency: float) -> ChatAnswer:
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    message = str((error or {}).get("message") or f"HTTP {status}")
    return ChatAnswer("", status, latency, None, 0, 0, None, message)
