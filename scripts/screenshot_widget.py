"""Look at the live notebook widget as a person would: JupyterLab + headless Chromium, offline.

1. Copy a notebook (default ``notebooks/01-quickstart.ipynb``) into a temp directory and serve
   it with a real JupyterLab on 127.0.0.1 (``python -m jupyterlab``, token auth, its own
   settings/workspace/runtime dirs, update checks and news off). JupyterLab loads the widget
   manager from the installed Python packages (``jupyterlab_widgets``, ``anywidget``; plotly's
   FigureWidget ships its own ES module): nothing comes from a CDN.
2. Start headless Chromium with a DevTools port and drive it over the Chrome DevTools Protocol
   (``websocket-client``): open the notebook, run all cells in the real kernel, wait until the
   run has finished and the widget shows its final state, and, with ``--click LABEL``, press a
   widget button in the page as a person would (a real DOM click, sent to the kernel over the
   widget comm) and wait for the widget to show the outcome.
3. Screenshot the widget's output (``Page.captureScreenshot``) and write what the page shows
   (``--facts``, JSON): plotly figures and charts (their panels) drawn, button labels, the
   widget's text, fallbacks seen, the bytes received over the kernel's websocket,
   every URL the page requested and the console errors.

Usage::

    python scripts/screenshot_widget.py --out widget.png [--facts widget.json]
        [--notebook NB.ipynb] [--wait-text "[3-9] interval"] [--wait-plots 4]
        [--click Abort --expect aborted] [--timeout 300]

Prints the PNG path; exit 0 when the widget rendered (charts and buttons), 1 when it did not,
2 on bad usage (no chromium). Needs ``jupyterlab`` (the dev extra) and ``/usr/bin/chromium``
(Debian package ``chromium``). The JavaScript it runs in the page is in ``_page_scripts.py``,
the DevTools client and the browser's process in ``_cdp.py`` (beside this file).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _cdp import HEIGHT, WIDTH, Cdp, chromium, stop, wait_for
from _page_scripts import (
    JS_BUTTON,
    JS_FACTS,
    JS_PAINTED,
    JS_PROGRESS,
    JS_READY,
    WIDGET_OUTPUT,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01-quickstart.ipynb"
# JupyterLab user settings: no news or update checks (no internet), no autosave surprises
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(root: Path, log: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 serving ``root``; yields its base URL with the token."""
    port, token = free_port(), secrets.token_hex(16)
    settings = root.parent / "lab-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    env = os.environ | {
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root.parent / "jupyter-runtime"),
        "JUPYTER_CONFIG_DIR": str(root.parent / "jupyter-config"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterlab exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        wait_for(up, 120, "JupyterLab to answer /api/status")
        yield f"{base}|{token}"
    finally:
        stop(proc)


def run_notebook(cdp: Cdp, url: str, timeout: float) -> dict[str, Any]:
    """Open the notebook, run all cells, wait until they ran; returns the last progress."""
    cdp.call("Network.enable")
    cdp.call("Runtime.enable")
    cdp.call("Log.enable")
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        width=WIDTH,
        height=HEIGHT,
        deviceScaleFactor=1,
        mobile=False,
    )
    cdp.call("Emulation.setFocusEmulationEnabled", enabled=True)  # headless has no focus
    cdp.call("Page.enable")
    cdp.call("Page.navigate", url=url)
    wait_for(lambda: cdp.js(JS_READY) == "idle", 180, "the notebook and an idle kernel", 1.0)
    wait_for(lambda: cdp.js("!!window.jupyterapp.shell.currentWidget"), 30, "notebook focus")
    cdp.js("window.jupyterapp.commands.execute('application:toggle-left-area')")
    cdp.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished() -> dict[str, Any] | None:
        progress: dict[str, Any] = cdp.js(JS_PROGRESS)
        if progress["errors"]:
            raise RuntimeError("a notebook cell failed:\n" + "\n".join(progress["errors"]))
        done = progress["executed"] == progress["cells"] and not progress["running"]
        return progress if done and progress["kernel"] == "idle" else None

    result: dict[str, Any] = wait_for(finished, timeout, "every cell to run", 1.0)
    return result


