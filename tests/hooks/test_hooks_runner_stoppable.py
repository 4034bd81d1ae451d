"""``HttpWebhookRunner`` closes like every other modelcanary resource: it is a
``_httpd.Stoppable`` (one ``with`` implementation), whose ``close()`` is the same call as
``stop()`` for everything that holds a port, a process or connections.

Each test talks to a real loopback socket server that sees the runner's keep-alive
connection end (EOF) when the runner is closed.
"""

from __future__ import annotations

import socket
import threading

from modelcanary._httpd import Stoppable
from modelcanary.hooks import HttpWebhookRunner
from modelcanary.hooks._gate import GateServer
from modelcanary.ports import WebhookPayload
from modelcanary.spec import Webhook

BOUND = 10.0  # generous bound on every wait, never a speed claim


class KeepAliveServer:
    """Answers each POST with 200 over HTTP/1.1 keep-alive; records connections and EOFs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.connections = 0
        self.closed = threading.Semaphore(0)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(BOUND * 3)
        data = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:  # the client closed its end
                    self.closed.release()
                    return
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                if len(rest) < length:
                    continue
                data = rest[length:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self.sock.close()


def _hook(url: str) -> Webhook:
    return Webhook.model_validate({"name": "h", "url": url})


def _payload() -> WebhookPayload:
    return WebhookPayload("r", "default", "Progressing", "sum", "pre-rollout")


def test_leaving_with_closes_the_runners_connections_and_close_is_stop() -> None:
    server = KeepAliveServer()
    try:
        with HttpWebhookRunner() as runner:
            assert isinstance(runner, Stoppable)
            assert runner.run(_hook(server.url), _payload()).passed
            assert runner.run(_hook(server.url), _payload()).passed  # the same connection
            assert server.connections == 1
        assert server.closed.acquire(timeout=BOUND)  # leaving ``with`` closed it
        # closed, not dead: a later call opens a new pool; ``close()`` ends it again, twice ok
        assert runner.run(_hook(server.url), _payload()).passed
        assert server.connections == 2
        runner.close()
        assert server.closed.acquire(timeout=BOUND)
        runner.close()
        runner.stop()
    finally:
        server.close()


def test_every_stoppable_service_has_close_as_the_same_call_as_stop() -> None:
    gate = GateServer(port=0)
    gate.start()
    port = gate.port
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND):
        pass  # it serves
    gate.close()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=BOUND).close()
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the gate still listens after close()")
