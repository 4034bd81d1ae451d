"""Local router under hostile clients: memory, descriptors, regex stalls, a hung challenger.

    .venv/bin/python benchmarks/router_limits.py [--code DIR] [--only NAME ...] [--json FILE]

Measures the five attacks of issue 12 against a router in its own process (so its memory
and file descriptors are its own), in front of minimal asyncio upstreams (from
``benchmarks/router.py``), all on 127.0.0.1:

* ``bodies``: 20 connections each sending 61 MB of a declared 62 MB body and holding it;
  router RSS before and after, and whether a normal request is still served;
* ``idle``: 6,000 idle connections to a router allowed 4,096 file descriptors
  (``--router-fds``), then 20 normal requests (served, failed, slowest);
* ``ids``: 5,000 requests with 60 KB ``x-request-id`` values: router RSS growth;
* ``regex``: a 28-character header against ``(\\w+\\s?)*-beta`` on one connection, then the
  latency of an unrelated request on another;
* ``hung``: 1,000 client connections for ``--duration`` s on a 50/50 split, the challenger
  healthy, then hung (accepts, never answers): answers per second by status.

``--code DIR`` runs the router from another copy of the package, e.g. the code before the
limits: ``git archive <rev> modelcanary | tar -x -C /tmp/before`` then ``--code /tmp/before``.
The router is built with its defaults, so both versions run the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("router_bench", ROOT / "benchmarks" / "router.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

EVIL = r"(\w+\s?)*-beta"
MB = 1000 * 1000


# -- child processes ------------------------------------------------------------------------
def serve_router(champion: str, challenger: str, mode: str) -> None:
    """Child: a LocalRouter with default limits; prints its port, runs until stdin closes."""
    if os.environ.get("PYTHONPATH"):  # benchmarks/router.py put this checkout first
        sys.path.insert(0, os.environ["PYTHONPATH"])
    from modelcanary.local._proxy.server import LocalRouter
    from modelcanary.local._recorder import Recorder
    from modelcanary.rollout._commands import Routes
    from modelcanary.spec import MatchCondition

    router = LocalRouter(champion, challenger, rollout="bench", recorder=Recorder()).start()
    if mode == "regex":
        cond = MatchCondition.model_validate({"headers": {"x-cohort": {"regex": EVIL}}})
        routes = Routes(match=(cond,))
    elif mode == "split":
        routes = Routes(champion_weight=50, challenger_weight=50)
    else:
        routes = Routes()
    router._state.table = type(router._state.table)(routes)  # no spec needed to route
    print(router.port, flush=True)
    sys.stdin.read()
    router.stop()


def serve_hung(port: int) -> None:
    """Child: accept connections and never answer (a hung model server)."""
    listener = socket.create_server(("127.0.0.1", port), backlog=4096)
    held = []
    while True:
        conn, _ = listener.accept()
        held.append(conn)


class Child:
    """A child process of this script, stopped on exit."""

    def __init__(
        self, args: list[str], code: str | None, *, pipe: bool = False, fds: int = 0
    ) -> None:
        env = dict(os.environ)
        if code:
            env["PYTHONPATH"] = code  # before the editable install on sys.path

        def limit() -> None:
            if fds:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds))

        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if pipe else subprocess.DEVNULL,
            env=env,
            text=True,
            preexec_fn=limit,
        )

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def setup(code: str | None, mode: str = "plain", hung: bool = False, fds: int = 0) -> Any:
    """Upstreams and a router child; yields (router port, router child)."""
    champion_port, challenger_port = bench.free_port(), bench.free_port()
    children = [Child(["--upstream", str(champion_port)], None)]
    children.append(Child(["--hung" if hung else "--upstream", str(challenger_port)], None))
    try:
        for port in (champion_port, challenger_port):
            bench.wait_listening(port)
        urls = [f"http://127.0.0.1:{p}" for p in (champion_port, challenger_port)]
        router = Child(["--serve-router", *urls, mode], code, pipe=True, fds=fds)
        children.append(router)
        assert router.proc.stdout is not None
        port = int(router.proc.stdout.readline())
        time.sleep(0.3)
        yield port, router
    finally:
        for child in reversed(children):
            if child.proc.args[2] == "--serve-router":
                child.stop()
            else:
                child.proc.kill()
                child.proc.wait()


# -- clients ----------------------------------------------------------------------------------
def request(port: int, headers: bytes = b"", timeout: float = 5.0) -> tuple[int, float]:
    """One POST on a new connection: (status or 0 on failure, seconds)."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: b\r\nConnection: close\r\n%s"
                b"Content-Length: 2\r\n\r\n{}" % headers
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def bench_bodies(code: str | None) -> dict[str, Any]:
    with setup(code) as (port, router):
        before = router.rss_mb()
        socks = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            head = b"POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % (62 * MB)
            with contextlib.suppress(OSError):
                sock.sendall(head + b"x" * (61 * MB))
            socks.append(sock)
        time.sleep(1.0)
        after = router.rss_mb()
        normal = request(port)
        refused = 0
        for sock in socks:
            sock.settimeout(0.2)
            with contextlib.suppress(OSError):
                refused += sock.recv(64).startswith(b"HTTP/1.1 503")
            sock.close()
    return {
        "rss_before_mb": before,
        "rss_after_mb": after,
        "answered_503": refused,
        "normal_request": normal,
    }


