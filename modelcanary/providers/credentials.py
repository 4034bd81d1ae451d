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

from ..errors import SpecError, SpecIssue, TransientProviderError
from ..secrets import SecretReader, from_env, read_key, require_reader, where
from ..spec import SecretRef

TOKEN_KEY = "token"
"""Kubernetes Secret key of a bearer token."""
USERNAME_KEY, PASSWORD_KEY = "username", "password"
"""Kubernetes Secret keys of basic-auth credentials (as Flagger's Prometheus provider)."""


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
        return from_env(secret_ref, env, path, "token or user:password")
    reader = require_reader(secret_reader, secret_ref, namespace, path)
    token = read_key(reader, secret_ref, TOKEN_KEY, namespace, TransientProviderError)
    if token:
        return f"Bearer {token}"
    user = read_key(reader, secret_ref, USERNAME_KEY, namespace, TransientProviderError)
    password = read_key(reader, secret_ref, PASSWORD_KEY, namespace, TransientProviderError)
    if user and password:
        return f"{user}:{password}"
    name = secret_ref.name or ""
    raise SpecError(
        SpecIssue(
            f"{path}.name",
            f"Kubernetes Secret {where(secret_ref, namespace)} has no {TOKEN_KEY!r} nor "
            f"{USERNAME_KEY!r}+{PASSWORD_KEY!r} keys",
            f"kubectl create secret generic {name} --from-literal={TOKEN_KEY}=...",
        )
    )


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
