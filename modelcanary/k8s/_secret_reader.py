"""``KubeSecretReader``: the SecretReader of ``modelcanary._secretref`` on Kubernetes Secrets.

Values are base64-decoded from ``data`` (or read from ``stringData``); nothing is cached and
no value ever reaches a log or an error message (errors name the Secret and key only).
"""

from __future__ import annotations

import base64
import binascii

from ..errors import ModelCanaryError
from ._client import KubeClient, Ref


class KubeSecretReader:
    """Reads one key of a Secret; ``namespace`` empty means ``default_namespace``."""

    def __init__(self, client: KubeClient, default_namespace: str = "default") -> None:
        self.client = client
        self.default_namespace = default_namespace

    def __call__(self, name: str, key: str, namespace: str) -> str | None:
        """The decoded value, or None when the Secret or the key does not exist."""
        where = namespace or self.default_namespace
        secret = self.client.get(Ref("v1", "Secret", where, name))
        if secret is None:
            return None
        encoded = (secret.get("data") or {}).get(key)
        if encoded is None:
            plain = (secret.get("stringData") or {}).get(key)
            return None if plain is None else str(plain)
        try:
            return base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ModelCanaryError(
                f"Kubernetes Secret {where}/{name} key {key!r} is not base64-encoded UTF-8 text "
                "(fix: store the value with kubectl create secret generic ... --from-literal)"
            ) from None
