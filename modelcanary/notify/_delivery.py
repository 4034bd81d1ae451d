"""Severity routing: send each notification to the alerts whose minimum severity admits it.

An alert with severity ``info`` receives everything, ``warn`` receives warn and error, ``error``
only errors (Flagger's rule). Providers are inline (``alert.provider``) or Flagger
AlertProviders (``alert.providerRef``) found through an injectable lookup. Notifiers are built
on first use, so a missing credential is reported for that alert instead of stopping the
rollout: :meth:`NotificationDelivery.send` never raises, it returns one :class:`Delivery` per
addressed alert (failed ones carry the error) for the engine to record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .._secretref import SecretReader
from ..errors import ModelCanaryError, NotifyError, SpecError, SpecIssue
from ..ports import Notification, Notifier
from ..rollout._commands import SEVERITY_RANK, Severity
from ..spec import Alert, SecretRef
from ._base import DEFAULT_TIMEOUT, Secret, redact
from ._credentials import ADDRESS_KEY, TOKEN_KEY, read_optional, resolve_secret
from ._registry import SECRET_HOLDS, NotifierFactory, ProviderConfig, build_notifier, canonical_type

log = logging.getLogger(__name__)

ProviderLookup = Callable[[str, str], Mapping[str, Any] | None]
"""``(name, namespace) -> AlertProvider`` (whole resource or its ``spec``), None if absent."""
DATADOG_KEY_FALLBACK = "datadog_api_key"
"""Secret key of Flagger's Datadog metric provider, accepted when ``token`` is absent."""


