"""Rollouts in a Kubernetes cluster: ``apply``, ``watch``, and cluster mode of the local commands.

``modelcanary apply FILE`` validates a ModelRollout and creates or patches the custom resource;
``modelcanary watch NAME`` follows it live until it is decided (exit codes as ``run``: 0
promoted, 1 rolled back, 3 anything else, 2 bad input). ``status``, ``history`` and the
manual actions (``promote``, ``abort``, ``retry``, ``approve``, ``pause``, ``resume``) keep
acting on local runs (``--workdir``) unless a cluster is selected: ``--cluster``,
``--kubeconfig FILE``, ``--context NAME`` or ``MODELCANARY_CLUSTER=1``; then they read the
resource's status or annotate it (``modelcanary.io/action``), and the operator applies it.

The cluster code lives in ``modelcanary.controller._cluster`` (on top of ``modelcanary.k8s``)
and is imported when a cluster command runs: ``modelcanary.cli`` never imports
``kubernetes``/``kopf`` itself (layer contract), and ``modelcanary --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_type_hints

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..errors import SpecError, SpecIssue
from ..spec import ModelRollout, RolloutStatus
from ..spec._phases import Action
from ._common import (
    EXIT_INCONCLUSIVE,
    check_cells,
    err_console,
    guarded,
    out_console,
    print_history,
    status_grid,
)
from ._run_cmd import exit_code

if TYPE_CHECKING:
    from ..controller._cluster import ClusterRollouts

NAME = typer.Argument(..., help="Rollout name (metadata.name).")
NAMESPACE = typer.Option("default", "--namespace", "-n", help="Rollout namespace.")
KUBECONFIG = typer.Option(
    None, "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."
)
CONTEXT = typer.Option(None, "--context", help="Kubeconfig context (default: the current one).")
CLUSTER = typer.Option(
    False,
    "--cluster",
    envvar="MODELCANARY_CLUSTER",
    help="Act on the ModelRollout resource in the cluster (implied by --kubeconfig/--context).",
)


def register(app: typer.Typer) -> None:
    """Add ``apply`` and ``watch``; give ``status``, ``history`` and the actions (registered
    before, by ``control_cmd``) a cluster mode."""
    app.command("apply")(apply)
    app.command("watch")(watch)
    remote: dict[str, Callable[..., None]] = {
        "status": cluster_status,
        "history": cluster_history,
        **{kind.value: cluster_action(kind.value) for kind in Action},
    }
    for info in app.registered_commands:
        if info.name in remote and info.callback is not None:
            info.callback = cluster_aware(info.callback, remote[info.name])
            if info.help:
                info.help += " In a cluster (--cluster/--kubeconfig/--context): the resource."


def connect_cluster(kubeconfig: str | None, context: str | None) -> ClusterRollouts:
    """``ClusterRollouts`` connected to the selected cluster (exit 2 on missing config); the
    kubectl plugin connects through it too, so both front ends share one connection path."""
    from ..controller._cluster import ClusterRollouts  # lazy: kubernetes only when asked for

    return ClusterRollouts.connect(kubeconfig=kubeconfig, context=context)


# -- cluster mode for the local commands ----------------------------------------------------
def cluster_aware(local: Callable[..., Any], remote: Callable[..., Any]) -> Callable[..., Any]:
    """``local`` plus ``--cluster/--kubeconfig/--context``: with any of them (or
    ``MODELCANARY_CLUSTER=1``) ``remote`` runs with the options it knows, else ``local``
    unchanged. The local command's own options stay as they are."""
    signature = inspect.signature(local, eval_str=True)
    hints = get_type_hints(local)
    extra = {
        "cluster": (bool, CLUSTER),
        "kubeconfig": (str | None, KUBECONFIG),
        "context": (str | None, CONTEXT),
    }
    params = list(signature.parameters.values())
    taken = {p.name for p in params}
    for pname, (kind, default) in extra.items():
        if pname not in taken:
            params.append(
                inspect.Parameter(
                    pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
                )
            )
            hints[pname] = kind
    remote_names = set(inspect.signature(remote).parameters)

    @functools.wraps(local)
    def command(**kwargs: Any) -> Any:
        cluster = kwargs.pop("cluster", False) if "cluster" not in taken else kwargs["cluster"]
        kubeconfig = kwargs.get("kubeconfig") if "kubeconfig" in taken else kwargs.pop("kubeconfig")
        context = kwargs.get("context") if "context" in taken else kwargs.pop("context")
        if cluster or kubeconfig or context:
            args = {k: v for k, v in kwargs.items() if k in remote_names}
            return remote(**args, kubeconfig=kubeconfig, context=context)
        return local(**kwargs)

    del command.__wrapped__  # typer must read the new signature, not the local one
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = hints
    doc = (local.__doc__ or "").strip()
    command.__doc__ = f"{doc} Local runs (--workdir), or a cluster with --cluster/--kubeconfig."
    return command


def _cluster_reader(
    kind: str, show: Callable[[str, ModelRollout, bool], None]
) -> Callable[..., None]:
    """The cluster mode of ``status``/``history``: read the resource, then
    ``show(namespace/name, rollout, as_json)``."""

    @guarded
    def command(
        name: str,
        namespace: str = "default",
        as_json: bool = False,
        kubeconfig: str | None = None,
        context: str | None = None,
    ) -> None:
        stored = connect_cluster(kubeconfig, context).require(name, namespace)
        show(f"{namespace}/{name}", stored.rollout, as_json)

    command.__name__ = f"cluster_{kind}"
    command.__doc__ = show.__doc__
    return command


