"""Fuzz: hostile YAML *text* through ``modelcanary validate`` and ``modelcanary convert``.

tests/test_spec_fuzz.py fuzzes the models with Python dicts built from one base document.
This suite works one level up, on the bytes a user hands the CLI: the shipped examples and
Flagger's own Canary examples, mutated with values chosen to hurt (CR/LF and non-Latin-1
text, 70-digit integers, NaN, ports past 65535, 20-digit durations), then serialised and
damaged as text (a line duplicated - hence a duplicate key -, an alias bomb, a recursive
alias, deep nesting, unsafe tags, truncation). Every input must end in exit 0 (valid) or
exit 2 (a SpecError naming the problem), never a traceback, within a generous memory and
time bound. The budget is fixed (``max_examples``, ``derandomize``) so CI runs the same cases
in seconds.
"""

from __future__ import annotations

import copy
import time
import tracemalloc
from pathlib import Path
from typing import Any

import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelcanary.cli import _convert_cmd as convert_cmd
from modelcanary.cli import _validate_cmd as validate_cmd

TESTS = Path(__file__).resolve().parents[1]
EXAMPLES = [
    yaml.safe_load(f.read_text()) for f in sorted((TESTS.parent / "examples").glob("*.yaml"))
]
CANARIES = [
    [d for d in yaml.safe_load_all(f.read_text()) if d]
    for f in sorted((TESTS / "data" / "flagger-examples").glob("*.yaml"))
]
PEAK_BYTES = 200 * 1024 * 1024
"""Generous cap on memory traced during one command (a rollout needs well under 10 MB)."""
SECONDS_PER_RUN = 30.0
"""Generous bound on one command (a bound against hangs and bombs, not a speed target)."""
FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "mc\r\nX-Injected: evil\r\nSet-Cookie: session=attacker; Path=/",
        "mcé",
        "мц",
        "a\x00b",
        "\u202eevil",
        "http://h:999999/",
        "http://a b/",
        "http://h/\r\nX: 1",
        "otlp+http://c:4318",
        "127.0.0.1:70000",
        "99999999999999999999h",
        "720h",
        "0s",
        "1e400",
        "-1",
        "yes",
        "3",
        "models:/m@a",
        "bogus-value",
        "x" * 3000,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    HOSTILE_TEXT,
    st.text(max_size=10),
)
KEYS = st.one_of(
    st.sampled_from(
        ["url", "name", "cookieName", "headers", "listen", "rps", "interval", "port", "service"]
    ),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=10,
)
DAMAGE = [
    "none",
    "duplicate-line",
    "truncate",
    "alias-bomb",
    "recursive-alias",
    "deep",
    "unsafe-tag",
    "huge-int",
    "tab",
]


def _app() -> typer.Typer:
    app = typer.Typer()
    validate_cmd.register(app)
    convert_cmd.register(app)
    return app


APP = _app()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three values set to hostile ones, deleted, or added beside them."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if action == "set":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
    return doc


@st.composite
def damaged(draw: st.DrawFn, text: str) -> str:
    """The YAML text, damaged as a person or an attacker might."""
    kind = draw(st.sampled_from(DAMAGE))
    lines = text.splitlines()
    at = draw(st.integers(0, max(0, len(lines) - 1)))
    if kind == "duplicate-line" and lines:
        lines.insert(at, lines[at])
    elif kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "alias-bomb":
        bomb = ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
        bomb += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
        lines = bomb + lines
    elif kind == "recursive-alias":
        lines.append("loop: &loop [*loop, {a: *loop}]")
    elif kind == "deep":
        depth = draw(st.sampled_from([70, 999, 2000]))
        lines.append("deep: " + "[" * depth + "]" * depth)
    elif kind == "unsafe-tag":
        lines.append(
            draw(
                st.sampled_from(
                    ["x: !!python/object/apply:os.system [id]", "x: !!binary aGk=", "x: !!set {a}"]
                )
            )
        )
    elif kind == "huge-int":
        lines.append("progressDeadlineSeconds: " + "9" * draw(st.sampled_from([30, 5000])))
    elif kind == "tab":
        lines.insert(at, "\tkey: value")
    return "\n".join(lines) + "\n"


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump_all(doc if isinstance(doc, list) else [doc], allow_unicode=True)
    except (yaml.YAMLError, ValueError, RecursionError):
        return "not: [yaml"


def _run(tmp_path: Path, args: list[str], text: str) -> None:
    """Run one command in process; assert exit 0/2, no traceback, bounded memory and time."""
    file = tmp_path / "input.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    tracemalloc.start()
    began = time.monotonic()
    try:
        result = CliRunner().invoke(APP, [*args, str(file)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - began
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {type(result.exception).__name__}: {result.exception}\n{text[:2000]}"
    )
    assert result.exit_code in (0, 2), (result.exit_code, output[-2000:], text[:2000])
    assert "Traceback" not in output, output[-2000:]
    if result.exit_code == 2:
        assert "error" in output and len(output) < 100_000, output[-2000:]
    assert peak < PEAK_BYTES, f"{peak / 2**20:.0f} MiB traced for {args}"
    assert elapsed < SECONDS_PER_RUN, f"{elapsed:.1f}s for {args}"


@FUZZ
@given(data=st.data())
def test_validate_mutated_examples(tmp_path_factory: Any, data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(EXAMPLES).flatmap(mutated))
    text = data.draw(damaged(_dump(doc)))
    _run(tmp_path_factory.mktemp("v"), ["validate"], text)


@FUZZ
@given(value=VALUES, damage=st.data())
def test_validate_random_documents(
    tmp_path_factory: Any, value: Any, damage: st.DataObject
) -> None:
    text = damage.draw(damaged(_dump(value)))
    _run(tmp_path_factory.mktemp("r"), ["validate"], text)


@settings(FUZZ, max_examples=50)
@given(data=st.data())
def test_convert_mutated_flagger_canaries(tmp_path_factory: Any, data: st.DataObject) -> None:
    docs = data.draw(st.sampled_from(CANARIES).flatmap(mutated))
    text = data.draw(damaged(_dump(docs)))
    _run(tmp_path_factory.mktemp("f"), ["convert", "--from", "flagger"], text)


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_convert_mutated_examples_to_flagger(tmp_path_factory: Any, data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(EXAMPLES).flatmap(mutated))
    _run(tmp_path_factory.mktemp("t"), ["convert", "--to", "flagger"], _dump(doc))
