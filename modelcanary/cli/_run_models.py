"""``modelcanary run``: model URIs that cannot work are bad input (exit 2, field named).

A model server refuses its input in its own process (``modelcanary serve`` exits 2) and the
runtime reports that as a workload failure, which the command line would turn into exit 1,
the code of a rolled-back rollout. Here the cheap checks run before anything starts (a
``models:/`` URI without a tracking server, a missing model directory), and a server's refusal
(an unknown model, version or alias) is turned back into the :class:`SpecError` it was, naming
the field as the user wrote it: ``spec.champion.modelUri``, ``spec.challenger.modelUri`` or
``--tracking-uri``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import SpecError, SpecIssue, WorkloadError
from ..spec import ModelRollout

__all__ = ["check_models", "model_errors"]

_SIDES = ("champion", "challenger")
_NESTED = re.compile(
    r"^(?:invalid input(?: in \S+)?: )?(?P<path>model_uri|tracking_uri): (?P<message>.*?)"
    r"(?: \(fix: (?P<hint>.*)\))?$",
    re.DOTALL,
)


def check_models(rollout: ModelRollout, tracking_uri: str | None, file: str) -> None:
    """Refuse model URIs that cannot work before anything starts (exit 2, field named):
    a ``models:/`` or ``runs:/`` URI without a tracking server, a missing model directory."""
    from ..serving._model import check_uri  # no mlflow import: a quick look at the URI

    issues: list[SpecIssue] = []
    for side in _SIDES:
        version = getattr(rollout.spec, side)
        if version is None or version.model_uri is None:
            continue
        try:
            check_uri(version.model_uri, tracking_uri)
        except SpecError as exc:
            issues += [_field(issue, side) for issue in exc.issues]
    if issues:
        raise SpecError(list(dict.fromkeys(issues)), source=file)


def _field(issue: SpecIssue, side: str) -> SpecIssue:
    """A model server's issue (``model_uri``, ``tracking_uri``) named as the user wrote it."""
    text = issue.message
    found = _NESTED.match(text)
    path = issue.path
    if found:  # the server's own one-line rendering of a SpecError
        path, text = found.group("path"), found.group("message")
        hint = found.group("hint") or issue.hint
    else:
        hint = issue.hint
    where = "--tracking-uri" if path == "tracking_uri" else f"spec.{side}.modelUri"
    return SpecIssue(where, text, hint)


@contextmanager
def model_errors(rollout: ModelRollout, file: str) -> Iterator[None]:
    """A model server that refused its input (unknown model, version or alias) is bad input:
    a SpecError naming ``spec.<side>.modelUri`` (exit 2), not a workload failure (exit 1)."""
    try:
        yield
    except WorkloadError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, SpecError):
            cause = cause.__cause__
        if cause is None:
            raise
        side = next(
            (
                s
                for s in _SIDES
                if getattr(rollout.spec, s) is not None
                and getattr(rollout.spec, s).model_uri == cause.source
            ),
            "challenger",
        )
        raise SpecError([_field(i, side) for i in cause.issues], source=file) from None
