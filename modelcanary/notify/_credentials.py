"""Credentials by reference: read a ``SecretRef`` from the environment or a Kubernetes Secret.

``SecretRef.env`` names an environment variable (local runtime); ``SecretRef.name`` names a
Kubernetes Secret, read through a :class:`SecretReader` that the Kubernetes adapter supplies
(notify never imports ``kubernetes``). Errors name the variable or Secret and the fix, never
the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._secretref import SecretReader, from_env, read_key, require_reader, where
from ..errors import NotifyError, SpecError, SpecIssue
from ..spec import SecretRef

ADDRESS_KEY = "address"
"""Secret key holding the webhook URL (as in Flagger's AlertProvider Secrets)."""
TOKEN_KEY = "token"
"""Secret key holding a token (Slack bot token, Bearer token, Datadog API key)."""


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
        return from_env(secret_ref, env, path, f"the {key}")
    reader = require_reader(k8s_reader, secret_ref, namespace, path)
    found = read_key(reader, secret_ref, key, namespace, NotifyError)
    if found is None:
        name = secret_ref.name or ""
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where(secret_ref, namespace)} is missing or has no (or an "
                f"empty) {key!r} key",
                f"kubectl create secret generic {name} --from-literal={key}=...",
            )
        )
    return found


def read_optional(
    secret_ref: SecretRef | None, key: str, *, k8s_reader: SecretReader | None, namespace: str = ""
) -> str | None:
    """An optional extra key of the same Kubernetes Secret (e.g. ``token``), else None."""
    if secret_ref is None or secret_ref.name is None or k8s_reader is None:
        return None
    return read_key(k8s_reader, secret_ref, key, namespace, NotifyError)