def admits(alert_severity: str, severity: Severity) -> bool:
    """True when an alert of minimum ``alert_severity`` receives a ``severity`` notification."""
    for value in (alert_severity, severity):
        if value not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {value!r}; use one of: info, warn, error")
    return SEVERITY_RANK[alert_severity] <= SEVERITY_RANK[severity]


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one notification to one alert."""

    alert: str
    type: str
    """Provider type, or ``providerRef`` when it could not be resolved."""
    error: ModelCanaryError | None = None
    """None when delivered; the (redacted) NotifyError or SpecError otherwise."""

    @property
    def ok(self) -> bool:
        """True when the service accepted the message."""
        return self.error is None


def _lookup_from_mapping(providers: Mapping[str, Mapping[str, Any]]) -> ProviderLookup:
    """Look up ``namespace/name`` first, then the bare ``name``."""

    def lookup(name: str, namespace: str) -> Mapping[str, Any] | None:
        return providers.get(f"{namespace}/{name}") or providers.get(name)

    return lookup


class NotificationDelivery:
    """Sends notifications to the spec's alerts by severity; never raises while sending."""

    def __init__(
        self,
        alerts: Sequence[Alert],
        factory: NotifierFactory = build_notifier,
        *,
        providers: Mapping[str, Mapping[str, Any]] | ProviderLookup | None = None,
        env: Mapping[str, str] | None = None,
        secret_reader: SecretReader | None = None,
        namespace: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.alerts = list(alerts)
        self._factory = factory
        if providers is None or callable(providers):
            self._lookup: ProviderLookup | None = providers
        else:
            self._lookup = _lookup_from_mapping(providers)
        self._env = env
        self._reader = secret_reader
        self.namespace = namespace
        self.timeout = timeout
        self._notifiers: dict[tuple[int, str], Notifier] = {}
        self._configs: dict[tuple[int, str], ProviderConfig] = {}

    def __repr__(self) -> str:
        names = ", ".join(f"{a.name}>={a.severity}" for a in self.alerts)
        return f"NotificationDelivery([{names}])"

    def targets(self, severity: Severity) -> list[str]:
        """Names of the alerts a notification of ``severity`` goes to."""
        return [a.name for a in self.alerts if admits(a.severity, severity)]

    def send(self, notification: Notification) -> list[Delivery]:
        """Deliver to every admitting alert; failures are returned (and logged), not raised."""
        results: list[Delivery] = []
        for index, alert in enumerate(self.alerts):
            if not admits(alert.severity, notification.severity):
                continue
            key = (index, self.namespace or notification.namespace)
            try:
                self.notifier(index, key[1]).notify(notification)
            except Exception as exc:
                error = self._as_error(exc, key)
                results.append(Delivery(alert.name, self._type(index, key), error))
                log.warning(
                    "notification %s of %s.%s to alert %s failed: %s",
                    notification.event,
                    notification.rollout,
                    notification.namespace,
                    alert.name,
                    error,
                )
            else:
                results.append(Delivery(alert.name, self._type(index, key)))
        return results

    def validate(self, namespace: str | None = None) -> None:
        """Build every alert's notifier now; raise one SpecError listing every problem."""
        issues: list[SpecIssue] = []
        for index in range(len(self.alerts)):
            try:
                self.notifier(index, namespace if namespace is not None else self.namespace)
            except SpecError as exc:
                issues += exc.issues
        if issues:
            raise SpecError(issues)

    def notifier(self, index: int, namespace: str) -> Notifier:
        """The (cached) notifier of alert ``index``; SpecError when it cannot be configured."""
        key = (index, namespace)
        if key not in self._notifiers:
            config = self.config(index, namespace)
            self._configs[key] = config
            self._notifiers[key] = self._factory(config)
        return self._notifiers[key]

    def config(self, index: int, namespace: str) -> ProviderConfig:
        """Alert ``index``'s provider with type canonical and credentials resolved."""
        alert = self.alerts[index]
        path = f"spec.analysis.alerts[{index}]"
        if alert.provider is not None:
            p = alert.provider
            spec: dict[str, Any] = {
                "type": p.type,
                "address": p.address,
                "channel": p.channel,
                "username": p.username,
                "secretRef": p.secret_ref,
            }
            path, provider_ns = f"{path}.provider", namespace
        else:
            spec, provider_ns = self._referenced(alert, namespace, f"{path}.providerRef")
            path = f"{path}.providerRef"
        kind = canonical_type(str(spec.get("type") or ""), path=f"{path}.type")
        address = _secret(spec.get("address"))
        token: Secret | None = None
        ref = spec.get("secretRef")
        if ref is not None:
            ref = ref if isinstance(ref, SecretRef) else _secret_ref(ref, f"{path}.secretRef")
            holds = SECRET_HOLDS.get(kind, "address")
            value = self._resolve(ref, kind, holds, provider_ns, f"{path}.secretRef")
            if holds == "address":
                address = Secret(value)
                extra = read_optional(
                    ref, TOKEN_KEY, k8s_reader=self._reader, namespace=provider_ns
                )
                token = _secret(extra)
            else:
                token = Secret(value)
        return ProviderConfig(
            name=alert.name,
            type=kind,
            address=address,
            token=token,
            channel=_text(spec.get("channel")),
            username=_text(spec.get("username")),
            proxy=_secret(spec.get("proxy")),
            timeout=self.timeout,
            path=path,
        )

    def _resolve(self, ref: SecretRef, kind: str, holds: str, ns: str, path: str) -> str:
        key = ADDRESS_KEY if holds == "address" else TOKEN_KEY
        env = os.environ if self._env is None else self._env
        try:
            return resolve_secret(
                ref, env=env, k8s_reader=self._reader, key=key, namespace=ns, path=path
            )
        except SpecError:
            fallback = None
            if kind == "datadog":
                fallback = read_optional(
                    ref, DATADOG_KEY_FALLBACK, k8s_reader=self._reader, namespace=ns
                )
            if fallback is None:
                raise
            return fallback

    def _referenced(self, alert: Alert, namespace: str, path: str) -> tuple[dict[str, Any], str]:
        """The Flagger AlertProvider spec named by ``alert.providerRef``, and its namespace."""
        ref = alert.provider_ref or {}
        name, ns = ref.get("name", ""), ref.get("namespace") or namespace
        where = f"{ns}/{name}" if ns else name
        if self._lookup is None:
            raise SpecError(
                SpecIssue(
                    path,
                    f"AlertProvider {where} cannot be resolved here (no AlertProvider lookup)",
                    "use an inline `provider:` locally, or run in the operator, which reads "
                    "AlertProviders from the cluster",
                )
            )
        found = self._lookup(name, ns)
        if found is None:
            raise SpecError(
                SpecIssue(path, f"AlertProvider {where} not found", "create it, or fix the name")
            )
        spec = found.get("spec", found)
        if not isinstance(spec, Mapping):
            raise SpecError(SpecIssue(path, f"AlertProvider {where} has no spec mapping"))
        return dict(spec), ns

    def _type(self, index: int, key: tuple[int, str]) -> str:
        config = self._configs.get(key)
        if config is not None:
            return config.type
        alert = self.alerts[index]
        return alert.provider.type if alert.provider is not None else "providerRef"

    def _as_error(self, exc: Exception, key: tuple[int, str]) -> ModelCanaryError:
        """ModelCanaryErrors as they are; anything else as a NotifyError, secrets scrubbed."""
        if isinstance(exc, ModelCanaryError):
            return exc
        config = self._configs.get(key)
        text = redact(str(exc), config.secrets() if config else [])
        return NotifyError(f"{type(exc).__name__}: {text}"[:500])


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _secret(value: Any) -> Secret | None:
    return Secret(str(value)) if value not in (None, "") else None


def _secret_ref(value: Any, path: str) -> SecretRef:
    """A Flagger ``secretRef: {name}`` (or ours, with ``env``) as a SecretRef."""
    if not isinstance(value, Mapping):
        raise SpecError(
            SpecIssue(path, "secretRef must be a mapping", "secretRef: {name: my-secret}")
        )
    try:
        return SecretRef.model_validate(dict(value))
    except ValidationError as exc:
        reason = "; ".join(str(e["msg"]) for e in exc.errors())
        raise SpecError(
            SpecIssue(path, f"invalid secretRef: {reason}", "give name or env")
        ) from None
