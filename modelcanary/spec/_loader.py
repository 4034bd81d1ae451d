"""Safe, bounded YAML parsing for rollout files: no silent duplicate keys, no YAML bombs.

PyYAML keeps the *last* of two equal keys without a word, so a second champion ``url``
silently replaced the first. It also expands aliases without limit (a few lines of anchors
make millions of nodes) and its libyaml core nests up to 1000 levels, deeper than the JSON
serialiser will later walk. This loader composes each document into nodes first, checks them
(size, depth, node count with aliases expanded, duplicate keys with their path and line), and
only then builds Python objects. Every refusal is a :class:`~modelcanary.errors.SpecError`.
PyYAML is imported on the first load, not with ``modelcanary.spec``.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError, SpecIssue
from ._base import format_path, short_repr

MAX_DOCUMENT_CHARS = 1024 * 1024
"""Largest rollout text accepted (1 MiB; Kubernetes stores objects of at most ~1.5 MB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (a rollout needs about 10)."""
MAX_NODES = 200_000
"""Most YAML nodes per document, counting each alias expansion (a rollout has a few hundred)."""
MAX_DOCUMENTS = 100
"""Most documents in one YAML stream."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_yaml_documents(text: str, *, source: str = "") -> list[Any]:
    """The non-empty documents of a YAML (or JSON) text, checked before they are built."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise SpecError(
            SpecIssue(
                "",
                f"the document is {len(text):,} characters long, more than the limit of "
                f"{MAX_DOCUMENT_CHARS:,} (1 MiB)",
                "a rollout is a few kilobytes: check that this is the right file",
            ),
            source=source,
        )
    import yaml

    docs: list[Any] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml: ~10x faster
    try:
        while loader.check_node():
            node = loader.get_node()
            if len(docs) >= MAX_DOCUMENTS:
                raise SpecError(
                    SpecIssue(
                        "", f"more than {MAX_DOCUMENTS} YAML documents", "give one rollout per file"
                    ),
                    source=source,
                )
            check_node_tree(node, source=source)
            data = loader.construct_document(node)
            if data is not None:
                docs.append(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise _yaml_error(getattr(exc, "problem", None) or str(exc), mark, source) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # e.g. an integer of more than 4300 digits, or (pure-Python parser) deep nesting
        raise _yaml_error(f"{type(exc).__name__}: {str(exc)[:120]}", None, source) from None
    finally:
        loader.dispose()
    return docs


def check_node_tree(root: Any, *, source: str = "") -> None:
    """Refuse duplicate mapping keys, nesting deeper than MAX_DEPTH and more than MAX_NODES
    nodes (aliases counted each time they are used, so a billion-laughs document stops early).
    Iterative, so a deep document cannot exhaust the Python stack."""
    import yaml

    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    count = 0
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise SpecError(
                SpecIssue(
                    _path(path),
                    f"the document has more than {MAX_NODES:,} values (aliases counted "
                    "each time they are used)",
                    "a rollout has a few hundred: remove the repetition or the alias expansion",
                ),
                source=source,
            )
        if len(path) > MAX_DEPTH:
            raise SpecError(
                SpecIssue(
                    _path(path[:MAX_DEPTH]),
                    f"nests deeper than {MAX_DEPTH} levels",
                    "flatten the structure: no rollout field nests this deep",
                ),
                source=source,
            )
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    stack.append((value, path))
                    continue
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode):
                    ident = (key.tag, key.value)
                    if ident in seen:
                        raise SpecError(
                            SpecIssue(
                                _path((*path, name)),
                                f"duplicate key {short_repr(name)} on line {line} (first on line "
                                f"{seen[ident]}): YAML would silently keep only the last one",
                                "remove one of the two",
                            ),
                            source=source,
                        )
                    seen[ident] = line
                stack.append((key, (*path, name)))
                stack.append((value, (*path, name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))


def _path(parts: tuple[str | int, ...]) -> str:
    out = format_path(parts)
    return out if len(out) <= 200 else out[:197] + "..."


def _yaml_error(problem: str, mark: Any, source: str) -> SpecError:
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return SpecError(
        SpecIssue(where, f"not valid YAML: {problem}", "check indentation and quoting"),
        source=source,
    )
