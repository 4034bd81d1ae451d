"""Local router benchmark: the same load, direct to a model server vs through the router.

    .venv/bin/python benchmarks/router.py [--duration 5] [--json FILE]

Upstreams are two minimal asyncio HTTP servers (own processes) answering
``{"predictions": [0.5]}`` -- not the real model server, so the figures isolate the router's
own cost. The router runs in this process (its own event-loop thread); the load comes from a
separate process: ``wrk`` when installed, else the small asyncio client below. Setups, each
at 1 connection (latency overhead) and at ``--connections`` (throughput):

* ``direct``: straight to one upstream;
* ``router split``: the router splitting 50/50;
* ``router split+mirror``: 50/50 plus a mirror of 100 % of champion traffic;
* ``nginx split``: nginx (one worker, keep-alive upstreams) with the same 50/50 weights,
  when ``nginx`` is installed.

Everything listens on 127.0.0.1; every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BODY = b'{"predictions": [0.5]}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
REQUEST_BODY = b'{"inputs": [[1.0, 2.0, 3.0]]}'


# -- upstream: a minimal keep-alive HTTP server ----------------------------------------------
class _Upstream(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport, self.buf = transport, b""

    def data_received(self, data: bytes) -> None:
        buf, out = self.buf + data, []
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", buf[:end])
            stop = end + 4 + (int(match.group(1)) if match else 0)
            if len(buf) < stop:
                break
            buf = buf[stop:]
            out.append(ANSWER)
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))


def serve_upstream(port: int) -> None:
    """Run a minimal upstream on ``port`` until killed."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(serve())


# -- load: wrk, or a small asyncio client ---------------------------------------------------
async def _client(url: str, connections: int, duration: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (host.encode(), len(REQUEST_BODY), REQUEST_BODY)
    )
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < end:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - started)
            errors += not head.startswith(b"HTTP/1.1 2")
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors,
    }


def _wrk_ms(text: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s)", text)
    assert found, text
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def _wrk_number(pattern: str, out: str) -> float:
    found = re.search(pattern, out)
    assert found, out
    return float(found.group(1))


