"""User docs point only at public names, and those names exist.

Modules inside the packages are private (``modelcanary/analysis/_backtest.py``); each package's
``__init__`` is its public surface. So:

1. no user-facing page (``docs/*.md`` but the contributor's map ``docs/architecture.md``,
   ``README.md``, ``notebooks/``, ``examples/``) names a private module (``modelcanary..._x``);
2. every ``import modelcanary...`` / ``from modelcanary... import ...`` statement in a fenced
   python block of ``docs/*.md`` and ``README.md`` imports in a fresh interpreter and names
   nothing private;
3. every name in each public package's ``__all__`` resolves in a fresh interpreter (what
   ``from package import name`` does for a user);
4. every dotted Python name a page mentions in inline code (``modelcanary.spec.stages``)
   exists.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "modelcanary"
CONTRIBUTOR_MAP = ROOT / "docs" / "architecture.md"
"""The one page that may name files and private modules: it maps the code for contributors."""

PRIVATE = re.compile(r"\bmodelcanary(?:\.\w+)*\._(?!_)\w*")
"""A dotted name with a private part: ``modelcanary._report``, ``modelcanary.spec._plan.stages``
(a dunder such as ``modelcanary.__version__`` is public)."""
COMMENT = re.compile(r"<!--.*?-->", re.S)
"""HTML comments (generator markers) are not shown to readers."""
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
PYTHON_INFO = {"python", "py", "python3", "pycon"}
INLINE_CODE = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"\bmodelcanary(?:\.[A-Za-z_]\w*)+")


def _user_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("notebooks", "examples"):
        pages += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file())
    return [p for p in pages if p != CONTRIBUTOR_MAP and ".ipynb_checkpoints" not in p.parts]


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shown_text(page: Path) -> str:
    """The page as readers see it (markdown comments dropped; line numbers kept)."""
    text = page.read_text(encoding="utf-8", errors="replace")
    if page.suffix == ".md":
        text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return text


def private_names(text: str) -> list[tuple[int, str]]:
    """``(line, name)`` of every private dotted modelcanary name in ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in PRIVATE.finditer(text)]


# -- 1. no private module in a user page -----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("`modelcanary.local._proxy.server.LocalRouter`", ["modelcanary.local._proxy"]),
        ("from modelcanary.spec._plan import stages", ["modelcanary.spec._plan"]),
        ("(`modelcanary._report.write`)", ["modelcanary._report"]),
        ("python -m modelcanary.cli._main", ["modelcanary.cli._main"]),
        ("`from modelcanary.local import LocalRouter`", []),
        ("`modelcanary.spec.stages(analysis)`, `modelcanary.__version__`", []),
        ("POST /_modelcanary/routes, x-modelcanary-version, modelcanary.io/rollout", []),
    ],
)
def test_private_name_detector(text: str, found: list[str]) -> None:
    assert [name for _, name in private_names(text)] == found


