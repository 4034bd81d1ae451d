"""Reading and writing rollout files (the only place the SDK touches the file system)."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import SpecError, SpecIssue
from .spec import ModelRollout, parse_rollout_yaml


def read_text(path: str | Path) -> tuple[str, str]:
    """Return ``(text, source name)`` for a path, or standard input for ``-``."""
    if str(path) == "-":
        return sys.stdin.read(), "<stdin>"
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8"), str(file)
    except FileNotFoundError:
        raise SpecError(
            SpecIssue("", f"file {str(file)!r} does not exist", "check the path")
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(
            SpecIssue("", f"cannot read {str(file)!r}: {exc}", "give a readable UTF-8 YAML file")
        ) from None


def load(path: str | Path) -> ModelRollout:
    """Load and validate a ModelRollout YAML file (``-`` reads standard input)."""
    text, source = read_text(path)
    return parse_rollout_yaml(text, source=source)


def loads(text: str) -> ModelRollout:
    """Validate a ModelRollout given as YAML text."""
    return parse_rollout_yaml(text)
