"""Backend credentials by reference (``secretRef``), turned into an Authorization header.

``secretRef.env`` names an environment variable (local runtime); ``secretRef.name`` a
Kubernetes Secret read through a :class:`SecretReader` the operator supplies (providers
never import ``kubernetes``). The credential is one string: ``user:password`` means HTTP
basic auth, ``Bearer ...``/``Basic ...`` is sent as written, anything else is a bearer
token. Errors name the variable or Secret, never the value.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Protocol

from ..errors import ModelCanaryError, SpecError, SpecIssue, TransientProviderError
from ..spec import SecretRef

TOKEN_KEY = "token"
"""Kubernetes Secret key of a bearer token."""
USERNAME_KEY, PASSWORD_KEY = "username", "password"
"""Kubernetes Secret keys of basic-auth credentials (as Flagger's Prometheus provider)."""


class SecretReader(Protocol):
    """Reads one key of a Kubernetes Secret: the value, or None if the Secret or key is missing."""

    def __call__(self, name: str, key: str, namespace: str) -> str | None: ...


def resolve_secret(
    secret_ref: SecretRef,
    *,
    env: Mapping[str, str] = os.environ,
    secret_reader: SecretReader | None = None,
    namespace: str = "",
    path: str = "provider.secretRef",
) -> str:
    """The credential string ``secret_ref`` points to (SpecError when it cannot be found)."""
    if secret_ref.env is not None:
        value = env.get(secret_ref.env, "").strip()
        if value:
            return value
        state = "is empty" if secret_ref.env in env else "is not set"
        raise SpecError(
            SpecIssue(
                f"{path}.env",
                f"environment variable {secret_ref.env} {state}",
                f"export {secret_ref.env}=<token or user:password> where modelcanary runs",
            )
        )
    name = secret_ref.name or ""
    where = f"{namespace}/{name}" if namespace else name
    if secret_reader is None:
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where} cannot be read here (no Kubernetes secret reader)",
                "use secretRef.env with an environment variable locally, or run in the operator",
            )
        )
    token = _read(secret_reader, name, TOKEN_KEY, namespace, where)
    if token:
        return f"Bearer {token}"
    user = _read(secret_reader, name, USERNAME_KEY, namespace, where)
    password = _read(secret_reader, name, PASSWORD_KEY, namespace, where)
    if user and password:
        return f"{user}:{password}"
    raise SpecError(
        SpecIssue(
            f"{path}.name",
            f"Kubernetes Secret {where} has no {TOKEN_KEY!r} nor "
            f"{USERNAME_KEY!r}+{PASSWORD_KEY!r} keys",
            f"kubectl create secret generic {name} --from-literal={TOKEN_KEY}=...",
        )
    )


def _read(reader: SecretReader, name: str, key: str, namespace: str, where: str) -> str:
    try:
        value = reader(name, key, namespace)
    except ModelCanaryError:
        raise
    except Exception as exc:  # the adapter's own failure (API down, RBAC)
        raise TransientProviderError(
            f"could not read Kubernetes Secret {where} key {key!r}: {type(exc).__name__}"
        ) from None
    return (value or "").strip()


def authorization(secret: str) -> str:
    """The Authorization header value for a credential string (see the module docstring)."""
    text = secret.strip()
    scheme = text.split(" ", 1)[0].lower()
    if scheme in ("bearer", "basic") and " " in text:
        return text
    if ":" in text:
        return "Basic " + base64.b64encode(text.encode()).decode("ascii")
    return f"Bearer {text}"


__all__ = ["SecretReader", "authorization", "resolve_secret"]
