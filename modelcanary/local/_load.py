"""Load generator: replays MLflow ``/invocations`` payloads at a target rate, concurrency bounded.

Payloads come from a JSONL file (one request body per line), from the rows of a CSV or
parquet dataset (each row becomes a ``dataframe_split`` body), or from Python objects. Requests
are scheduled on a fixed timetable (``i / rps`` after the start); when the concurrency bound is
reached they wait, and the achieved rate says so honestly.

Cohorts (``spec.load.cohorts``): request ``i`` falls in a cohort by a hash of ``(seed, i)``, so
a share of 0.2 is 20 % of requests, spread evenly over the payloads (never tied to one payload
of the rotation) and the same on every run; a cohort's requests carry its headers (cookies in a
``cookie`` header) and query parameters. The cohort draw is per request (a simulated user's
requests may fall in different cohorts).

Simulated users (``spec.load.users``): request ``i`` belongs to user ``hash(seed, i) mod
users`` (another hash stream than the cohorts', the same on every run). Each user keeps its
own cookies (the ``Set-Cookie`` answers it got, e.g. the router's session-affinity cookie), so
affinity pins each simulated user, not the whole load, and, when the rollout names a unit
header (``analysis.unitKey.header``), sends its id there (``user-17``): the router then keys
each request by user and the analysis judges per user. Without ``users`` every request is
on its own, an anonymous client that keeps no cookie: with session affinity each request is
then placed by the weight as a new user's would be (one shared cookie jar used to pin the
whole load to the version of its first answer: 400 of 400 requests to the champion at 50 %).

A payload may also be a :class:`LoadRequest`: its own path on the router (OpenAI
``/v1/chat/completions`` ...), extra headers, a request-id prefix and whether the answer
streams; a streamed answer is read to its end, as a client does. LLM load records
(OpenAI request bodies) become such requests in :mod:`._load_llm`.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import itertools
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import SpecError, SpecIssue
from ..spec._load import CohortRequest, request_headers
from ..spec._traffic import parse_set_cookie


@dataclass(frozen=True)
class LoadRequest:
    """One request of the load's rotation, when it is more than an ``/invocations`` body."""

    body: bytes
    path: str | None = None
    """Path on the router (``/v1/chat/completions``) instead of the generator URL's path."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers of this request (after the load's and its cohort's)."""
    stream: bool = False
    """The answer streams (Server-Sent Events): read it to the end."""
    id_prefix: str | None = None
    """Send ``x-request-id: {id_prefix}{n}`` (``n`` counts the requests sent), so what the
    router recorded under that id can be traced back to this request."""


