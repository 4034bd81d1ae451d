"""``modelcanary operator run``: the Kubernetes operator (kopf) driving every ModelRollout.

The operator code is ``modelcanary.controller`` (the only package importing ``kopf``); it is
imported when the command runs, so the rest of the command line never loads kopf.
"""

from __future__ import annotations

import logging

import typer

from ..errors import SpecError, SpecIssue
from ._common import err_console, guarded

operator_app = typer.Typer(
    name="operator",
    help="Run the Kubernetes operator that drives ModelRollout resources.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``operator`` command group."""
    app.add_typer(operator_app, name="operator")


@operator_app.command("run")
@guarded
def run(
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="Watch this namespace (repeat for several)."
    ),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", "-A", help="Watch every namespace (cluster-wide)."
    ),
    peering: str | None = typer.Option(
        None,
        "--peering",
        help="kopf peering name: among replicas only one operator is active (needs kopf's "
        "KopfPeering/ClusterKopfPeering CRDs). Without it the operator runs standalone.",
    ),
    priority: int | None = typer.Option(
        None,
        "--priority",
        help="Peering priority (highest live one works; default: random, so replicas never tie).",
    ),
    liveness: str | None = typer.Option(
        None, "--liveness", help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz."
    ),
    metrics_server: str | None = typer.Option(
        None,
        "--metrics-server",
        envvar="MODELCANARY_METRICS_SERVER",
        help="Prometheus address for rollouts without spec.metricsProvider.",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        envvar="MODELCANARY_METRICS_PORT",
        help="Serve the operator's self-metrics on this port (/metrics).",
    ),
    tick_seconds: float = typer.Option(
        2.0,
        "--tick-seconds",
        envvar="MODELCANARY_TICK_SECONDS",
        help="Timer period; each rollout is still ticked at its own analysis interval.",
    ),
    sharding: bool = typer.Option(
        False,
        "--sharding",
        help="Share the rollouts among operator replicas: each holds a Lease of --shard-group and "
        "ticks its rendezvous-hash share; a dead replica's share moves at lease expiry "
        "(also MODELCANARY_SHARDING=true). Not with --peering.",
    ),
    shard_group: str = typer.Option(
        "modelcanary-operator",
        "--shard-group",
        help="Lease group of the replicas that share the rollouts (with --sharding).",
    ),
    kubeconfig: str | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube)."
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run the operator until interrupted (SIGINT/SIGTERM)."""
    if bool(namespace) == all_namespaces:
        raise SpecError(
            SpecIssue(
                "--namespace",
                "give either --namespace NS (repeatable) or --all-namespaces",
                "e.g. `modelcanary operator run --namespace models` or `... --all-namespaces`",
            )
        )
    if tick_seconds <= 0:
        raise SpecError(SpecIssue("--tick-seconds", f"{tick_seconds} is not positive", "e.g. 2"))
    if sharding and peering:
        raise SpecError(
            SpecIssue(
                "--sharding",
                "shares the rollouts among replicas, while --peering keeps one replica active",
                "give one of them: --sharding to scale out, --peering for a standby",
            )
        )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from ..controller._operator import OperatorOptions, run_operator  # lazy: kopf, kubernetes

    options = OperatorOptions(
        namespaces=tuple(namespace),
        all_namespaces=all_namespaces,
        peering=peering,
        priority=priority,
        liveness=liveness,
        tick_seconds=tick_seconds,
        metrics_server=metrics_server,
        metrics_port=metrics_port,
        kubeconfig=kubeconfig,
        context=context,
        sharding=sharding,
        shard_group=shard_group,
    )
    where = "all namespaces" if all_namespaces else ", ".join(namespace)
    err_console.print(f"modelcanary operator watching {where}")
    run_operator(options)
