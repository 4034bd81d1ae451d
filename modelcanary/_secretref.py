"""Credentials by reference, shared by every adapter: a ``SecretRef`` is an environment
variable (local runtime) or a Kubernetes Secret read through a :class:`SecretReader` that the
Kubernetes adapter supplies (adapters never import ``kubernetes``). Errors name the variable or
Secret and the fix, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .errors import ModelCanaryError, SpecError, SpecIssue
from .spec import SecretRef


class SecretReader(Protocol):
    """Reads one key of a Kubernetes Secret: the value, or None if the Secret or key is missing.

    ``namespace`` may be empty: the reader's default (the rollout's) namespace is meant.
    """

    def __call__(self, name: str, key: str, namespace: str) -> str | None: ...


def from_env(secret_ref: SecretRef, env: Mapping[str, str], path: str, what: str) -> str:
    """The value of ``secretRef.env``; SpecError naming the variable when unset or empty."""
    name = secret_ref.env or ""
    value = env.get(name, "").strip()
    if value:
        return value
    state = "is empty" if name in env else "is not set"
    raise SpecError(
        SpecIssue(
            f"{path}.env",
            f"environment variable {name} {state}",
            f"export {name}=<{what}> where modelcanary runs, or use "
            "secretRef.name with a Kubernetes Secret in the operator",
        )
    )


def require_reader(
    reader: SecretReader | None, secret_ref: SecretRef, namespace: str, path: str
) -> SecretReader:
    """The Kubernetes secret reader, or a SpecError saying the Secret cannot be read here."""
    if reader is None:
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where(secret_ref, namespace)} cannot be read here: no "
                "Kubernetes secret reader (the local runtime reads environment variables only)",
                "use secretRef.env with an environment variable locally, or run in the operator",
            )
        )
    return reader


def read_key(
    reader: SecretReader,
    secret_ref: SecretRef,
    key: str,
    namespace: str,
    failure: type[ModelCanaryError],
) -> str | None:
    """One key of the Secret (stripped; None when missing or empty). The reader's own failure
    (API down, RBAC) becomes ``failure`` naming the Secret and key, never a value."""
    try:
        value = reader(secret_ref.name or "", key, namespace)
    except ModelCanaryError:
        raise
    except Exception as exc:
        raise failure(
            f"could not read Kubernetes Secret {where(secret_ref, namespace)} key "
            f"{key!r}: {type(exc).__name__}"
        ) from None
    return value.strip() if value and value.strip() else None


def where(secret_ref: SecretRef, namespace: str) -> str:
    """``namespace/name`` of the Secret for messages."""
    name = secret_ref.name or ""
    return f"{namespace}/{name}" if namespace else name
