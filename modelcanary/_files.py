"""Reading and writing rollout files (the only place the SDK touches the file system)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .errors import SpecError, SpecIssue
from .spec import ModelRollout, parse_rollout_yaml
from .spec._loader import MAX_DOCUMENT_CHARS


def read_text(path: str | Path) -> tuple[str, str]:
    """Return ``(text, source name)`` for a path, or standard input for ``-``.

    Reads at most :data:`~modelcanary.spec._loader.MAX_DOCUMENT_CHARS` (+1) characters, so a
    huge file, ``/dev/zero`` or an endless pipe is refused without filling memory.
    """
    if str(path) == "-":
        return _bounded(sys.stdin, "<stdin>"), "<stdin>"
    file = Path(path)
    try:
        with file.open(encoding="utf-8") as stream:
            return _bounded(stream, str(file)), str(file)
    except FileNotFoundError:
        raise SpecError(
            SpecIssue("", f"file {str(file)!r} does not exist", "check the path")
        ) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(
            SpecIssue("", f"cannot read {str(file)!r}: {exc}", "give a readable UTF-8 YAML file")
        ) from None


def _bounded(stream: TextIO, source: str) -> str:
    text = stream.read(MAX_DOCUMENT_CHARS + 1)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise SpecError(
            SpecIssue(
                "",
                f"{source} is longer than the limit of {MAX_DOCUMENT_CHARS:,} characters (1 MiB)",
                "a rollout is a few kilobytes: check that this is the right file",
            )
        )
    return text


def load(path: str | Path) -> ModelRollout:
    """Load and validate a ModelRollout YAML file (``-`` reads standard input)."""
    text, source = read_text(path)
    return parse_rollout_yaml(text, source=source)


def loads(text: str) -> ModelRollout:
    """Validate a ModelRollout given as YAML text."""
    return parse_rollout_yaml(text)
