"""``Rollout.load(cohorts=...)``: the builder's short forms of ``spec.load.cohorts``.

- ``cohorts=0.2``: 20 % of requests satisfy the rollout's first A/B match condition;
- ``cohorts={"beta": 0.2}``: 20 % satisfy the match condition whose value is ``beta``;
- ``cohorts={"x-cohort=beta": 0.2}`` or ``{"x-cohort: beta": 0.2}``: 20 % carry that header
  (``{"cookie: type=insider": 0.1}`` sends a cookie);
- ``cohorts=[{"share": 0.1, "match": 1}, ...]``: the spec's own form (``LoadCohort`` fields).

A share is a fraction (``0.2``) or a percent string (``"20%"``). Values are checked against the
match conditions in ``build()``, so ``load()`` and ``ab_test()`` may come in either order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modelcanary.spec._rollout import LoadCohort

from ._util import fail

PATH = "spec.load.cohorts"
EXAMPLE = "cohorts=0.2, cohorts={'beta': 0.2} or cohorts={'x-cohort=beta': 0.2}"
_HEADER = re.compile(r"^\s*([^\s:=]+)\s*(?::|=)\s*(.*?)\s*$")


def cohorts_data(cohorts: Any) -> list[dict[str, Any]]:
    """``cohorts=`` of ``Rollout.load`` as ``spec.load.cohorts`` data (validated by the spec)."""
    if isinstance(cohorts, bool):
        fail(PATH, f"expected a share, got {cohorts!r}", f"e.g. {EXAMPLE}")
    if isinstance(cohorts, int | float | str):
        return [{"share": _share(cohorts, PATH)}]
    if isinstance(cohorts, Mapping):
        return [_keyed(str(key), share, i) for i, (key, share) in enumerate(cohorts.items())]
    if isinstance(cohorts, list | tuple):
        return [c.to_dict() if isinstance(c, LoadCohort) else c for c in cohorts]
    fail(PATH, f"expected a share or a mapping, got {type(cohorts).__name__}", f"e.g. {EXAMPLE}")


def _keyed(key: str, share: Any, index: int) -> dict[str, Any]:
    """``"beta"`` names a match value; ``"name=value"``/``"name: value"`` a header to send."""
    path = f"{PATH}[{index}]"
    if ":" not in key and "=" not in key:
        return {"share": _share(share, path), "value": key}
    found = _HEADER.match(key)
    if found is None or not found.group(2):
        fail(
            path,
            f"{key!r} is neither a match value nor a header",
            "write a value ('beta') or a header 'x-cohort=beta' / 'cookie: type=insider'",
        )
    return {"share": _share(share, path), "headers": {found.group(1): found.group(2)}}


def _share(value: Any, path: str) -> Any:
    """``"20%"`` -> 0.2; numbers go to validation (which says the range)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            fail(f"{path}.share", f"{value!r} is not a share", "e.g. 0.2 or '20%'")
    return value
