"""A model endpoint in its own process that hangs: it accepts connections and never answers.

``hung_endpoint(after=N)`` starts ``python -c SCRIPT``: a threaded HTTP/1.1 server on
127.0.0.1 answering ``GET /ping`` and ``POST /invocations`` (``{"predictions": [...]}``).
After its N-th ``/invocations`` answer it hangs: the listening socket stays open (the kernel
keeps accepting connections), and every request after that, ``/ping`` included, is read and
never answered, as a model server stuck in a deadlock or a GPU hang. ``after=0`` hangs from
the start (it never answers anything: a server still loading). ``after=-1`` never hangs.
``slow_ping`` seconds: every other ``/ping`` waits that long before it answers (a busy server
that answers late now and then, never a hang). The process is killed when the block ends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from endpoint_process import HANDLER, SERVE, endpoint_process

SCRIPT = (
    HANDLER
    + r"""
after, slow_ping, bind_port = int(sys.argv[1]), float(sys.argv[2]), 0
lock, served, pings = threading.Lock(), [0], [0]
hung = threading.Event()
if after == 0:
    hung.set()


class Handler(JsonHandler):
    def hang(self):
        while True:  # read, never answered: the client waits for its own timeout
            time.sleep(3600)

    def do_GET(self):
        if hung.is_set():
            self.hang()
        with lock:
            pings[0] += 1
            slow = slow_ping > 0 and pings[0] % 2 == 0
        if slow:
            time.sleep(slow_ping)
        self.answer(b'{"status": "ok"}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with lock:
            if not hung.is_set():
                served[0] += 1
                if after > 0 and served[0] >= after:
                    hung.set()  # this answer is the last one anybody gets
                serve = True
            else:
                serve = False
        if not serve:
            self.hang()
        self.answer(json.dumps({"predictions": [0.5], "server": "hung"}).encode())
"""
    + SERVE
)


@dataclass
class HungEndpoint:
    """A running endpoint process."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def hung_endpoint(after: int, slow_ping: float = 0.0) -> Iterator[HungEndpoint]:
    """Serve on 127.0.0.1 until the block ends; hang after ``after`` answers (see above)."""
    with endpoint_process(SCRIPT, str(after), str(slow_ping)) as (port, process):
        yield HungEndpoint(f"http://127.0.0.1:{port}", process)
