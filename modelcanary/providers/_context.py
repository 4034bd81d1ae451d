"""What a provider factory receives besides its spec (kept apart so backends import it alone)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ports import MetricProvider
from ..spec import MetricProviderSpec
from ._credentials import SecretReader
from ._embedded import IntervalSource


@dataclass(frozen=True)
class ProviderContext:
    """What a factory may need besides the spec: the runtime's recorder, secrets, options."""

    recorder: IntervalSource | None = None
    """The local router's recorder (embedded provider)."""
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """Environment variables for ``secretRef.env``."""
    secret_reader: SecretReader | None = None
    """Reads Kubernetes Secrets for ``secretRef.name`` (operator only)."""
    namespace: str = ""
    """Namespace of Kubernetes Secrets (the rollout's)."""
    path: str = "provider"
    """Field path of the spec, for error messages."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for PrometheusProvider (timeout, rollout_label, prefix...)."""


CONTEXT_OPTIONS = frozenset({"timeout", "cluster"})
"""Options every factory reads from the context itself (a backend's own keyword arguments are
the other ones): ``timeout``, and ``cluster`` (the operator's Kubernetes access for the
backends that are Kubernetes APIs, :mod:`modelcanary.providers._cluster`)."""


def backend_options(ctx: ProviderContext) -> dict[str, Any]:
    """``ctx.options`` without :data:`CONTEXT_OPTIONS`: what a backend class takes."""
    return {k: v for k, v in ctx.options.items() if k not in CONTEXT_OPTIONS}


ProviderFactory = Callable[[MetricProviderSpec, ProviderContext], MetricProvider]
"""Builds a provider from its spec (raises ``SpecError`` naming the field to fix)."""