@dataclass
class LoadStats:
    """What the generator did so far."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    started: float = 0.0
    finished: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    cohort_sent: list[int] = field(default_factory=list)
    """Requests sent in each cohort (same order as the generator's ``cohorts``)."""

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
        payloads: Iterable[bytes | LoadRequest | Mapping[str, Any]],
        *,
        rps: float = 20.0,
        concurrency: int = 8,
        duration: float | None = None,
        headers: Mapping[str, str] | None = None,
        cohorts: Sequence[CohortRequest] = (),
        seed: int = 0,
        timeout: float = 10.0,
        keep_latencies: int = 100_000,
        users: int | None = None,
        unit_header: str | None = None,
    ) -> None:
        self.url = url
        self.requests = [_as_request(p) for p in payloads]
        if not self.requests:
            raise ValueError("no payloads to send")
        self.bodies = [r.body for r in self.requests]
        self.rps, self.concurrency, self.duration = rps, concurrency, duration
        self.headers = {"content-type": "application/json", **request_headers(headers, None)}
        self.cohorts = list(cohorts)
        self.seed = seed
        self._targets = [(url, self.headers)] + [
            (_with_query(url, c.query), self.headers | request_headers(headers, c))
            for c in self.cohorts
        ]
        self._bounds = list(itertools.accumulate(c.share for c in self.cohorts))
        self.timeout = timeout
        self.keep_latencies = keep_latencies
        if users is not None and users < 1:
            raise ValueError(f"users must be at least 1, got {users}")
        self.users = users
        """Simulated users (None: every request on its own)."""
        self.unit_header = unit_header.lower() if users and unit_header else None
        """The header each request carries its user's id in (None: not sent)."""
        self.jars: dict[int, dict[str, str]] = {}
        """Each simulated user's cookies (name -> value), from the answers it got."""
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LoadGenerator:
        """Start sending; returns at once."""
        self.stats = LoadStats(started=time.monotonic(), cohort_sent=[0] * len(self.cohorts))
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
        # the client's jar keeps no cookie: simulated users keep their own, and without
        # users each request is an anonymous client (one jar would pin the whole load)
        jar = http.cookiejar.CookieJar(_NoCookies())
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits, cookies=jar) as client:
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
                request = self.requests[i % len(self.requests)]
                target = self.cohort_of(i)
                if target:
                    self.stats.cohort_sent[target - 1] += 1
                url, headers = self._targets[target]
                if request.path is not None or request.headers or request.id_prefix:
                    url, headers = _for_request(request, url, headers, i)
                user = None
                if self.users:
                    user = self.user_of(i)
                    headers = self._as_user(user, headers)
                send = self._send(client, request.body, slots, url, headers, request.stream, user)
                task = asyncio.create_task(send)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout)
        self.stats.finished = time.monotonic()

    def cohort_of(self, i: int) -> int:
        """Request ``i``'s cohort: 1 + its index in ``cohorts``, or 0 for none."""
        if not self._bounds:
            return 0
        draw = _unit(self.seed, i)
        return next((n + 1 for n, bound in enumerate(self._bounds) if draw < bound), 0)

    def user_of(self, i: int) -> int:
        """Request ``i``'s simulated user, ``0 <= user < users`` (0 without users)."""
        if not self.users:
            return 0
        return _mix(self.seed ^ _USER_STREAM, i) % self.users

    def _as_user(self, user: int, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` with ``user``'s id in the unit header and its cookies added."""
        out = dict(headers)
        if self.unit_header:
            out[self.unit_header] = user_id(user)
        jar = self.jars.get(user)
        if jar:
            mine = "; ".join(f"{name}={value}" for name, value in jar.items())
            given = out.get("cookie")
            out["cookie"] = f"{given}; {mine}" if given else mine
        return out

    def _keep_cookies(self, user: int, reply: Any) -> None:
        """Store the cookies an answer set for ``user`` (expired ones removed)."""
        lines = reply.headers.get_list("set-cookie")
        if not lines:
            return
        jar = self.jars.setdefault(user, {})
        for line in lines:
            name, value, expired = _set_cookie(line)
            if not name:
                continue
            if expired:
                jar.pop(name, None)
            else:
                jar[name] = value

    async def _send(
        self,
        client: Any,
        body: bytes,
        slots: asyncio.Semaphore,
        url: str,
        headers: Mapping[str, str],
        stream: bool = False,
        user: int | None = None,
    ) -> None:
        self.stats.sent += 1
        began = time.perf_counter()
        try:
            if stream:  # a client reads a streamed answer to its end
                async with client.stream("POST", url, content=body, headers=headers) as reply:
                    async for _ in reply.aiter_raw():
                        pass
            else:
                reply = await client.post(url, content=body, headers=headers)
            if user is not None:
                self._keep_cookies(user, reply)
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


def _as_request(payload: bytes | LoadRequest | Mapping[str, Any]) -> LoadRequest:
    if isinstance(payload, LoadRequest):
        return payload
    return LoadRequest(payload if isinstance(payload, bytes) else json.dumps(payload).encode())


def _for_request(
    request: LoadRequest, url: str, headers: Mapping[str, str], i: int
) -> tuple[str, dict[str, str]]:
    """The URL and headers of request ``i``: the request's own path on the generator URL's
    origin (the cohort's query kept), plus its headers and request id."""
    if request.path is not None:
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        url = f"{parts.scheme}://{parts.netloc}{request.path}{query}"
    out = {**headers, **{k.lower(): v for k, v in request.headers.items()}}
    if request.id_prefix:
        out["x-request-id"] = f"{request.id_prefix}{i}"
    return url, out


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def user_id(user: int) -> str:
    """What simulated user ``user`` sends in the unit header (``user-17``)."""
    return f"user-{user}"


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps no cookie in the client's shared jar (simulated users keep their own; without
    users each request is an anonymous client)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _set_cookie(line: str) -> tuple[str, str, bool]:
    """A ``Set-Cookie`` value's name, value and whether it expires the cookie (a max age of 0
    or an empty value; attributes read by ``spec.traffic.parse_set_cookie``)."""
    name, fields = parse_set_cookie(line)
    _, sep, value = line.split(";", 1)[0].partition("=")
    if not sep or not name.strip():
        return "", "", False
    value = value.strip().strip('"')
    return name.strip(), value, not value or fields.get("max_age") == 0


_MASK = (1 << 64) - 1
_USER_STREAM = 0x5DEECE66D
"""Mixed into the seed for the users' draw, so users and cohorts are independent."""


def _mix(seed: int, i: int) -> int:
    """A 64-bit hash of ``(seed, i)`` (splitmix64: cheap, well mixed)."""
    z = (seed * 0x9E3779B97F4A7C15 + (i + 1) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _unit(seed: int, i: int) -> float:
    """A uniform draw in [0, 1) fixed by ``(seed, i)``."""
    return _mix(seed, i) / 2**64
