"""kopf handlers for ModelRollout (``modelcanary.io/v1alpha1``, plural ``modelrollouts``).

- create / update / resume: one engine tick at once (a spec edit or a manual-action
  annotation such as ``modelcanary.io/action: abort`` is acted on without waiting);
- a short fixed-interval timer (``tick_seconds``, default 2 s) ticks each rollout only when
  its own next tick is due (``next_delay``: 1 s while waiting for readiness or moving traffic,
  the analysis interval otherwise), so one operator serves rollouts of any interval;
- delete (kopf adds the finalizer ``modelcanary.io/finalizer``): ticks with
  ``Stored.deleted`` until the engine has reverted traffic to the champion (Terminating);
- errors: retryable ones (API conflict, router/workload/provider outage) become
  ``kopf.TemporaryError(delay)``; a spec the operator cannot use becomes ``kopf.PermanentError``
  plus the status condition ``SpecValid=False`` whose message says what to fix.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..errors import ConflictError, ModelCanaryError, SpecError
from ..spec._phases import Phase
from ._runtime import OperatorRuntime, spec_message

GROUP, VERSION, PLURAL = "modelcanary.io", "v1alpha1", "modelrollouts"
FINALIZER = "modelcanary.io/finalizer"
KOPF_PREFIX = "operator.modelcanary.io"
"""Annotation prefix of kopf's own bookkeeping (handler progress, last handled spec)."""

log = logging.getLogger("modelcanary.controller")


def settings(base: kopf.OperatorSettings | None = None) -> kopf.OperatorSettings:
    """Operator settings: finalizer and kopf's bookkeeping under modelcanary names (in
    annotations, so the CRD's status schema stays ours) and kopf's own Events only for
    warnings. Peering is chosen when the operator starts (see ``controller.operator``)."""
    out = base if base is not None else kopf.OperatorSettings()
    out.persistence.finalizer = FINALIZER
    out.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    out.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    out.posting.level = logging.WARNING
    return out


def make_registry(
    runtime: OperatorRuntime,
    *,
    tick_seconds: float = 2.0,
    retry_delay: float = 5.0,
    spec_retry_delay: float = 60.0,
    login: kopf.ConnectionInfo,
) -> kopf.OperatorRegistry:
    """A kopf registry whose handlers drive ``runtime`` (one per operator: tests run several).

    ``login``: the API connection (from :func:`connection_info`), the same the adapters use.
    """
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    def drive(name: str, namespace: str) -> None:
        try:
            runtime.tick(name, namespace)
        except SpecError as exc:
            runtime.report_spec_error(name, namespace, exc)
            runtime.postpone(name, namespace, spec_retry_delay)
            raise kopf.PermanentError(f"spec cannot be used: {spec_message(exc)}") from exc
        except ConflictError as exc:  # a concurrent write (kopf's own, a user's): re-read soon
            raise kopf.TemporaryError(f"conflict: {exc}", delay=min(1.0, retry_delay)) from exc
        except ModelCanaryError as exc:
            runtime.postpone(name, namespace, retry_delay)
            raise kopf.TemporaryError(f"{type(exc).__name__}: {exc}", delay=retry_delay) from exc

    @kopf.on.create(*resource, registry=registry, id="tick-on-create")
    def on_create(name: str, namespace: str | None, **_: Any) -> None:
        drive(name, namespace or "default")

    @kopf.on.update(*resource, registry=registry, id="tick-on-update")
    def on_update(name: str, namespace: str | None, **_: Any) -> None:
        drive(name, namespace or "default")

    @kopf.on.resume(*resource, registry=registry, id="tick-on-resume")
    def on_resume(name: str, namespace: str | None, **_: Any) -> None:
        drive(name, namespace or "default")

    @kopf.timer(*resource, registry=registry, id="tick", interval=tick_seconds)
    def on_timer(name: str, namespace: str | None, **_: Any) -> None:
        ns = namespace or "default"
        if runtime.due(name, ns):
            drive(name, ns)

    @kopf.on.delete(*resource, registry=registry, id="revert-on-delete")
    def on_delete(name: str, namespace: str | None, **_: Any) -> None:
        ns = namespace or "default"
        try:
            for _attempt in range(5):
                result = runtime.tick(name, ns)
                if result.missing or result.phase == Phase.TERMINATING:
                    break
        except SpecError as exc:  # never keep a broken resource forever: let it go
            log.warning("%s/%s deleted without revert: %s", ns, name, spec_message(exc))
        except ModelCanaryError as exc:
            raise kopf.TemporaryError(f"revert on delete: {exc}", delay=retry_delay) from exc
        finally:
            runtime.forget(name, ns)

    @kopf.on.login(registry=registry)
    def on_login(**_: Any) -> kopf.ConnectionInfo:
        return login

    return registry


def connection_info(api: Any) -> kopf.ConnectionInfo:
    """kopf's connection from a ``kubernetes.client.ApiClient`` (as ``modelcanary.k8s``
    configures it from a kubeconfig, a context or the in-cluster service account)."""
    config = api.configuration
    header = ""
    for key in ("BearerToken", "authorization"):
        try:
            header = config.get_api_key_with_prefix(key) or ""
        except Exception:  # pragma: no cover - depends on the client's auth plugins
            header = ""
        if header:
            break
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )
