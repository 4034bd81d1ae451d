"""The one exception tree of modelcanary.

Every error a user can cause or meet derives from :class:`ModelCanaryError`. Bad input is a
:class:`SpecError` carrying the field path and a fix hint; the CLI prints it and exits 2, never
a traceback. Missing metric data is *not* an exception: it is an explicit ``NoData``
observation that the analysis turns into a failed, skipped or inconclusive check.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelCanaryError(Exception):
    """Base of every modelcanary error."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a user's input: where it is, what is wrong, and how to fix it."""

    path: str
    message: str
    hint: str = ""
    omitted: int = 0
    """Set on the last line of a capped list only: how many further problems it stands for
    (so a reader can say "showing 50 of 20,000 problems" without parsing the message)."""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (fix: {self.hint})" if self.hint else text


class SpecError(ModelCanaryError):
    """Bad input: a spec, file or argument that cannot be used as given.

    ``issues`` lists every problem found (not only the first), each with its field path
    (e.g. ``spec.analysis.stepWeights[2]``) and a fix hint.
    """

    def __init__(self, issues: list[SpecIssue] | SpecIssue | str, *, source: str = "") -> None:
        if isinstance(issues, str):
            issues = [SpecIssue("", issues)]
        elif isinstance(issues, SpecIssue):
            issues = [issues]
        self.issues: list[SpecIssue] = list(issues)
        self.source = source
        super().__init__(self.render())

    @property
    def path(self) -> str:
        """Field path of the first issue (convenience for single-issue errors)."""
        return self.issues[0].path if self.issues else ""

    @property
    def hint(self) -> str:
        """Fix hint of the first issue."""
        return self.issues[0].hint if self.issues else ""

    def render(self) -> str:
        """Human text: a header line, then one line per issue."""
        where = f" in {self.source}" if self.source else ""
        if len(self.issues) == 1:
            return f"invalid input{where}: {self.issues[0]}"
        listed = [issue for issue in self.issues if not issue.omitted]
        total = len(listed) + sum(issue.omitted for issue in self.issues)
        count = f"showing {len(listed)} of {total:,} problems" if total > len(listed) else None
        lines = [f"{count or f'{len(self.issues)} problems'}{where}:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


class AccessDenied(ModelCanaryError):
    """The cluster refused a user's request (401/403): the message names the verb, the resource
    and the Role to ask for."""


class ProviderError(ModelCanaryError):
    """A metric provider failed (not: returned no data, which is ``NoData``)."""


class TransientProviderError(ProviderError):
    """Retry later: timeout, connection refused, HTTP 5xx, rate limit."""


class PermanentProviderError(ProviderError):
    """Retrying will not help: bad query, bad credentials, unknown metric."""


class RouterError(ModelCanaryError):
    """A traffic router could not apply or read routes."""


class WorkloadError(ModelCanaryError):
    """A champion/challenger workload could not be created, scaled or promoted."""


class GateError(ModelCanaryError):
    """A webhook gate or manual gate failed in a way that is not a plain 'no'."""


class NotifyError(ModelCanaryError):
    """A notification service refused or could not be reached (never fails a rollout)."""


class ConflictError(ModelCanaryError):
    """The stored status changed since it was read (optimistic concurrency): re-read, retry."""


class ConversionError(SpecError):
    """A resource cannot be converted between formats (e.g. to a Flagger Canary)."""


__all__ = [
    "AccessDenied",
    "ConflictError",
    "ConversionError",
    "GateError",
    "ModelCanaryError",
    "NotifyError",
    "PermanentProviderError",
    "ProviderError",
    "RouterError",
    "SpecError",
    "SpecIssue",
    "TransientProviderError",
    "WorkloadError",
]
