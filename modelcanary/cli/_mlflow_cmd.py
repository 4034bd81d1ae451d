"""``modelcanary mlflow-hook``: MLflow registry aliases start rollouts (run, register).

``run`` rolls each new challenger out on the embedded local runtime, or, with ``--cluster``
(implied by ``--kubeconfig``/``--context``), creates or patches the model's ModelRollout in
the cluster for the operator to run, and follows it (``modelcanary.integrations``). It logs
each webhook delivery it receives (and what the hook does) on stderr and serves
``GET /status`` on the receiver. ``register`` creates or updates the MLflow webhook, then has
MLflow send test deliveries to the hook; an MLflow server that fails, or a test delivery that
does not arrive, is one message and exit 2, within seconds.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..errors import SpecError, SpecIssue
from ._common import EXIT_OK, err_console, guarded, out_console

hook_app = typer.Typer(
    help="MLflow registry hook: setting the challenger alias on a version starts a rollout.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(hook_app, name="mlflow-hook")


def _secret(value: str | None) -> str | None:
    """``--secret``: the value of the environment variable of that name, else the value."""
    if value is None:
        return os.environ.get("MODELCANARY_WEBHOOK_SECRET") or None
    return os.environ.get(value, value) or None


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise SpecError(
            SpecIssue("--listen", f"{value!r} is not host:port", "write e.g. 127.0.0.1:8765")
        ) from None


SECRET_HELP = (
    "Webhook secret, or the name of an environment variable holding it "
    "(default: $MODELCANARY_WEBHOOK_SECRET)."
)
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _checked(poll_interval: float, namespace: str | None, cluster: bool) -> None:
    """Validate the options of ``run`` (SpecError naming the option: exit 2)."""
    if not poll_interval > 0:
        raise SpecError(
            SpecIssue("--poll-interval", f"{poll_interval:g} is not positive", "e.g. 10")
        )
    if namespace is not None and not cluster:
        raise SpecError(
            SpecIssue(
                "--namespace",
                "only applies in cluster mode",
                "add --cluster (or --kubeconfig/--context), or drop --namespace",
            )
        )
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        raise SpecError(
            SpecIssue(
                "--namespace",
                f"{namespace!r} is not a Kubernetes namespace name",
                "lowercase letters, digits and '-', at most 63, e.g. ml-models",
            )
        )


def _for_cluster(spec: Any, template: Path | None) -> None:
    """A ``--template`` the operator cannot run is bad input (exit 2 naming the field)."""
    if spec is None:
        return
    from ..integrations._mlflow_cluster import cluster_template

    try:
        cluster_template(spec)
    except SpecError as exc:
        raise SpecError(exc.issues, source=str(template)) from None


@hook_app.command("run")
@guarded
def run(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking/registry URI."),
    listen: str = typer.Option("127.0.0.1:8765", "--listen", help="Receiver address host:port."),
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    model: list[str] = typer.Option([], "--model", help="Registered model to watch (repeat)."),
    template: Path | None = typer.Option(
        None, "--template", help="Rollout template YAML (default: the model's rollout tag)."
    ),
    challenger_alias: str = typer.Option("challenger", "--challenger-alias"),
    champion_alias: str = typer.Option("champion", "--champion-alias"),
    poll_interval: float = typer.Option(10.0, "--poll-interval", help="Seconds between polls."),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        envvar="MODELCANARY_CLUSTER",
        help="Roll out in a Kubernetes cluster: the model's ModelRollout, run by the operator "
        "(implied by --kubeconfig/--context).",
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        "-n",
        help="Cluster mode: namespace of the ModelRollouts (default: the template's, else the "
        "kubeconfig context's, or the pod's).",
    ),
    kubeconfig: str | None = typer.Option(
        None,
        "--kubeconfig",
        help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    status_host: list[str] = typer.Option(
        [],
        "--status-host",
        help="Host name GET /status answers besides IP addresses and localhost, e.g. the "
        "Service DNS name (repeat; '*.example.com' matches subdomains, '*' any name).",
    ),
) -> None:
    """Receive registry webhooks and poll the registry; roll out each new challenger (on this
    machine, or in a cluster with --cluster). Each delivery is logged; GET /status on the
    receiver shows the rollouts in flight and the last deliveries and verdicts."""
    from .._files import load
    from ..integrations._mlflow_hook import RegistryHook

    spec = load(template) if template is not None else None  # bad template: exit 2 now
    cluster = cluster or kubeconfig is not None or context is not None
    _checked(poll_interval, namespace, cluster)
    host, port = _listen(listen)
    key = _secret(secret)
    rollouts, ns = None, "default"
    if cluster:
        from ..controller._cluster import ClusterRollouts  # lazy: kubernetes only when asked

        _for_cluster(spec, template)
        rollouts = ClusterRollouts.connect(kubeconfig=kubeconfig, context=context)
        # --namespace, else the template's, else the connection's (context's, or the pod's)
        ns = namespace or (spec.metadata.namespace if spec else None) or rollouts.namespace
    hook = RegistryHook(
        tracking_uri,
        secret=key,
        template=spec,
        models=model,
        challenger_alias=challenger_alias,
        champion_alias=champion_alias,
        poll_interval=poll_interval,
        host=host,
        port=port,
        on_outcome=lambda r: out_console.print(
            f"{escape(r.name)} v{r.version}: [bold]{r.outcome}[/] {escape(r.message)}"
        ),
        cluster=rollouts,
        namespace=ns,
        status_hosts=status_host,
    )
    _log_to_stderr()
    with hook:
        where = (
            f"webhooks on {hook.url} (status: GET {hook.url}/status), "
            if key
            else ("no secret: polling only, ")
        )
        runs = f"ModelRollouts in namespace {ns}" if cluster else "the local runtime"
        out_console.print(
            f"modelcanary mlflow hook: {where}polling every {poll_interval:g}s, "
            f"rolling out on {escape(runs)}"
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        out_console.print(
            "stopping (the operator carries on; a restarted hook follows again)"
            if cluster
            else "stopping (aborting rollouts in flight)"
        )
    raise typer.Exit(EXIT_OK)


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record (as logging's last-resort handler
    does), not the stream of the moment the handler was made: a command run twice in one
    process (tests, a notebook) must not log into a stream that was since closed."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """The hook's log lines (each delivery, each rollout's progress) on stderr, INFO and up."""
    hook_log = logging.getLogger("modelcanary.mlflow")
    if not any(getattr(h, "_modelcanary", False) for h in hook_log.handlers):
        handler = _StderrNow()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._modelcanary = True  # type: ignore[attr-defined]
        hook_log.addHandler(handler)
    hook_log.setLevel(logging.INFO)


_OPTIONS = {"tracking_uri": "--tracking-uri", "url": "--url", "secret": "--secret"}


@hook_app.command("register")
@guarded
def register_cmd(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking/registry URI."),
    url: str = typer.Option(..., "--url", help="Public URL of `mlflow-hook run`'s receiver."),
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    name: str = typer.Option("modelcanary", "--name", help="Webhook name in MLflow."),
    test: bool = typer.Option(
        True,
        "--test/--no-test",
        help="Have MLflow send test deliveries to --url once registered (default), so a hook "
        "that cannot be reached, or a different secret, fails now rather than silently.",
    ),
) -> None:
    """Create (or update) the MLflow webhook that notifies the hook of alias changes, then
    check that MLflow's test deliveries reach the hook (start `mlflow-hook run` first)."""
    from ..integrations._mlflow_register import TEST_DELIVERIES, register_webhook

    key = _secret(secret)
    if not key:
        raise SpecError(
            SpecIssue("--secret", "is required", "unsigned webhooks would let anyone roll out")
        )
    try:
        webhook_id = register_webhook(tracking_uri, url, key, name=name, test=test)
    except SpecError as exc:  # name the command's options, not the function's arguments
        issues = [SpecIssue(_OPTIONS.get(i.path, i.path), i.message, i.hint) for i in exc.issues]
        raise SpecError(issues) from None
    out_console.print(f"webhook {escape(name)} ({webhook_id}) -> {escape(url)}")
    if test:
        err_console.print(f"{TEST_DELIVERIES} test deliveries reached the hook")
    raise typer.Exit(EXIT_OK)
