"""Helpers shared by the vendor metric providers (Datadog, New Relic, Google Cloud
Monitoring, Kayenta) beyond HTTP: several keys of one credential Secret, and the error for
built-in SLIs on a backend that does not store the router's metrics.

Their HTTP (error classification, headers, address check, query templates) is
:mod:`.httpapi`, shared with the Prometheus, InfluxDB and Graphite providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import PermanentProviderError, TransientProviderError
from ..secrets import read_key, require_reader
from ..spec import SecretRef

if TYPE_CHECKING:
    from ..secrets import SecretReader


def builtins_unsupported(backend: str, example: str) -> PermanentProviderError:
    """The error ``collect()`` raises on a backend without the router's metrics."""
    return PermanentProviderError(
        f"built-in SLIs are not supported on {backend}: it does not store the router's "
        f"modelcanary_router_* metrics under documented names; give each metric a custom "
        f"query (e.g. {example}) or use a prometheus provider for built-ins"
    )


def secret_keys(
    secret_ref: SecretRef,
    keys: Sequence[str],
    *,
    reader: SecretReader | None,
    namespace: str,
    path: str,
) -> dict[str, str | None]:
    """Several keys of the Kubernetes Secret ``secretRef.name`` (None for a missing key)."""
    found = require_reader(reader, secret_ref, namespace, path)
    return {
        key: read_key(found, secret_ref, key, namespace, TransientProviderError) for key in keys
    }


__all__ = ["builtins_unsupported", "secret_keys"]