@pytest.mark.parametrize("page", _user_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_user_pages_name_no_private_module(page: Path) -> None:
    found = private_names(_shown_text(page))
    assert found == [], (
        f"{page.relative_to(ROOT)} names private modules "
        f"(export a public name from the package's __init__, or reword): {found}"
    )


# -- 2. imports in python blocks ---------------------------------------------------------------
@dataclass(frozen=True)
class DocImport:
    where: str
    statement: str
    private: bool


def _python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(first line, source)`` of each fenced python block (pycon prompts removed)."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip().split()
        if not info or info[0].lower() not in PYTHON_INFO:
            continue
        body = textwrap.dedent(m.group("body"))
        if info[0].lower() == "pycon":
            body = "\n".join(
                line[4:] for line in body.splitlines() if line.startswith((">>> ", "... "))
            )
        blocks.append((text.count("\n", 0, m.start("body")) + 1, body))
    return blocks


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def doc_imports(page: Path) -> list[DocImport]:
    """The modelcanary import statements of ``page``'s python blocks (a block that does not
    parse is an error: a reader could not run it either)."""
    found = []
    for first, source in _python_blocks(page):
        where = f"{page.relative_to(ROOT)}:{first}"  # the block's first line
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise AssertionError(f"python block at {where} does not parse: {exc}") from exc
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules, names = [node.module], [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                modules, names = [a.name for a in node.names], []
            else:
                continue
            if not any(m == "modelcanary" or m.startswith("modelcanary.") for m in modules):
                continue
            private = any(_is_private(m) for m in modules) or any(_is_private(n) for n in names)
            line = f"{page.relative_to(ROOT)}:{first + node.lineno - 1}"
            found.append(DocImport(line, ast.unparse(node), private))
    return found


_RUN_IMPORTS = """
import json, sys
failures = {}
for where, statement in json.load(sys.stdin):
    try:
        exec(compile(statement, where, "exec"), {})
    except BaseException as exc:  # a SystemExit or an ImportError alike is a broken example
        failures[where] = f"{statement}: {type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""


@pytest.fixture(scope="module")
def import_failures() -> dict[str, str]:
    """Each doc import statement run once, in one fresh interpreter, each in its own
    namespace: ``where -> error`` for those that fail."""
    statements = [(i.where, i.statement) for page in _markdown_pages() for i in doc_imports(page)]
    out = subprocess.run(
        [sys.executable, "-c", _RUN_IMPORTS],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )
    failures: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return failures


def test_docs_show_imports() -> None:
    """The check below is not vacuous: the docs do show how to import things."""
    statements = [i for page in _markdown_pages() for i in doc_imports(page)]
    assert len(statements) >= 15, statements
    assert any("LocalRouter" in i.statement for i in statements)


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_imports_are_public_and_work(page: Path, import_failures: dict[str, str]) -> None:
    imports = doc_imports(page)
    private = [f"{i.where}: {i.statement}" for i in imports if i.private]
    assert private == [], f"imports of private modules or names: {private}"
    prefix = f"{page.relative_to(ROOT)}:"
    broken = {w: e for w, e in import_failures.items() if w.startswith(prefix)}
    assert broken == {}, "\n".join(f"{w}: {e}" for w, e in broken.items())


# -- 3. every __all__ name resolves --------------------------------------------------------------
def _public_packages() -> list[str]:
    """Every package of modelcanary with no private part in its name (found, not listed)."""
    found = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        parts = init.parent.relative_to(ROOT).parts
        if not any(_is_private(part) for part in parts):
            found.append(".".join(parts))
    return found


_RESOLVE_ALL = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
names = getattr(module, "__all__", None)
missing = []
for name in names or []:
    try:
        getattr(module, name)
    except Exception as exc:
        missing.append(f"{name}: {type(exc).__name__}: {exc}")
print(json.dumps({"all": names, "missing": missing}))
"""


def test_public_packages_are_found() -> None:
    packages = set(_public_packages())
    assert {"modelcanary", "modelcanary.spec", "modelcanary.local", "modelcanary.serving"} <= (
        packages
    )
    assert not any("_httpd" in p or "_proxy" in p for p in packages)


@pytest.mark.parametrize("package", _public_packages())
def test_every_exported_name_resolves(package: str) -> None:
    """``__all__`` is what ``from package import *`` and the docs promise: each name must load
    in a fresh interpreter (a lazily exported name whose module moved fails here)."""
    out = subprocess.run(
        [sys.executable, "-c", _RESOLVE_ALL, package],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["all"] is None:
        return  # a package with no curated surface (cli, controller) exports nothing by name
    names: list[str] = result["all"]
    assert result["missing"] == []
    assert len(names) == len(set(names)), f"duplicates in {package}.__all__"
    assert [n for n in names if _is_private(n)] == [], f"private names in {package}.__all__"


# -- 4. dotted names mentioned in the docs exist -------------------------------------------------
def _top_level_names() -> set[str]:
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    import modelcanary

    return (modules | set(modelcanary.__all__)) - {"__init__"}


def _resolves(dotted: str) -> bool:
    """``dotted`` is a module, or an attribute chain of the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                value = getattr(value, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize(
    ("dotted", "exists"),
    [
        ("modelcanary.spec.stages", True),
        ("modelcanary.local.LocalRouter", True),
        ("modelcanary.analysis", True),
        ("modelcanary.spec.no_such_name", False),
        ("modelcanary.providers.ProviderLookup", False),
        ("modelcanary.no_such_module.x", False),
    ],
)
def test_name_resolver(dotted: str, exists: bool) -> None:
    assert _resolves(dotted) is exists


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dotted_names_in_docs_exist(page: Path) -> None:
    """``modelcanary.spec.stages`` in a page is a promise that the name exists. Only names
    under a real module or exported name count (``modelcanary.io/rollout``, a label, and
    ``modelcanary.verdict``, an MLflow tag, are not Python names)."""
    top = _top_level_names()
    missing = []
    for code in INLINE_CODE.findall(_shown_text(page)):
        for m in DOTTED.finditer(code):
            dotted = m.group(0)
            if code[m.end() : m.end() + 1] in ("/", "=", ":") or dotted.split(".")[1] not in top:
                continue
            if not _resolves(dotted):
                missing.append(dotted)
    assert missing == [], f"{page.relative_to(ROOT)} names what does not exist: {missing}"
