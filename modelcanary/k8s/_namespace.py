"""The namespace a connection works in when none is given, as ``kubectl`` picks it.

In a pod (the in-cluster configuration :func:`~modelcanary.k8s._client.load_api_client` uses
there): the service account's namespace file. Otherwise: the ``namespace`` of the kubeconfig
context (``context``, else the current one). ``default`` when neither says.
"""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes.config

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    service_account: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """The namespace of the pod's service account or of the kubeconfig context."""
    explicit = kubeconfig is not None or context is not None
    if not explicit and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            return service_account.read_text(encoding="utf-8").strip() or "default"
        except OSError:
            return "default"
    try:
        contexts, active = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig or os.environ.get("KUBECONFIG") or None
        )
    except (kubernetes.config.ConfigException, OSError, TypeError, ValueError):
        return "default"  # load_api_client reports the unusable configuration
    chosen = active
    if context:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"
