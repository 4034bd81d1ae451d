"""Local router benchmark: the same load, direct to a model server vs through the router.

    .venv/bin/python benchmarks/router.py [--duration 3] [--rounds 3] [--json FILE]
    .venv/bin/python benchmarks/router.py --soak 600 [--soak-setup mirror] [--json FILE]
    ... [--code DIR]   # the router of another copy of the package (e.g. a git archive)

Upstreams are two minimal asyncio HTTP servers (own processes) answering
``{"predictions": [0.5]}`` -- not the real model server, so the figures isolate the router's
own cost. The router runs in this process (its own event-loop thread); the load comes from a
separate process: ``wrk`` when installed, else the small asyncio client below. Setups, each
at 1 connection (latency overhead) and at ``--connections`` (throughput):

* ``direct``: straight to one upstream (the ceiling);
* ``router split``: the router splitting 50/50;
* ``router split+mirror``: 50/50 plus a mirror of 100 % of champion traffic;
* ``router no mirror`` and ``router mirror->dead``: all traffic to the champion, without a
  mirror and with 100 % mirrored to a challenger whose port refuses connections (what a dead
  challenger costs the champion);
* ``nginx split``: nginx (one worker, keep-alive upstreams) with the same 50/50 weights,
  when ``nginx`` is installed (``apt-get install nginx wrk``).

Rounds are interleaved (every setup once per round, so drifts in the machine's load hit
all); each round's throughput is divided by that round's nginx and direct figures, and the
medians of those ratios are printed with the medians of rps and latency.

``--soak SECONDS`` instead runs one setup (``--soak-setup``: ``split``, ``mirror``,
``dead-mirror`` or ``hung-mirror``, the challenger accepting and never answering) at full
load for that long, with the runtime's default ``Recorder`` (2 million rows, 1 h), in
``--segment`` second runs of the load tool, and prints throughput, latency, the router
process's RSS and the recorder's rows per segment and start vs end.

Everything listens on 127.0.0.1; every run is bounded by ``--duration`` (or ``--soak``).
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


def serve_upstream(port: int, hung: bool = False) -> None:
    """Run a minimal upstream on ``port`` until killed (``hung``: read, never answer)."""

    class _Hung(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        protocol = _Hung if hung else _Upstream
        server = await loop.create_server(protocol, "127.0.0.1", port, backlog=1024)
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


def rss_mb() -> float:
    """Resident memory of this process (the router and its recorder), MB."""
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per setup (median kept)")
    parser.add_argument("--connections", type=int, default=32, help="connections for throughput")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-nginx", action="store_true", help="skip nginx even if installed")
    parser.add_argument("--only", nargs="*", help="run only these setups (names as printed)")
    parser.add_argument("--soak", type=float, help="seconds of sustained load on one setup")
    parser.add_argument(
        "--soak-setup", default="mirror", choices=["split", "mirror", "dead-mirror", "hung-mirror"]
    )
    parser.add_argument("--segment", type=float, default=10.0, help="soak: seconds per reading")
    parser.add_argument("--code", help="import modelcanary from this directory instead")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, str(Path(args.code).resolve()))
    ports = [free_port(), free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, __file__, "--upstream", str(p)]) for p in ports[:2]]
    procs.append(subprocess.Popen([sys.executable, __file__, "--hung", str(ports[2])]))
    load_before = os.getloadavg()
    try:
        for port in ports:
            wait_listening(port)
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        if args.soak:
            report = soak(args, urls, load_before)
        else:
            report = compare(args, urls, ports, procs, load_before)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def compare(
    args: argparse.Namespace,
    urls: list[str],
    ports: list[int],
    procs: list[subprocess.Popen[bytes]],
    load_before: tuple[float, ...],
) -> dict[str, Any]:
    """Every setup, interleaved, ``args.rounds`` times; medians and per-round ratios."""
    from modelcanary.local._proxy.server import LocalRouter
    from modelcanary.local._proxy.table import RouteTable
    from modelcanary.local._recorder import Recorder
    from modelcanary.rollout._commands import Routes

    runs: list[dict[str, Any]] = []
    router = LocalRouter(urls[0], urls[1], rollout="bench", recorder=Recorder(60)).start()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connections are refused
    lonely = LocalRouter(urls[0], dead, rollout="bench", recorder=Recorder(60)).start()
    targets: list[tuple[str, str, Any, Routes | None]] = [
        ("direct", urls[0], None, None),
        ("router split", router.url, router, Routes(50, 50)),
        ("router split+mirror", router.url, router, Routes(50, 50, 100)),
        ("router no mirror", lonely.url, lonely, Routes(100, 0)),
        ("router mirror->dead", lonely.url, lonely, Routes(100, 0, 100)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if shutil.which("nginx") and not args.no_nginx:
            nginx, nginx_port = start_nginx(ports[0], ports[1], tmp)
            procs.append(nginx)
            targets.append(("nginx split", f"http://127.0.0.1:{nginx_port}", None, None))
        if args.only:
            targets = [t for t in targets if t[0] in args.only]
        for connections in (1, args.connections):
            for round_ in range(args.rounds):  # interleaved: drifts in machine load hit all
                for name, url, via, routes in targets:
                    if via is not None and routes is not None:
                        via._state.table = RouteTable(routes)  # bench: no rollout object
                    run_load(url, connections, 1.0)  # warm-up: connections, pools, caches
                    dropped = via.mirror_dropped if via is not None else 0
                    result = run_load(url, connections, args.duration)
                    result["mirror_dropped"] = (via.mirror_dropped if via else 0) - dropped
                    runs.append(
                        {"setup": name, "connections": connections, "round": round_, **result}
                    )
                    print(
                        f"round {round_ + 1} {name:<20} c={connections:<3} "
                        f"{result['rps']:>8.0f} rps  p50 {result['p50_ms']:.3f} ms  "
                        f"p99 {result['p99_ms']:.3f} ms",
                        flush=True,
                    )
    router.stop()
    lonely.stop()
    report = summarize(runs, load_before)
    print_table(report)
    return report


def soak(
    args: argparse.Namespace, urls: list[str], load_before: tuple[float, ...]
) -> dict[str, Any]:
    """One setup under full load for ``args.soak`` seconds: throughput and RSS over time."""
    from modelcanary.local._proxy.server import LocalRouter
    from modelcanary.local._proxy.table import RouteTable
    from modelcanary.local._recorder import Recorder
    from modelcanary.rollout._commands import Routes

    challenger = {
        "dead-mirror": f"http://127.0.0.1:{free_port()}",
        "hung-mirror": urls[2],
    }.get(args.soak_setup, urls[1])
    routes = {"split": Routes(50, 50), "mirror": Routes(50, 50, 100)}.get(
        args.soak_setup, Routes(100, 0, 100)
    )
    recorder = Recorder()  # the runtime's default bounds
    router = LocalRouter(urls[0], challenger, rollout="soak", recorder=recorder).start()
    router._state.table = RouteTable(routes)  # bench: no rollout object
    segments: list[dict[str, Any]] = []
    rss_start = rss_mb()
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.soak:
            result = run_load(router.url, args.connections, args.segment)
            result |= {
                "at_s": round(time.monotonic() - started, 1),
                "rss_mb": round(rss_mb(), 1),
                "recorder_rows": len(recorder),
                "mirror_dropped": router.mirror_dropped,
            }
            segments.append(result)
            print(
                f"{result['at_s']:>7.1f} s {result['rps']:>8.0f} rps  p50 {result['p50_ms']:.3f} ms"
                f"  p99 {result['p99_ms']:.3f} ms  RSS {result['rss_mb']:.0f} MB  "
                f"rows {result['recorder_rows']:,}",
                flush=True,
            )
    finally:
        router.stop()
    first, last = segments[0], segments[-1]
    report = {
        "machine": _machine(load_before),
        "soak": {
            "setup": args.soak_setup,
            "seconds": args.soak,
            "connections": args.connections,
            "recorder": {
                "max_records": recorder.max_records,
                "retention_s": recorder.retention_seconds,
            },
            "rss_before_load_mb": round(rss_start, 1),
            "start": first,
            "end": last,
            "rss_max_mb": max(s["rss_mb"] for s in segments),
            "end_vs_start_rps": last["rps"] / first["rps"] if first["rps"] else None,
        },
        "segments": segments,
    }
    print(
        f"\nsoak {args.soak_setup}, {args.soak:.0f} s: {first['rps']:.0f} -> {last['rps']:.0f} rps "
        f"({report['soak']['end_vs_start_rps']:.2f}x), p50 {first['p50_ms']:.3f} -> "
        f"{last['p50_ms']:.3f} ms, RSS {rss_start:.0f} MB before load, {first['rss_mb']:.0f} -> "
        f"{last['rss_mb']:.0f} MB (max {report['soak']['rss_max_mb']:.0f}), recorder rows "
        f"{last['recorder_rows']:,}"
    )
    return report


def _machine(load_before: tuple[float, ...]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "nginx": shutil.which("nginx") is not None,
    }


def summarize(runs: list[dict[str, Any]], load_before: tuple[float, ...]) -> dict[str, Any]:
    """Medians of the rounds per setup and connection count, and each setup's throughput
    relative to nginx and to direct calls in the same round (median of the rounds)."""
    results = []
    by_round = {(r["setup"], r["connections"], r["round"]): r for r in runs}
    for key in dict.fromkeys((r["setup"], r["connections"]) for r in runs):
        mine = [r for r in runs if (r["setup"], r["connections"]) == key]
        row: dict[str, Any] = {"setup": key[0], "connections": key[1], "rounds": len(mine)}
        for field in ("rps", "p50_ms", "p99_ms"):
            row[field] = statistics.median(r[field] for r in mine)
        row["errors"] = sum(r["errors"] for r in mine)
        row["mirror_dropped"] = sum(r.get("mirror_dropped", 0) for r in mine)
        for base, label in (("nginx split", "vs_nginx"), ("direct", "vs_direct")):
            ratios = [
                r["rps"] / ref["rps"]
                for r in mine
                if (ref := by_round.get((base, r["connections"], r["round"]))) and ref["rps"]
            ]
            row[label] = statistics.median(ratios) if ratios else None
        results.append(row)

    def get(setup: str, connections: int) -> dict[str, Any] | None:
        return next(
            (r for r in results if (r["setup"], r["connections"]) == (setup, connections)), None
        )

    high = max(r["connections"] for r in results)
    direct1, split1 = get("direct", 1), get("router split", 1)
    split_high = get("router split", high)
    return {
        "machine": _machine(load_before),
        "upstream": 'minimal asyncio HTTP server answering {"predictions": [0.5]}',
        "load_tool": runs[0]["tool"] if runs else None,
        "results": results,
        "runs": runs,
        "p50_overhead_ms": split1["p50_ms"] - direct1["p50_ms"] if split1 and direct1 else None,
        "throughput_vs_nginx": split_high["vs_nginx"] if split_high else None,
    }


def print_table(report: dict[str, Any]) -> None:
    print(
        f"\n{'setup':<22} {'conns':>5} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'vs direct':>9} {'vs nginx':>8}"
    )
    for r in report["results"]:
        ratios = [f"{r[k]:.0%}" if r[k] is not None else "-" for k in ("vs_direct", "vs_nginx")]
        print(
            f"{r['setup']:<22} {r['connections']:>5} {r['rps']:>9.0f} {r['p50_ms']:>8.3f} "
            f"{r['p99_ms']:>8.3f} {r['errors']:>6} {ratios[0]:>9} {ratios[1]:>8}"
        )
    print("(ratios: median over rounds of the setup's rps / that round's direct or nginx rps)")
    if report["p50_overhead_ms"] is not None:
        print(f"\nrouter p50 overhead, 1 connection: {report['p50_overhead_ms']:.3f} ms (<= 0.5)")
    if report["throughput_vs_nginx"] is not None:
        print(f"router split throughput / nginx: {report['throughput_vs_nginx']:.0%} (>= 50 %)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--upstream", "--hung"):
        serve_upstream(int(sys.argv[2]), hung=sys.argv[1] == "--hung")
    elif len(sys.argv) == 5 and sys.argv[1] == "--load":
        url, connections, duration = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(_client(url, connections, duration))))
    else:
        main()
