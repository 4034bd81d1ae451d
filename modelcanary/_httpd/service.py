"""What every modelcanary service on a background thread or in a child process shares with its
callers: the ``with`` statement over ``start()`` / ``stop()`` (``close()`` for what holds
connections, as clients name it), and the URL of a host and port."""

from __future__ import annotations

from types import TracebackType
from typing import Self


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 literal in brackets (``http://[::1]:8080``) whether or not
    it was given in brackets (``[::1]`` is what users write; ``http://[[::1]]`` is no URL)."""
    bare = host.strip("[]")
    return f"http://[{bare}]:{port}" if ":" in bare else f"http://{bare}:{port}"


class Stoppable:
    """With-statement support for what holds a port, a process or connections: ``with x:``
    stops it on the way out, error or not. Subclasses implement :meth:`stop` (idempotent);
    :meth:`close` is the same call under the name clients use (``httpx.Client.close``)."""

    def stop(self) -> None:
        """Release what is held (stop serving, end the process, close connection pools...)."""
        raise NotImplementedError

    def close(self) -> None:
        """The same as :meth:`stop`: the public name of what holds connections rather than a
        port (``HttpWebhookRunner.close()``, as for an ``httpx.Client``)."""
        self.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Service(Stoppable):
    """A service a caller starts and stops: ``with Service() as s`` starts it and stops it on
    the way out, error or not. Subclasses implement :meth:`start` (bind and serve; idempotent)
    and :meth:`stop` (release the port; idempotent)."""

    def start(self) -> object:
        """Bind and serve."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self


__all__ = ["Service", "Stoppable", "http_url"]