def _frames_sent(cdp: Cdp) -> Iterator[bytes]:
    """The payload of every websocket frame the page sent so far (Network events)."""
    for event in cdp.events:
        if event.get("method") != "Network.webSocketFrameSent":
            continue
        frame = event["params"]["response"]
        data = frame.get("payloadData", "")
        yield base64.b64decode(data) if frame.get("opcode") == 2 else data.encode()


def _clicks_sent(cdp: Cdp) -> int:
    """Widget button clicks the page sent to the kernel (ipywidgets' ``{"event": "click"}``
    comm message): proof that a mouse click reached the button's view."""
    return sum(b'"event":"click"' in payload for payload in _frames_sent(cdp))


def click(cdp: Cdp, label: str, expect: str, timeout: float) -> None:
    """Press the widget button labelled ``label`` (mouse events at its centre) and wait until
    the widget's text contains ``expect``.

    A live widget keeps redrawing (a chart added above the buttons moves them), and on a busy
    machine the page may take seconds to handle an event: the press is made only once the
    button is the element under the pointer, and made again while the page has not sent the
    click to the kernel (a press that landed elsewhere). Pressing twice is harmless for the
    kernel: every action is applied once per rollout state."""
    deadline = time.monotonic() + timeout
    before, presses = _clicks_sent(cdp), 0
    while _clicks_sent(cdp) == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page sent no click of {label!r} in {timeout:.0f} s")
        cdp.js(JS_PAINTED, await_promise=True)  # the layout the press will hit
        spot = cdp.js(f"{JS_BUTTON}({json.dumps(label)})")
        if not spot:
            raise RuntimeError(f"no widget button labelled {label!r}")
        if spot["disabled"]:
            if presses:  # decided since: by the press, handled after the wait below
                break
            raise RuntimeError(f"the {label!r} button is disabled: {cdp.js(JS_FACTS)['text']}")
        if not spot["on_target"]:
            time.sleep(0.2)  # something covers it (a chart being inserted): look again
            continue
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            cdp.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=spot["x"],
                y=spot["y"],
                button="left",
                clickCount=1,
            )
        presses += 1
        with contextlib.suppress(TimeoutError):  # else: the press missed, press again
            wait_for(lambda: _clicks_sent(cdp) > before, 30, "the click's comm message", 0.2)
    sys.stderr.write(
        f"pressed {label!r} {presses} time(s); the page sent {_clicks_sent(cdp) - before}"
        " click(s)\n"
    )
    try:
        wait_for(
            lambda: expect in (cdp.js(JS_FACTS)["text"] or ""),
            max(deadline - time.monotonic(), 60.0),
            f"{expect!r}",
        )
    except TimeoutError:
        sys.stderr.write(f"the widget shows:\n{cdp.js(JS_FACTS)['text']}\n")
        raise


def full_width(facts: dict[str, Any]) -> bool:
    """True when every chart is drawn as wide as the widget's output (within 40 px)."""
    widths, output = facts["plot_widths"], facts["output_width"]
    return bool(widths) and all(w >= output - 40 for w in widths)


def capture(cdp: Cdp, png: Path) -> None:
    """Screenshot the widget's output area (or the whole page when there is none)."""
    find = WIDGET_OUTPUT
    cdp.js(f"(() => {{ const o = {find}; if (o) {{ o.scrollIntoView({{block: 'start'}}); }} }})()")
    cdp.js(JS_PAINTED, await_promise=True)  # laid out and drawn after the scroll
    # a chart redrawn at plotly's 700 px default is widened by the widget's resize event a
    # moment later (seconds on a loaded machine); if one never is, the facts say so
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: full_width(cdp.js(JS_FACTS)), 60, "every chart at full width")
    rect = cdp.js(
        f"(() => {{ const o = {find}; if (!o) {{ return null; }}"
        " const r = o.getBoundingClientRect();"
        " return {x: r.x + window.scrollX, y: r.y + window.scrollY,"
        " width: r.width, height: r.height}; })()"
    )
    params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
    if rect:
        pad = 8
        params["clip"] = {
            "x": max(0.0, rect["x"] - pad),
            "y": max(0.0, rect["y"] - pad),
            "width": rect["width"] + 2 * pad,
            "height": rect["height"] + 2 * pad,
            "scale": 1,
        }
    data = cdp.call("Page.captureScreenshot", **params)["data"]
    png.write_bytes(base64.b64decode(data))


