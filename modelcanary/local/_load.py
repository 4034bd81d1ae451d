"""Load generator: replays MLflow ``/invocations`` payloads at a target rate, concurrency bounded.

Payloads come from a JSONL file (one request body per line), from the rows of a CSV or
parquet dataset (each row becomes a ``dataframe_split`` body), or from Python objects. Requests
are scheduled on a fixed timetable (``i / rps`` after the start); when the concurrency bound is
reached they wait, and the achieved rate says so honestly.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue


@dataclass
class LoadStats:
    """What the generator did so far."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    started: float = 0.0
    finished: float | None = None
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def achieved_rps(self) -> float:
        """Completed requests per second since the start."""
        end = self.finished or time.monotonic()
        elapsed = end - self.started
        return (self.ok + self.errors) / elapsed if elapsed > 0 else 0.0


def payloads_from_file(path: str | Path) -> list[bytes]:
    """Request bodies from a JSONL file, or one ``dataframe_split`` body per dataset row."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(SpecIssue("spec.load", f"{str(file)!r} does not exist", "check the path"))
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        bodies = []
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SpecError(
                        SpecIssue(
                            "spec.load.requests",
                            f"{file}:{number}: {exc}",
                            "one JSON request body per line",
                        )
                    ) from None
                bodies.append(line.strip().encode())
        return _non_empty(bodies, file)
    if suffix in (".csv", ".parquet"):
        import pandas as pd  # lazy: only datasets need pandas

        frame = pd.read_csv(file) if suffix == ".csv" else pd.read_parquet(file)
        return _non_empty(rows_to_payloads(frame.to_dict("split")), file)
    raise SpecError(
        SpecIssue(
            "spec.load",
            f"{file.name}: unknown format",
            "use a .jsonl file of request bodies, or a .csv/.parquet dataset",
        )
    )


def rows_to_payloads(split: Mapping[str, Any]) -> list[bytes]:
    """``{columns, data}`` (pandas ``to_dict('split')``) -> one ``dataframe_split`` body per row."""
    columns = list(split["columns"])
    return [
        json.dumps(
            {"dataframe_split": {"columns": columns, "data": [list(row)]}}, default=_plain
        ).encode()
        for row in split["data"]
    ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _non_empty(bodies: list[bytes], file: Path) -> list[bytes]:
    if not bodies:
        raise SpecError(SpecIssue("spec.load", f"{file} has no requests", "add request bodies"))
    return bodies


class LoadGenerator:
    """Sends ``payloads`` round robin to ``url`` at ``rps`` in a background thread."""

    def __init__(
        self,
        url: str,
        payloads: Iterable[bytes | Mapping[str, Any]],
        *,
        rps: float = 20.0,
        concurrency: int = 8,
        duration: float | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        keep_latencies: int = 100_000,
    ) -> None:
        self.url = url
        self.bodies = [p if isinstance(p, bytes) else json.dumps(p).encode() for p in payloads]
        if not self.bodies:
            raise ValueError("no payloads to send")
        self.rps, self.concurrency, self.duration = rps, concurrency, duration
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.timeout = timeout
        self.keep_latencies = keep_latencies
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LoadGenerator:
        """Start sending; returns at once."""
        self.stats = LoadStats(started=time.monotonic())
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="modelcanary-load", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> LoadStats:
        """Stop sending, wait for requests in flight, and return the stats."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        if self.stats.finished is None:
            self.stats.finished = time.monotonic()
        return self.stats

    def wait(self) -> LoadStats:
        """Wait until a ``duration`` run ends."""
        if self._thread is not None:
            self._thread.join()
        return self.stats

    async def _main(self) -> None:
        import httpx  # lazy

        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            start, i = time.monotonic(), 0
            while not self._stop.is_set():
                due = start + i / self.rps
                if self.duration is not None and (
                    due - start >= self.duration or time.monotonic() - start >= self.duration
                ):
                    break  # the duration is wall-clock time, even when the target lags behind
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(min(delay, 0.1))
                    continue
                await slots.acquire()
                body = self.bodies[i % len(self.bodies)]
                task = asyncio.create_task(self._send(client, body, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout)
        self.stats.finished = time.monotonic()

    async def _send(self, client: Any, body: bytes, slots: asyncio.Semaphore) -> None:
        self.stats.sent += 1
        began = time.perf_counter()
        try:
            reply = await client.post(self.url, content=body, headers=self.headers)
            ok = reply.status_code < 500
        except Exception:  # connection errors, timeouts: counted, never raised
            ok = False
        finally:
            slots.release()
        if ok:
            self.stats.ok += 1
        else:
            self.stats.errors += 1
        if len(self.stats.latencies_ms) < self.keep_latencies:
            self.stats.latencies_ms.append((time.perf_counter() - began) * 1000)
