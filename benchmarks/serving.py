"""Model-server benchmark: startup time and requests/s (not collected by pytest).

    .venv/bin/python benchmarks/serving.py [--requests 2000] [--mlflow]

Saves a tiny iris LogisticRegression with mlflow, then measures

* startup: process start -> ready line -> ``/ping`` 200, for ``python -m modelcanary.serving``
  and ``modelcanary serve`` (and ``mlflow models serve --env-manager local`` with ``--mlflow``);
* throughput: ``--requests`` one-row ``dataframe_split`` requests over one keep-alive
  connection, then over 8 concurrent connections, from a separate client process (asyncio, raw
  HTTP/1.1), against the ``ThreadingHTTPServer`` and, for comparison, an asyncio server that
  runs the same scoring code in a thread pool;
* the same for ``GET /ping`` (HTTP overhead alone).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLIENT = r"""
import asyncio, json, sys, time
host, port, method, path, body, total, conns = sys.argv[1:8]
port, total, conns = int(port), int(total), int(conns)
body = body.encode()
head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
latencies = []

async def one(n):
    reader, writer = await asyncio.open_connection(host, port)
    for _ in range(n):
        started = time.perf_counter()
        writer.write(request)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        assert b" 200 " in status, status
        latencies.append(time.perf_counter() - started)
    writer.close()

async def main():
    await one(20)  # warm-up
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(one(total // conns) for _ in range(conns)))
    print(json.dumps({"seconds": time.perf_counter() - started, "latencies": latencies}))

asyncio.run(main())
"""

ASYNC_SERVER = r"""
import asyncio, sys
from modelcanary.serving import ModelServer

server = ModelServer(sys.argv[1])
server.load()

async def handle(reader, writer):
    loop = asyncio.get_running_loop()
    while True:
        line = await reader.readline()
        if not line:
            break
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        body = await reader.readexactly(length)
        if line.startswith(b"GET /ping"):
            status, payload = 200, b"\n"
        else:
            reply = await loop.run_in_executor(None, server.invoke, body, "application/json")
            status, payload = reply.status, reply.body
        writer.write(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d"
                     b"\r\n\r\n%s" % (status, len(payload), payload))

async def main():
    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("serving x on http://127.0.0.1:%d" % listener.sockets[0].getsockname()[1], flush=True)
    await listener.serve_forever()

asyncio.run(main())
"""


READY = r"(http://127\.0\.0\.1:\d+)"


def save_model(root: Path) -> tuple[Path, str]:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = root / "iris"
    mlflow.sklearn.save_model(
        model, path, pip_requirements=["scikit-learn", "skops", "mlflow"],
        signature=infer_signature(X, model.predict(X)),
    )  # fmt: skip
    row = {"columns": list(X.columns), "data": X.iloc[:1].to_numpy().tolist()}
    return path, json.dumps({"dataframe_split": row})


def start(command: list[str], pattern: str = READY) -> tuple[Any, str, float, float]:
    """Start a server; seconds to its ready line and to its first ``/ping`` 200."""
    import httpx

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if found := re.search(pattern, line):
            ready = time.perf_counter() - started
            url = found.group(1)
            break
    else:
        raise RuntimeError(f"{command} exited {process.wait()}")
    while True:
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.02)
    return process, url, ready, time.perf_counter() - started


def load(url: str, method: str, path: str, body: str, total: int, conns: int) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    args = [host, port, method, path, body, str(total), str(conns)]
    out = subprocess.run([sys.executable, "-c", CLIENT, *args], capture_output=True, text=True)
    result = json.loads(out.stdout)
    lat = sorted(result["latencies"])
    return {
        "rps": len(lat) / result["seconds"],
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlflow", action="store_true", help="also time mlflow models serve")
    args = parser.parse_args()
    model, body = save_model(Path(tempfile.mkdtemp(prefix="bench-serving-")))
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"  # mlflow runs uvicorn
    lean = [sys.executable, "-m", "modelcanary.serving", str(model), "--port", "0"]
    setups = {
        "python -m modelcanary.serving": (lean, READY),
        "modelcanary serve": ([str(bin_dir / "modelcanary"), "serve", *lean[3:]], READY),
    }
    if args.mlflow:
        mlflow = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model)]
        mlflow += ["-p", str(_free_port()), "--env-manager", "local"]
        setups["mlflow models serve (local env)"] = (mlflow, r"Uvicorn running on (http://\S+)")
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}")
    for name, (command, pattern) in setups.items():
        times = []
        for _ in range(args.runs):
            process, _, ready, ping = start(command, pattern)
            times.append((ready, ping))
            process.terminate()
            process.wait()
        print(
            f"startup {name:34s} ready line {statistics.median(t[0] for t in times):.2f} s, "
            f"/ping 200 {statistics.median(t[1] for t in times):.2f} s (median of {args.runs})"
        )
    servers = {
        "ThreadingHTTPServer": lean,
        "asyncio + thread pool": [sys.executable, "-c", ASYNC_SERVER, str(model)],
    }
    loads = [("invocations", "POST", "/invocations", body), ("ping", "GET", "/ping", "")]
    for name, command in servers.items():
        process, url, _, _ = start(command)
        try:
            for what, method, path, payload in loads:
                for conns in (1, 8):
                    r = load(url, method, path, payload, args.requests, conns)
                    print(
                        f"{name:22s} {what:11s} {conns} conn: {r['rps']:7.0f} req/s, "
                        f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"
                    )
        finally:
            process.terminate()
            process.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
