"""Real loopback servers for the LLM streaming tests: the llm-sim and scripted raw upstreams."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._measurements import Window
from modelcanary.local._proxy.server import LocalRouter
from modelcanary.serving import LLMSimConfig, LLMSimServer


@contextmanager
def sim(**config: Any) -> Iterator[LLMSimServer]:
    """The llm-sim on a free loopback port."""
    config.setdefault("seed", 7)
    server = LLMSimServer(LLMSimConfig(**config)).start()
    try:
        yield server
    finally:
        server.stop()


def chat(
    content: str = "Tell me about the sea", stream: bool = True, **extra: Any
) -> dict[str, Any]:
    """A chat completion request body."""
    return {
        "model": "m",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        **extra,
    }


def sim_finished(server: LLMSimServer) -> int:
    """Requests the simulator has finished answering (its ``request_success_total``)."""
    total = 0
    for line in server.simulator.render().splitlines():
        if line.startswith("vllm:request_success_total{"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> bool:
    """Poll ``condition`` until true or ``seconds`` passed (a bound, not a timing)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def exchanges(r: LocalRouter) -> list[LLMExchange]:
    """Every LLM exchange the router recorded so far."""
    return r.llm_log.llm_exchanges(Window(0.0, time.time() + 3600.0))  # type: ignore[attr-defined,no-any-return]


def event(payload: dict[str, Any]) -> bytes:
    """One SSE event, chunk-framed."""
    data = b"data: " + json.dumps(payload).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def delta(text: str, reason: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk with ``text`` as its content delta."""
    content = {"content": text} if text else {}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": content, "finish_reason": reason}],
    }


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


@dataclass
class RawUpstream:
    """A loopback server that reads each request and runs ``script(conn, request)``."""

    script: Callable[[socket.socket, bytes], None]
    requests: list[bytes] = field(default_factory=list)
    url: str = ""


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


@contextmanager
def raw_upstream(script: Callable[[socket.socket, bytes], None]) -> Iterator[RawUpstream]:
    """Serve ``script`` (one request per connection) on a free loopback port."""
    up = RawUpstream(script)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    up.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            up.requests.append(request)
            with suppress(OSError):  # the router hung up: the script's business
                script(conn, request)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            worker = threading.Thread(target=handle, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield up
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)