def _show_status(where: str, rollout: ModelRollout, as_json: bool) -> None:
    """A rollout's status in the cluster (same output as for a local run)."""
    current = rollout.status or RolloutStatus()
    if as_json:
        typer.echo(json.dumps(current.to_dict(), indent=2))
        return
    out_console.print(_view(where, current, rollout.spec.analysis.threshold))


def _show_history(where: str, rollout: ModelRollout, as_json: bool) -> None:
    """One line per analysis interval of a rollout in the cluster."""
    print_history((rollout.status or RolloutStatus()).history, as_json)


cluster_status = _cluster_reader("status", _show_status)
cluster_history = _cluster_reader("history", _show_history)


def cluster_action(kind: str) -> Callable[..., None]:
    """The command that requests manual action ``kind`` (abort, promote...) on a rollout in
    the cluster: what ``modelcanary <kind> --cluster`` and ``kubectl modelcanary <kind>`` run."""

    @guarded
    def command(
        name: str,
        namespace: str = "default",
        reason: str = "",
        kubeconfig: str | None = None,
        context: str | None = None,
    ) -> None:
        rollouts = connect_cluster(kubeconfig, context)
        stamp = rollouts.act(name, namespace, kind, reason)
        err_console.print(
            f"{kind} requested for ModelRollout {escape(namespace)}/{escape(name)} (id {stamp}); "
            "the operator applies it at its next tick"
        )

    command.__name__ = f"cluster_{kind}"
    return command


# -- apply and watch ------------------------------------------------------------------------
@guarded
def apply(
    file: str = typer.Argument(..., help="ModelRollout YAML/JSON file (`-` = stdin)."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Namespace (default: metadata.namespace, else default)."
    ),
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
) -> None:
    """Validate a ModelRollout and create it in the cluster, or patch its spec to match."""
    from .._files import load

    rollout = load(file)
    if rollout.spec.router.provider == "local":
        raise SpecError(
            SpecIssue(
                "spec.router.provider",
                "'local' runs on this machine, not in a cluster",
                "run it with `modelcanary run FILE`, or set a mesh/ingress provider "
                "(istio, gatewayapi, nginx, ...) for the operator",
            ),
            source=file,
        )
    ns, outcome = connect_cluster(kubeconfig, context).apply(rollout, namespace)
    out_console.print(f"modelrollout {escape(ns)}/{escape(rollout.name)} {outcome}")


@guarded
def watch(
    name: str = NAME,
    namespace: str = NAMESPACE,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    interval: float = typer.Option(
        1.0, "--interval", help="Kept for scripts: the watch reports each change as it happens."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after this many s."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live display; print the result."),
) -> None:
    """Follow a rollout in the cluster live until it succeeds or fails.

    A Kubernetes watch on the resource (each status the operator writes is shown as it lands;
    an expired stream is resumed). Exit 0 promoted, 1 rolled back, 3 aborted / inconclusive /
    deleted / timeout, 2 unknown.
    """
    if interval <= 0:
        raise SpecError(SpecIssue("--interval", f"{interval} is not positive", "e.g. 1"))
    if timeout is not None and timeout <= 0:
        raise SpecError(SpecIssue("--timeout", f"{timeout} is not positive", "e.g. 600"))
    rollouts = connect_cluster(kubeconfig, context)
    stored = rollouts.require(name, namespace)
    threshold = stored.rollout.spec.analysis.threshold
    where = f"{namespace}/{name}"
    status = stored.rollout.status or RolloutStatus()
    changes = rollouts.watch(name, namespace, timeout=timeout)

    def follow(show: Callable[[], None]) -> None:
        nonlocal status
        for current in changes:
            status = current.rollout.status or RolloutStatus()
            show()
            if status.phase.traits.decided:
                return

    try:
        if quiet:
            follow(lambda: None)
        else:
            with Live(
                _view(where, status, threshold), console=out_console, refresh_per_second=4
            ) as live:
                follow(lambda: live.update(_view(where, status, threshold)))
    except KeyboardInterrupt:
        err_console.print("[yellow]stopped watching[/] (the rollout goes on in the cluster)")
        raise typer.Exit(EXIT_INCONCLUSIVE) from None
    finally:
        changes.close()
    gone = changes.deleted
    if gone:
        err_console.print(f"[yellow]ModelRollout {escape(where)} was deleted[/]")
        raise typer.Exit(EXIT_INCONCLUSIVE)
    style = "green" if status.outcome == "promoted" else "red"
    if not status.phase.traits.decided:
        err_console.print(f"[yellow]timeout[/]: still {escape(status.phase)} after {timeout}s")
        raise typer.Exit(EXIT_INCONCLUSIVE)
    out_console.print(
        f"[bold {style}]{status.outcome or status.phase}[/]: {escape(status.message)}"
    )
    raise typer.Exit(exit_code(status))


def _view(where: str, status: RolloutStatus, threshold: int) -> Group:
    head = status_grid(where, status, threshold)
    head.add_row("[bold]outcome[/]", escape(status.outcome or "-"), "", "")
    checks = Table("metric", "value", "min", "max", "verdict", "why", expand=True)
    last = status.history[-1] if status.history else None
    for check in last.checks if last else []:
        checks.add_row(*check_cells(check))
    return Group(head, checks, f"[dim]{escape(status.message)}[/]")


__all__ = ["apply", "cluster_aware", "register", "watch"]