def bench_idle(code: str | None, count: int, fds: int) -> dict[str, Any]:
    with setup(code, fds=fds) as (port, _):
        socks, failed = [], 0
        for _ in range(count):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            except OSError:
                failed += 1
                if failed >= 20:  # the router stopped accepting: enough to show it
                    break
        time.sleep(1.0)
        results = [request(port) for _ in range(20)]
        for sock in socks:
            sock.close()
    served = [seconds for status, seconds in results if status == 200]
    return {
        "idle_opened": len(socks),
        "connect_failures": failed,
        "normal_served": len(served),
        "normal_failed": len(results) - len(served),
        "normal_max_s": max(seconds for _, seconds in results),
    }


def bench_ids(code: str | None) -> dict[str, Any]:
    with setup(code) as (port, router):
        before = router.rss_mb()
        rid = b"r" * 60_000
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for i in range(5000):
                sock.sendall(
                    b"POST /x HTTP/1.1\r\nHost: b\r\nX-Request-Id: %s%d\r\n"
                    b"Content-Length: 2\r\n\r\n{}" % (rid, i)
                )
                data = b""
                while b"\r\n\r\n" not in data or not data.endswith(b"]}"):
                    data += sock.recv(65536)
        time.sleep(0.5)
        after = router.rss_mb()
    return {"rss_before_mb": before, "rss_after_mb": after}


def bench_regex(code: str | None) -> dict[str, Any]:
    with setup(code, "regex") as (port, _):
        hostile: list[tuple[int, float]] = []
        value = b"a" * 27 + b"!"  # 28 characters
        thread = threading.Thread(
            target=lambda: hostile.append(request(port, b"X-Cohort: " + value + b"\r\n", 120))
        )
        thread.start()
        time.sleep(0.05)
        other = request(port, timeout=120)
        thread.join(130)
    return {"hostile_s": hostile[0][1] if hostile else None, "unrelated_s": other[1]}


async def _load(port: int, connections: int, duration: float) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    end = time.perf_counter() + duration
    payload = b"POST /invocations HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\n{}"

    async def worker() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            statuses[0] = statuses.get(0, 0) + 1
            return
        try:
            while time.perf_counter() < end:
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError):
            statuses[0] = statuses.get(0, 0) + 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.wait(tasks, timeout=duration + 1)
    for task in tasks:
        task.cancel()
    answered = sum(n for s, n in statuses.items() if s)
    return {"rps": answered / duration, "by_status": dict(sorted(statuses.items()))}


def bench_hung(code: str | None, duration: float) -> dict[str, Any]:
    out = {}
    for hung in (False, True):
        with setup(code, "split", hung=hung) as (port, _):
            out["hung" if hung else "healthy"] = asyncio.run(_load(port, 1000, duration))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", help="directory holding the modelcanary package to measure")
    parser.add_argument("--only", nargs="*", default=["bodies", "idle", "ids", "regex", "hung"])
    parser.add_argument("--idle", type=int, default=6_000, help="idle connections to open")
    parser.add_argument("--router-fds", type=int, default=4_096, help="the router's fd limit")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--json")
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hung", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-router", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        return bench.serve_upstream(args.upstream)  # type: ignore[no-any-return]
    if args.hung:
        return serve_hung(args.hung)
    if args.serve_router:
        return serve_router(*args.serve_router)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    report: dict[str, Any] = {"code": args.code or str(ROOT), "fd_limit": hard}
    runs = {
        "bodies": lambda: bench_bodies(args.code),
        "idle": lambda: bench_idle(args.code, min(args.idle, hard - 200), args.router_fds),
        "ids": lambda: bench_ids(args.code),
        "regex": lambda: bench_regex(args.code),
        "hung": lambda: bench_hung(args.code, args.duration),
    }
    for name in args.only:
        report[name] = runs[name]()
        print(name, json.dumps(report[name]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
