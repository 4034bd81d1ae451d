"""Lint of operator/Dockerfile (Docker cannot run here, so the image is never built in CI).

What can be checked without a daemon is checked: pinned base image, non-root numeric USER, no
ADD, the entrypoint, the extras exist, and the build context the .dockerignore lets through
really builds the package (``pip wheel`` on a copy of exactly that context).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml
from bundle_objects import CHART, OPERATOR, REPO

DOCKERFILE = OPERATOR / "Dockerfile"
IGNORE = OPERATOR / "Dockerfile.dockerignore"

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
    return parsed


@pytest.fixture(scope="module")
def parsed() -> list[Instruction]:
    return instructions(DOCKERFILE.read_text())


def _args(parsed: list[Instruction]) -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword, rest in parsed:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            found[name] = value
    return found


def _stages(parsed: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in parsed:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_parser_joins_continuations() -> None:
    parsed = instructions("# c\nFROM a:1\nRUN x \\\n  && y\n# c\nUSER 1\n")
    assert parsed == [("FROM", "a:1"), ("RUN", "x && y"), ("USER", "1")]


def test_base_image_is_a_pinned_python_slim(parsed: list[Instruction]) -> None:
    args = _args(parsed)
    names = set()
    for keyword, rest in parsed:
        if keyword != "FROM":
            continue
        image, _, alias = rest.partition(" AS ")
        names.add(alias.strip())
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        if image in names:
            continue
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), (
            f"base image {image!r} must be a pinned python:3.11.<patch>-slim tag"
        )


def test_final_stage_runs_as_numeric_non_root_user(parsed: list[Instruction]) -> None:
    final = _stages(parsed)[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage sets no USER (it would run as root)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid"
    assert gid.isdigit() and int(gid) > 0
    last_user = max(i for i, (keyword, _) in enumerate(final) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _ in final[last_user:]), "RUN after USER"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)


def test_no_add_and_no_remote_downloads(parsed: list[Instruction]) -> None:
    for keyword, rest in parsed:
        assert keyword != "ADD", f"use COPY, not ADD {rest}"
        assert not re.search(r"\b(curl|wget)\b", rest), f"download in {keyword} {rest}"
        assert ":latest" not in rest


def test_entrypoint_is_modelcanary_operator_run(parsed: list[Instruction]) -> None:
    import json

    final = dict(_stages(parsed)[-1])
    entrypoint = json.loads(final["ENTRYPOINT"])
    cmd = json.loads(final["CMD"])
    assert entrypoint == ["modelcanary"]
    assert cmd[:2] == ["operator", "run"]
    assert "--all-namespaces" in cmd
    assert "--liveness=http://0.0.0.0:8080/healthz" in cmd
    assert set(final["EXPOSE"].split()) == {"8080", "8081"}
    env = final["ENV"]
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "the root file system is read-only"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["modelcanary"] == "modelcanary.cli._main:main"


def test_installs_the_operator_extras(parsed: list[Instruction]) -> None:
    extras = _args(parsed)["EXTRAS"].split(",")
    assert {"k8s", "cloudwatch"} <= set(extras)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for extra in extras:
        assert extra in declared["optional-dependencies"], extra
    k8s = " ".join(declared["optional-dependencies"]["k8s"])
    assert "kopf" in k8s and "kubernetes" in k8s
    runs = " ".join(rest for keyword, rest in parsed if keyword == "RUN")
    assert 'pip install ".[${EXTRAS}]"' in runs


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or (
            pattern.startswith("**/") and fnmatch.fnmatch(parts[-1], pattern[3:])
        ):
            ignored = not negate
    return ignored


def _context_files() -> list[str]:
    patterns = [
        line.strip()
        for line in IGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in tracked if not _ignored(f, patterns) and (REPO / f).is_file()]


def test_dockerignore_keeps_only_the_package(parsed: list[Instruction]) -> None:
    files = _context_files()
    assert "pyproject.toml" in files and "README.md" in files
    assert "modelcanary/cli/_main.py" in files and "modelcanary/py.typed" in files
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "docs/", "operator/"))]
    assert not [f for f in files if "__pycache__" in f]
    for keyword, rest in parsed:
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert any(f == source or f.startswith(source + "/") for f in files), source


def test_the_build_context_builds_the_package(tmp_path: Path) -> None:
    """setuptools finds the package, its data and the entry point in exactly that context
    (an sdist: building a wheel offline would need the ``wheel`` package)."""
    context = tmp_path / "context"
    for file in _context_files():
        target = context / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / file, target)
    build = "from setuptools import build_meta as b; print(b.build_sdist('../dist'))"
    run = subprocess.run(
        [sys.executable, "-c", build], cwd=context, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    (sdist,) = (tmp_path / "dist").glob("modelcanary-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
        entry_points = archive.extractfile(
            next(m for m in archive.getmembers() if m.name.endswith("egg-info/entry_points.txt"))
        )
        assert entry_points is not None
        text = entry_points.read().decode()
    assert "modelcanary/cli/_main.py" in names and "modelcanary/py.typed" in names
    assert "modelcanary/controller/__init__.py" in names
    assert "modelcanary = modelcanary.cli._main:main" in text
