"""Backend credentials by reference (``secretRef``), turned into an Authorization header.

``secretRef.env`` names an environment variable (local runtime); ``secretRef.name`` a
Kubernetes Secret read through a :class:`SecretReader` the operator supplies (providers
never import ``kubernetes``). The credential is one string: ``user:password`` means HTTP
basic auth, ``Bearer ...``/``Basic ...`` is sent as written, anything else is a bearer
token. Errors name the variable or Secret, never the value.

Providers whose credential has several parts (Datadog's two keys, New Relic's account id and
key, AWS keys) read them with :func:`env_parts` (``a:b`` in one variable) and
:func:`secret_keys` (several keys of one Secret).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Collection, Mapping, Sequence

from .._secretref import SecretReader, from_env, read_key, require_reader, where
from ..errors import SpecError, SpecIssue, TransientProviderError
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


def env_parts(
    secret_ref: SecretRef,
    env: Mapping[str, str],
    path: str,
    *,
    what: str,
    form: str,
    example: str,
    counts: Collection[int],
    maxsplit: int = -1,
    valid: Callable[[list[str]], bool] | None = None,
) -> list[str]:
    """The ``:``-separated parts (stripped) of the variable ``secretRef.env`` names.

    ``what`` describes the value when the variable is unset; a value that does not split into
    one of ``counts`` non-empty parts (at most ``maxsplit`` splits), or that ``valid`` refuses,
    is a SpecError naming ``<path>.env``: "does not hold ``form``", fix ``export VAR=example``.
    """
    value = from_env(secret_ref, env, path, what)
    parts = [part.strip() for part in value.split(":", maxsplit)]
    if len(parts) not in counts or not all(parts) or (valid is not None and not valid(parts)):
        raise SpecError(
            SpecIssue(
                f"{path}.env",
                f"environment variable {secret_ref.env} does not hold {form}",
                f"export {secret_ref.env}={example}",
            )
        )
    return parts


def secret_keys(
    secret_ref: SecretRef,
    keys: Sequence[str],
    *,
    reader: SecretReader | None,
    namespace: str,
    path: str,
    required: Sequence[str] = (),
    hint: str = "",
) -> dict[str, str | None]:
    """Several keys of the Kubernetes Secret ``secretRef.name`` (None for a missing key); a
    SpecError naming ``<path>.name`` (fix ``hint``) when a ``required`` one is missing."""
    found = require_reader(reader, secret_ref, namespace, path)
    values = {
        key: read_key(found, secret_ref, key, namespace, TransientProviderError) for key in keys
    }
    missing = [key for key in required if not values[key]]
    if missing:
        raise SpecError(
            SpecIssue(
                f"{path}.name",
                f"Kubernetes Secret {where(secret_ref, namespace)} has no "
                f"{' nor '.join(missing)} key",
                hint,
            )
        )
    return values


__all__ = ["SecretReader", "authorization", "env_parts", "resolve_secret", "secret_keys"]
