"""Run a model server in the foreground until SIGINT/SIGTERM (the ``serve`` command's body).

``python -m modelcanary.serving MODEL_URI ...`` calls :func:`main` without loading the typer
CLI (0.3 s faster); ``modelcanary serve`` calls :func:`serve_until_stopped`. Both print one line
``serving MODEL_URI on http://HOST:PORT`` on standard output once ``/ping`` answers 200,
exit 0 on SIGINT/SIGTERM and 2 for a bad URI or a missing model.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import TextIO

from ..errors import ModelCanaryError, SpecError
from ._faults import Faults
from ._server import ModelServer

READY_PREFIX = "serving "
PR_SET_PDEATHSIG = 1


class _Stopped(BaseException):
    """Raised by the signal handler while the model is still loading."""


def serve_until_stopped(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tracking_uri: str | None = None,
    faults: Faults | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    parent_pid: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve until a signal arrives; return the exit code (0). Bad input raises SpecError."""
    started = time.perf_counter()
    if parent_pid is not None:
        die_with_parent(parent_pid)
    stop = threading.Event()
    server = ModelServer(
        model_uri,
        host=host,
        port=port,
        tracking_uri=tracking_uri,
        faults=faults,
        model_name=model_name,
        model_version=model_version,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not server.ready:
            raise _Stopped

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"  # as mlflow's scoring server
    try:
        server.bind()
        model = server.load()
        print(f"{READY_PREFIX}{model_uri} on {server.url}", file=out or sys.stdout, flush=True)
        labels = model.labels
        print(
            f"modelcanary serve: model {labels.name!r} version {labels.version!r} ready in "
            f"{time.perf_counter() - started:.2f} s (load {model.load_seconds:.2f} s)"
            + (f", faults {faults}" if faults and faults.active else ""),
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    except _Stopped:
        pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def die_with_parent(parent_pid: int) -> None:
    """Exit when ``parent_pid`` dies: ``PR_SET_PDEATHSIG`` on Linux, plus a watchdog thread."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="modelcanary-parent-watch", daemon=True).start()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modelcanary.serving", description="Serve one MLflow model over HTTP."
    )
    parser.add_argument("model_uri")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--model-name", default=None, help="metric label (default: resolved)")
    parser.add_argument("--model-version", default=None, help="metric label (default: resolved)")
    parser.add_argument("--fault-error-rate", type=float, default=0.0)
    parser.add_argument("--fault-latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry of ``python -m modelcanary.serving``: exit 0 on a signal, 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        faults = Faults(args.fault_error_rate, args.fault_latency_ms, args.fault_seed)
        return serve_until_stopped(
            args.model_uri,
            host=args.host,
            port=args.port,
            tracking_uri=args.tracking_uri,
            faults=faults,
            model_name=args.model_name,
            model_version=args.model_version,
            parent_pid=args.parent_pid,
        )
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except ModelCanaryError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
