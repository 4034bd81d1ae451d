"""Streaming overhead of the local router with the LLM simulator: TTFT and tokens/s.

    .venv/bin/python benchmarks/_llm_stream.py [--concurrency 1 32] [--requests N] [--json FILE]
        [--code DIR]   # the router of another copy of the package (e.g. a git archive)

``stream_overhead(concurrency, requests)`` (also called by ``benchmarks/llm.py``) starts the
simulator (``modelcanary serve --llm-sim``'s server, constant TTFT of ``TTFT_MS`` and
``TOKENS_PER_SECOND``, so differences are the router's) and the router, each in its own
process, and runs the same streamed chat completions (``concurrency`` keep-alive
connections, ``requests`` streams in all) straight to the simulator and through the router,
alternating ``ROUNDS`` times. The client (this process, raw asyncio sockets) times each
stream: time to its first content event, and its output tokens per second after it.

Returns ``ttft_p50_ms`` / ``ttft_p99_ms`` direct and through the router, their differences
(the goal: p50 overhead <= 1 ms), the median per-stream tokens/s of both and their ratio
(router / direct), and the streams that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TTFT_MS = 50.0
TOKENS_PER_SECOND = 200.0
ROUNDS = 2
BODY = json.dumps(
    {
        "model": "sim-llm",
        "messages": [{"role": "user", "content": "Describe the weather in a few sentences"}],
        "stream": True,
        "max_tokens": 48,
    }
).encode()
_CONTENT = b'"content"'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


CODE = [ROOT]
"""Where the simulator and the router import modelcanary from (``--code``: another copy)."""


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(CODE[0])}
    return subprocess.Popen([sys.executable, __file__, *args], env=env)


async def _stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[float, float, int]:
    """Send one streamed request; (TTFT s, tokens/s after the first, content events)."""
    sent = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    first = last = 0.0
    tokens = 0
    while True:  # chunked: size line, data, CRLF
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            break
        data = await reader.readexactly(size + 2)
        found = data.count(_CONTENT)
        if found:
            now = time.perf_counter()
            if not tokens:
                first = now
            last = now
            tokens += found
    speed = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return first - sent, speed, tokens


async def _load(port: int, concurrency: int, requests: int) -> dict[str, Any]:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json"
        b"\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    ttfts: list[float] = []
    speeds: list[float] = []
    failed = 0
    left = requests

    async def worker() -> None:
        nonlocal left, failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        try:
            while left > 0:
                left -= 1
                try:
                    ttft, speed, _ = await _stream(reader, writer, request)
                except (RuntimeError, OSError, asyncio.IncompleteReadError, ValueError):
                    failed += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                ttfts.append(ttft * 1000.0)
                speeds.append(speed)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "ttfts": ttfts,
        "speeds": speeds,
        "failed": failed,
        "seconds": time.perf_counter() - started,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stream_overhead(concurrency: int, requests: int) -> dict[str, Any]:
    """TTFT p50/p99 through the router vs direct and the tokens/s ratio (see the module)."""
    sim_port, router_port = _free_port(), _free_port()
    sim = _spawn(["--sim", str(sim_port)])
    router = None
    try:
        _wait_listening(sim_port)
        router = _spawn(["--router", str(router_port), f"http://127.0.0.1:{sim_port}"])
        _wait_listening(router_port)
        asyncio.run(_load(sim_port, concurrency, concurrency))  # warm both paths up (the
        asyncio.run(_load(router_port, concurrency, concurrency))  # router's pool included)
        runs: dict[str, dict[str, Any]] = {
            "direct": {"ttfts": [], "speeds": [], "failed": 0},
            "router": {"ttfts": [], "speeds": [], "failed": 0},
        }
        share = max(1, requests // ROUNDS)
        for _ in range(ROUNDS):
            for name, port in (("direct", sim_port), ("router", router_port)):
                run = asyncio.run(_load(port, concurrency, share))
                for key in ("ttfts", "speeds"):
                    runs[name][key] += run[key]
                runs[name]["failed"] += run["failed"]
    finally:
        for proc in (router, sim):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    direct, routed = runs["direct"], runs["router"]
    result: dict[str, Any] = {"concurrency": concurrency, "requests_per_path": share * ROUNDS}
    for name, run in (("direct", direct), ("router", routed)):
        result[f"{name}_ttft_p50_ms"] = round(statistics.median(run["ttfts"]), 3)
        result[f"{name}_ttft_p99_ms"] = round(_percentile(run["ttfts"], 0.99), 3)
        result[f"{name}_tokens_per_s"] = round(statistics.median(run["speeds"]), 1)
        result[f"{name}_failed"] = run["failed"]
    result["ttft_p50_overhead_ms"] = round(
        result["router_ttft_p50_ms"] - result["direct_ttft_p50_ms"], 3
    )
    result["ttft_p99_overhead_ms"] = round(
        result["router_ttft_p99_ms"] - result["direct_ttft_p99_ms"], 3
    )
    result["tokens_per_s_ratio"] = round(
        result["router_tokens_per_s"] / result["direct_tokens_per_s"], 4
    )
    result["sim"] = {"ttft_ms": TTFT_MS, "ttft_sigma": 0.0, "tokens_per_second": TOKENS_PER_SECOND}
    return result


def _serve_sim(port: int) -> None:
    from modelcanary.serving._llm_server import serve_llm_sim_until_stopped
    from modelcanary.serving._llm_sim import LLMSimConfig

    config = LLMSimConfig(ttft_ms=TTFT_MS, ttft_sigma=0.0, tokens_per_second=TOKENS_PER_SECOND)
    serve_llm_sim_until_stopped(config, host="127.0.0.1", port=port)


def _serve_router(port: int, upstream: str) -> None:
    import signal
    import threading

    from modelcanary.local._proxy.server import LocalRouter

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalRouter(upstream, upstream, port=port):
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--requests", type=int, help="streams per level (default 64, 4x)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--code", type=Path, help="the router of another copy (a git archive)")
    parser.add_argument("--sim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--router", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sim:
        _serve_sim(args.sim)
        return
    if args.router:
        _serve_router(int(args.router[0]), args.router[1])
        return
    if args.code:
        CODE[0] = args.code.resolve()
    rows = []
    for concurrency in args.concurrency:
        n = args.requests or max(64, 4 * concurrency)
        row = stream_overhead(concurrency, n)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
