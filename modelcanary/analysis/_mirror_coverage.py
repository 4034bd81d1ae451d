"""Mirror coverage: a challenger sent too few of its mirror copies is never passed on them.

In a mirror (shadow) phase the challenger's SLIs come from the copies it answered. When the
router had to drop copies (the mirror queue was full: the challenger cannot keep up; or its
connect breaker was open: it is unreachable), what the challenger answered is a biased
remainder: a slow or dead challenger would look healthy on the few copies that got through.
So an interval whose coverage (copies sent / copies asked for,
:class:`~modelcanary.analysis._measurements.MirrorCoverage`) is below :data:`MIN_COVERAGE`
with at least :data:`MIN_COPIES` asked for cannot pass: every challenger check that would
have passed is inconclusive instead, with the coverage in its reason. Failures stay failures
(errors and slow answers the challenger did give are real). Inconclusive intervals count
toward ``inconclusiveLimit``, so a challenger that never keeps up fails the rollout as
inconclusive instead of waiting for evidence that cannot come.
"""

from __future__ import annotations

from dataclasses import replace

from ._checks import CheckResult
from ._measurements import MirrorCoverage

MIN_COVERAGE = 0.9
"""Share of the mirror copies asked for that must reach the challenger for a pass."""
MIN_COPIES = 20
"""Copies asked for in the window below which coverage is not judged (too few to tell)."""
_EXPLANATION = "mann-whitney"
"""Per-metric classifications of the canary score: explanations, not verdicts."""


def short_of_copies(coverage: MirrorCoverage | None) -> bool:
    """True when the window's mirror coverage is too low to pass the challenger on it."""
    if coverage is None or coverage.eligible < MIN_COPIES:
        return False
    ratio = coverage.ratio
    return ratio is not None and ratio < MIN_COVERAGE


def coverage_note(coverage: MirrorCoverage) -> str:
    """``mirror coverage 23 % (310 of 402 copies dropped): ...`` for reason lines."""
    ratio = coverage.ratio or 0.0
    return (
        f"mirror coverage {ratio:.0%} ({coverage.dropped} of {coverage.eligible} copies "
        f"dropped, below {MIN_COVERAGE:.0%}): the challenger could not keep up or was "
        "unreachable, and its SLIs describe only the copies it answered"
    )


def coverage_hold(checks: list[CheckResult], coverage: MirrorCoverage | None) -> list[CheckResult]:
    """The checks with every would-be pass made inconclusive when coverage is short.

    Fails, errors and skips keep their verdict; inconclusive checks keep theirs but say the
    coverage too (and no longer count as merely waiting for evidence).
    """
    if coverage is None or not short_of_copies(coverage):
        return checks
    note = coverage_note(coverage)
    out: list[CheckResult] = []
    for check in checks:
        if check.judge == _EXPLANATION or check.verdict not in ("pass", "inconclusive"):
            out.append(check)
            continue
        was = "would pass" if check.verdict == "pass" else "inconclusive"
        reason = f"{check.key}: {note}; not passed on them ({was}: {check.reason})"
        out.append(replace(check, verdict="inconclusive", reason=reason, waiting=False))
    return out