def page_log(cdp: Cdp, origin: str) -> tuple[list[str], list[str], list[str]]:
    """(every URL the page requested, those not on ``origin``, console errors)."""
    urls, errors = [], []
    for event in cdp.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    local = (origin, "data:", "blob:", "about:")
    return urls, [u for u in urls if not u.startswith(local)], errors


def shows(facts: dict[str, Any], pattern: str | None, charts: int) -> bool:
    """True when the widget's text matches ``pattern`` and ``charts`` charts (the panels of
    the widget's figure) are drawn."""
    drawn = facts["charts"] if any(width > 0 for width in facts["plot_widths"]) else 0
    return bool(re.search(pattern or "", facts["text"] or "")) and drawn >= charts


def websocket_received(cdp: Cdp) -> int:
    """Bytes the page received over websockets (the kernel's: widget state and updates)."""
    total = 0
    for event in cdp.events:
        if event.get("method") == "Network.webSocketFrameReceived":
            frame = event["params"]["response"]
            data = frame.get("payloadData", "")
            total += len(base64.b64decode(data)) if frame.get("opcode") == 2 else len(data)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("widget.png"), help="PNG to write")
    parser.add_argument("--facts", type=Path, default=None, help="write what the page shows")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--click", default=None, help="press this widget button (its label)")
    parser.add_argument("--expect", default=None, help="text the widget shows after --click")
    parser.add_argument(
        "--wait-text", default=None, help="regex the widget's text must match (before --click)"
    )
    parser.add_argument(
        "--wait-plots", type=int, default=0, help="charts (panels) drawn (before --click)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for each wait")
    args = parser.parse_args(argv)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        print("no chromium binary on PATH: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mc-lab-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        shutil.copy(args.notebook, root / args.notebook.name)
        lab_log = Path(tmp) / "jupyterlab.log"
        try:
            with jupyterlab(root, lab_log) as served, chromium(binary, Path(tmp) / "p") as cdp:
                base, token = served.split("|")
                run_notebook(
                    cdp, f"{base}/lab/tree/{args.notebook.name}?token={token}", args.timeout
                )
                if args.wait_text or args.wait_plots:
                    try:
                        wait_for(
                            lambda: shows(cdp.js(JS_FACTS), args.wait_text, args.wait_plots),
                            args.timeout,
                            f"{args.wait_text!r} and {args.wait_plots} charts drawn",
                        )
                    except TimeoutError:
                        capture(cdp, args.out.resolve())  # what it showed instead
                        sys.stderr.write(f"the widget shows:\n{cdp.js(JS_FACTS)['text']}\n")
                        raise
                if args.click:
                    click(cdp, args.click, args.expect or "", args.timeout)
                capture(cdp, args.out.resolve())
                facts = cdp.js(JS_FACTS)
                urls, foreign, errors = page_log(cdp, base)
                received = websocket_received(cdp)
        except Exception:
            sys.stderr.write(
                lab_log.read_text(errors="replace")[-4000:] if lab_log.exists() else ""
            )
            raise
    facts |= {"requests": len(urls), "foreign_requests": foreign, "console_errors": errors}
    facts["websocket_bytes_received"] = received
    if args.facts is not None:
        args.facts.write_text(json.dumps(facts, indent=2), encoding="utf-8")
    print(args.out.resolve())
    rendered = facts["plots"] > 0 and bool(facts["buttons"]) and not facts["loading_widget"]
    return 0 if rendered else 1


if __name__ == "__main__":
    raise SystemExit(main())
