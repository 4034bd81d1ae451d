"""Credentials by reference: read a ``SecretRef`` from the environment or a Kubernetes Secret.

``SecretRef.env`` names an environment variable (local runtime); ``SecretRef.name`` names a
Kubernetes Secret, read through a :class:`SecretReader` that the Kubernetes adapter supplies
(notify never imports ``kubernetes``). Errors name the variable or Secret and the fix, never
the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from ..errors import ModelCanaryError, NotifyError, SpecError, SpecIssue
from ..spec import SecretRef

ADDRESS_KEY = "address"
"""Secret key holding the webhook URL (as in Flagger's AlertProvider Secrets)."""
TOKEN_KEY = "token"
"""Secret key holding a token (Slack bot token, Bearer token, Datadog API key)."""


class SecretReader(Protocol):
    """Reads one key of a Kubernetes Secret: the value, or None if the Secret or key is missing.

    ``namespace`` may be empty: the reader's default (the rollout's) namespace is meant.
    """

    def __call__(self, name: str, key: str, namespace: str) -> str | None: ...


def resolve_secret(
    secret_ref: SecretRef,
    *,
    env: Mapping[str, str] = os.environ,
    k8s_reader: SecretReader | None = None,
    key: str = ADDRESS_KEY,
    namespace: str = "",
    path: str = "secretRef",
) -> str:
    """The credential ``secret_ref`` points to.

    ``env``: the variable's value (missing or empty -> SpecError naming it and the fix).
    ``name``: ``key`` of that Kubernetes Secret through ``k8s_reader`` (no reader, missing
    Secret or key -> SpecError). ``path`` is the field path used in error messages.
    """
    if secret_ref.env is not None:
        value = env.get(secret_ref.env, "")
        if value.strip():
            return value.strip()
        state = "is empty" if secret_ref.env in env else "is not set"
        raise SpecError(
            SpecIssue(
                f"{path}.env",
                f"environment variable {secret_ref.env} {state}",
                f"export {secret_ref.env}=<the {key}> where modelcanary runs, "
                "or use secretRef.name with a Kubernetes Secret in the operator",
            )
        )
    name = secret_ref.name or ""
    where = f"{namespace}/{name}" if namespace else name
    if k8s_reader is None:
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where} cannot be read here: no Kubernetes secret reader "
                "(the local runtime reads environment variables only)",
                "use secretRef.env with an environment variable locally, or run in the operator",
            )
        )
    try:
        found = k8s_reader(name, key, namespace)
    except ModelCanaryError:
        raise
    except Exception as exc:  # the adapter's own failure (API down, RBAC)
        raise NotifyError(
            f"could not read Kubernetes Secret {where} key {key!r}: {type(exc).__name__}"
        ) from None
    if found is None or not found.strip():
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where} is missing or has no (or an empty) {key!r} key",
                f"kubectl create secret generic {name} --from-literal={key}=...",
            )
        )
    return found.strip()


def read_optional(
    secret_ref: SecretRef | None, key: str, *, k8s_reader: SecretReader | None, namespace: str = ""
) -> str | None:
    """An optional extra key of the same Kubernetes Secret (e.g. ``token``), else None."""
    if secret_ref is None or secret_ref.name is None or k8s_reader is None:
        return None
    try:
        value = k8s_reader(secret_ref.name, key, namespace)
    except ModelCanaryError:
        raise
    except Exception as exc:
        raise NotifyError(
            f"could not read Kubernetes Secret {secret_ref.name} key {key!r}: {type(exc).__name__}"
        ) from None
    return value.strip() if value and value.strip() else None