def run_load(url: str, connections: int, duration: float) -> dict[str, Any]:
    """POST ``REQUEST_BODY`` to ``url/invocations`` for ``duration`` s from another process."""
    seconds = max(1, round(duration))
    if shutil.which("wrk"):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(
                'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
                f"wrk.body = {json.dumps(REQUEST_BODY.decode())}\n"
            )
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name]
        done = subprocess.run(
            [*cmd, f"{url}/invocations"], capture_output=True, text=True, timeout=seconds + 30
        )
        os.unlink(script.name)
        out = done.stdout
        dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, flags=re.M))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        socket_errors = re.search(r"Socket errors: (.*)", out)
        return {
            "requests": int(_wrk_number(r"(\d+) requests in", out)),
            "rps": _wrk_number(r"Requests/sec:\s+([\d.]+)", out),
            "p50_ms": _wrk_ms(dist["50"]),
            "p99_ms": _wrk_ms(dist["99"]),
            "errors": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "",
            "tool": "wrk",
        }
    cmd = [sys.executable, __file__, "--load", url, str(connections), str(seconds)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return {**json.loads(done.stdout), "tool": "asyncio client"}


# -- setups ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream split {{
    server 127.0.0.1:{a} weight=50; server 127.0.0.1:{b} weight=50; keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://split; proxy_http_version 1.1; proxy_set_header Connection "";
    }}
  }}
}}
"""


def start_nginx(a: int, b: int, directory: str) -> tuple[subprocess.Popen[bytes], int]:
    """nginx with one worker splitting 50/50 over keep-alive upstreams (stopped by caller)."""
    port = free_port()
    conf = Path(directory) / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, a=a, b=b, port=port))
    proc = subprocess.Popen(["nginx", "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait_listening(port)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per setup (median kept)")
    parser.add_argument("--connections", type=int, default=32, help="connections for throughput")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-nginx", action="store_true", help="skip nginx even if installed")
    args = parser.parse_args()

    from modelcanary.local._proxy.server import LocalRouter
    from modelcanary.local._proxy.table import RouteTable
    from modelcanary.local._recorder import Recorder
    from modelcanary.rollout._commands import Routes

    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, __file__, "--upstream", str(p)]) for p in ports]
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        for port in ports:
            wait_listening(port)
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        recorder = Recorder(retention_seconds=60)
        router = LocalRouter(urls[0], urls[1], rollout="bench", recorder=recorder).start()
        targets: list[tuple[str, str, Routes | None]] = [
            ("direct", urls[0], None),
            ("router split", router.url, Routes(50, 50)),
            ("router split+mirror", router.url, Routes(50, 50, 100)),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            if shutil.which("nginx") and not args.no_nginx:
                nginx, nginx_port = start_nginx(ports[0], ports[1], tmp)
                procs.append(nginx)
                targets.append(("nginx split", f"http://127.0.0.1:{nginx_port}", None))
            for connections in (1, args.connections):
                for round_ in range(args.rounds):  # interleaved: drifts in machine load hit all
                    for name, url, routes in targets:
                        if routes is not None:
                            router._state.table = RouteTable(routes)  # bench: no rollout object
                        run_load(url, connections, 1.0)  # warm-up: connections, pools, caches
                        dropped = router.mirror_dropped
                        result = run_load(url, connections, args.duration)
                        result["mirror_dropped"] = router.mirror_dropped - dropped
                        runs.append({"setup": name, "connections": connections, **result})
                        print(
                            f"round {round_ + 1} {name:<20} c={connections:<3} "
                            f"{result['rps']:>8.0f} rps  p50 {result['p50_ms']:.3f} ms  "
                            f"p99 {result['p99_ms']:.3f} ms",
                            flush=True,
                        )
            router.stop()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    report = summarize(runs, load_before)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def summarize(runs: list[dict[str, Any]], load_before: tuple[float, ...]) -> dict[str, Any]:
    """Median of the rounds per setup and connection count, plus the two target ratios."""
    results = []
    for key in dict.fromkeys((r["setup"], r["connections"]) for r in runs):
        mine = [r for r in runs if (r["setup"], r["connections"]) == key]
        row: dict[str, Any] = {"setup": key[0], "connections": key[1], "rounds": len(mine)}
        for field in ("rps", "p50_ms", "p99_ms"):
            row[field] = statistics.median(r[field] for r in mine)
        row["errors"] = sum(r["errors"] for r in mine)
        row["mirror_dropped"] = sum(r.get("mirror_dropped", 0) for r in mine)
        results.append(row)

    def get(setup: str, connections: int) -> dict[str, Any] | None:
        return next(
            (r for r in results if (r["setup"], r["connections"]) == (setup, connections)), None
        )

    high = max(r["connections"] for r in results)
    direct1, split1 = get("direct", 1), get("router split", 1)
    nginx_high, split_high = get("nginx split", high), get("router split", high)
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "upstream": 'minimal asyncio HTTP server answering {"predictions": [0.5]}',
        "load_tool": runs[0]["tool"] if runs else None,
        "results": results,
        "runs": runs,
        "p50_overhead_ms": split1["p50_ms"] - direct1["p50_ms"] if split1 and direct1 else None,
        "throughput_vs_nginx": (
            split_high["rps"] / nginx_high["rps"] if split_high and nginx_high else None
        ),
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'setup':<22} {'conns':>5} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in report["results"]:
        print(
            f"{r['setup']:<22} {r['connections']:>5} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} "
            f"{r['p99_ms']:>8.3f} {r['errors']:>6}"
        )
    if report["p50_overhead_ms"] is not None:
        print(f"\nrouter p50 overhead, 1 connection: {report['p50_overhead_ms']:.3f} ms (<= 0.5)")
    if report["throughput_vs_nginx"] is not None:
        print(f"router throughput / nginx: {report['throughput_vs_nginx']:.0%} (>= 50 %)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--upstream":
        serve_upstream(int(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--load":
        url, connections, duration = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(_client(url, connections, duration))))
    else:
        main()
