"""An external model endpoint in its own process that dies after N requests (no mocks).

``endpoint(after=N)`` starts ``python -c SCRIPT``: a threaded HTTP/1.1 server on 127.0.0.1
answering ``GET /ping`` and ``POST /invocations`` with ``{"predictions": [...]}``. After its
N-th answer it closes its listening socket and calls ``os._exit``: the port refuses new
connections and the kernel resets the open ones (requests it had not read are lost), as
when a real model server crashes. Closing the listener first keeps tests that send one
request at a time deterministic: no connection is accepted by the dying process.
``after=0`` never dies. ``port`` reuses a port (a challenger coming back).
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
after, bind_port, name, prediction = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
delay = float(sys.argv[5])
lock, served = threading.Lock(), [0]


class Handler(JsonHandler):
    def do_GET(self):
        self.answer(b'{"status": "ok"}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with lock:  # one at a time: the N-th answer is the last one anybody gets
            served[0] += 1
            time.sleep(delay)  # a slow model: at most 1 / delay answers per second
            self.answer(json.dumps({"predictions": [float(prediction)], "server": name}).encode())
            if after and served[0] >= after:
                self.server.socket.close()  # new connections are refused from now on
                os._exit(0)  # the kernel resets every connection: unread requests are lost
"""
    + SERVE
)


@dataclass
class Endpoint:
    """A running endpoint process."""

    url: str
    port: int
    process: subprocess.Popen[bytes]

    def died(self, timeout: float = 30.0) -> int:
        """Wait until the process exited; its exit code."""
        return self.process.wait(timeout)


@contextmanager
def endpoint(
    name: str, after: int = 0, port: int = 0, prediction: float = 0.5, delay: float = 0.0
) -> Iterator[Endpoint]:
    """Serve on 127.0.0.1 until the block ends (or until ``after`` answers); ``delay``
    seconds per ``/invocations`` answer, one at a time (``/ping`` is never slow)."""
    args = [str(after), str(port), name, str(prediction), str(delay)]
    with endpoint_process(SCRIPT, *args) as (bound, process):
        yield Endpoint(f"http://127.0.0.1:{bound}", bound, process)
