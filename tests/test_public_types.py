"""The public surface is typed: user code that uses it passes ``mypy --strict``.

``import modelcanary as mc`` loads its names lazily (PEP 562 ``__getattr__``); type checkers
must still see the real classes, not ``Any``, through the imports under ``TYPE_CHECKING``. The
checks run mypy (``mypy.api``, the repository's configuration with the pydantic plugin, as a
user of pydantic would) on small files written here, and compare each lazy package's runtime
names with what mypy sees.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "modelcanary"

GOOD = """
import modelcanary as mc
from modelcanary.builder import Rollout
from modelcanary.spec import ModelRollout

r: Rollout = Rollout("x")
built: ModelRollout = (
    mc.Rollout("fraud", "ml")
    .champion("models:/fraud@champion")
    .challenger("models:/fraud/4")
    .canary(steps=[5, 10, 25, 50], interval="1m")
    .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms")
    .build()
)
spec: mc.ModelRollout = built
error: type[mc.ModelCanaryError] = mc.SpecError
"""

BAD = """
import modelcanary as mc

wrong: int = mc.Rollout("x")
typo = mc.Rolout("x")
"""


def _lazy_packages() -> list[str]:
    """Every package whose ``__init__`` exports names lazily (found, not listed by hand)."""
    found = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        if "lazy_exports(" in init.read_text(encoding="utf-8"):
            parts = init.parent.relative_to(ROOT).parts
            found.append(".".join(parts))
    return found


def _reveal_all() -> tuple[str, list[str]]:
    """A file revealing every lazily exported name, and the names in the same order."""
    lines, names = [], []
    for i, package in enumerate(_lazy_packages()):
        module = importlib.import_module(package)
        lines.append(f"import {package} as p{i}")
        for attr in module.__all__:
            if not attr.startswith("__"):
                lines.append(f"reveal_type(p{i}.{attr})")
                names.append(f"{package}.{attr}")
    return "\n".join(lines) + "\n", names


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """One ``mypy --strict`` run (the repository's configuration) over the files above, its
    output lines grouped by file name."""
    tmp = tmp_path_factory.mktemp("public-types")
    files = {"good_use.py": GOOD, "bad_use.py": BAD, "reveal_all.py": _reveal_all()[0]}
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(ROOT)  # mypy finds the package here (an editable install gives it no path)
    try:
        stdout, stderr, _ = mypy_api.run(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--strict",
                "--follow-imports=silent",  # report on the files written here only
                "--cache-dir",
                str(tmp / "mypy-cache"),
                "--no-error-summary",
                *(str(tmp / name) for name in files),
            ]
        )
    finally:
        os.chdir(cwd)
    assert not stderr, stderr
    yield {name: [line for line in stdout.splitlines() if name in line] for name in files}


def test_user_code_is_typed(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["good_use.py"] == [], "\n".join(mypy_output["good_use.py"])


def test_user_mistakes_are_type_errors(mypy_output: dict[str, list[str]]) -> None:
    bad = mypy_output["bad_use.py"]
    assert any(
        ":4: error: Incompatible types in assignment" in line and '"Rollout"' in line
        for line in bad
    ), bad  # mc.Rollout is the class, not Any
    assert any(':5: error: Module has no attribute "Rolout"' in line for line in bad), bad


def test_every_lazy_name_has_its_real_type(mypy_output: dict[str, list[str]]) -> None:
    packages = _lazy_packages()
    assert {"modelcanary", "modelcanary.notebook", "modelcanary.hooks"} <= set(packages)
    out = mypy_output["reveal_all.py"]
    errors = [line for line in out if ": error:" in line]
    assert errors == [], "\n".join(errors)  # a lazy name not imported under TYPE_CHECKING
    revealed = [m.group(1) for line in out if (m := re.search(r'Revealed type is "(.*)"', line))]
    names = _reveal_all()[1]
    assert len(revealed) == len(names), out
    untyped = [name for name, kind in zip(names, revealed, strict=True) if kind == "Any"]
    assert untyped == [], f"seen as Any by type checkers: {untyped}"


@pytest.mark.parametrize("name", _lazy_packages())
def test_no_lazy_name_is_also_a_submodule(name: str) -> None:
    """Importing ``package.x`` rebinds ``package.x`` to the module, so a lazy name ``x`` would be
    a function to type checkers and, once anything imported the submodule, a module at run
    time (``mc.local`` was the notebook helper until the runtime ``modelcanary.local`` loaded)."""
    module = importlib.import_module(name)
    folder = Path(module.__file__ or "").parent
    submodules = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    assert set(module.__all__) & submodules == set()


@pytest.mark.parametrize("name", _lazy_packages())
def test_lazy_names_load_at_runtime(name: str) -> None:
    """Each exported name resolves (and ``dir()`` lists it); unknown names raise AttributeError."""
    module = importlib.import_module(name)
    public = [attr for attr in module.__all__ if not attr.startswith("__")]
    assert set(public) <= set(dir(module))
    for attr in public:
        assert getattr(module, attr) is not None, attr
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
