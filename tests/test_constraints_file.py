"""scripts/constraints.txt pins every package the test install pulls in.

scripts/test and scripts/demo install with ``-c scripts/constraints.txt``; a dependency added to
pyproject.toml without refreshing the file would be installed at whatever version is newest on
the day CI runs, which is what the file exists to prevent.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "scripts" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[A-Za-z0-9._!+-]+", version), f"not an exact pin: {line}"
        pins[canonicalize_name(name)] = version
    return pins


def _closure(root: str, extras: set[str]) -> set[str]:
    """Distributions installed for ``root[extras]``, following requirements transitively."""
    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        key = canonicalize_name(name)
        if key in seen and not wanted:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in wanted or {""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                if canonicalize_name(req.name) == canonicalize_name(root):
                    todo.append((root, set(req.extras)))  # modelcanary[analysis] etc.
                elif canonicalize_name(req.name) not in seen:
                    todo.append((req.name, set(req.extras)))
    return seen - {canonicalize_name(root)}


def test_every_package_of_the_dev_install_is_pinned() -> None:
    pins = _pinned()
    needed = _closure("modelcanary", {"dev"})
    assert len(needed) > 50  # the walk really followed the tree
    missing = sorted(needed - pins.keys())
    assert not missing, (
        f"scripts/constraints.txt does not pin {missing}: refresh it (see its header)"
    )
