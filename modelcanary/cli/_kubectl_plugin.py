"""``kubectl modelcanary``: modelcanary's kubectl plugin (console script ``kubectl-modelcanary``).

kubectl runs any ``kubectl-<name>`` on the ``PATH`` as ``kubectl <name>``, as Argo Rollouts'
``kubectl argo rollouts``. The plugin is a thin front of the command line's cluster mode
(``modelcanary.cli._cluster_cmd``, on ``modelcanary.controller._cluster.ClusterRollouts``):

- ``get NAME``: the rollout and a tree of the objects it owns or uses, with their status
  (:mod:`.kubectl_tree`); ``-o json|yaml`` for scripts;
- ``status NAME`` (``--watch`` follows it to the decision, exit 0 promoted / 1 rolled back /
  3 otherwise), ``history NAME``: the same output as ``modelcanary status|history --cluster``;
- ``promote|abort|retry|approve|pause|resume NAME``: the manual-action annotation the operator
  applies at its next tick.
- ``rollback NAME --to VERSION``: a fast, analysed rollout back to a version that served as
  champion (``modelcanary rollback --cluster``, :mod:`._rollback_cmd`).

kubectl's conventions: ``-n/--namespace`` (default: the namespace of the kubeconfig context,
else ``default``), ``--context``, ``--kubeconfig`` (default ``$KUBECONFIG``, else
``~/.kube/config``, else the pod's service account). kubectl passes a plugin none of its own
flags, so the plugin reads them itself. Bad input (a malformed name, an unknown rollout, no
usable cluster configuration, an unknown option) exits 2 with the fix, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from .. import __version__
from ..errors import SpecError, SpecIssue
from ..spec._rollout import NAME_PATTERN
from . import _cluster_cmd as cluster_cmd
from ._common import guarded

app = typer.Typer(
    name="kubectl modelcanary",
    help="Inspect and steer modelcanary ModelRollouts in a cluster (a kubectl plugin, as "
    "`kubectl argo rollouts`): get, status, history, promote, abort, retry, approve, pause, "
    "resume, rollback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ACTION_HELP = {
    "promote": "Promote the challenger now, skipping the remaining analysis (refused while the "
    "last analysis failed).",
    "abort": "Abort the rollout: all traffic back to the champion (outcome aborted).",
    "retry": "Start a Failed rollout's analysis again.",
    "approve": "Open the current manual gate or pause step once.",
    "pause": "Pause the rollout where it is (no analysis, weights held).",
    "resume": "Resume a paused rollout.",
}
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Namespace of a pod's service account (kubectl's default inside a cluster)."""

NAME = typer.Argument(..., help="ModelRollout name (metadata.name).", show_default=False)
NAMESPACE = typer.Option(
    None,
    "--namespace",
    "-n",
    help="Namespace (default: the kubeconfig context's namespace, else default).",
    show_default=False,
)
KUBECONFIG = typer.Option(
    None,
    "--kubeconfig",
    help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
    show_default=False,
)
CONTEXT = typer.Option(
    None, "--context", help="Kubeconfig context (default: the current one).", show_default=False
)


class Output(StrEnum):
    """``get -o``: the tree for a person, or data for a script."""

    tree = "tree"
    json = "json"
    yaml = "yaml"


def main() -> None:
    """Console-script entry: run the plugin; usage errors exit 2 (click's convention)."""
    sys.exit(app(prog_name="kubectl modelcanary", standalone_mode=True))


# -- the rollout asked for ----------------------------------------------------------------------
def target(name: str, namespace: str | None, kubeconfig: str | None, context: str | None) -> str:
    """The namespace to use, after checking the name and namespace (SpecError: exit 2)."""
    issues: list[SpecIssue] = []
    if not _dns_label(name):
        issues.append(
            SpecIssue(
                "NAME",
                f"{name!r} is not a ModelRollout name",
                "lowercase letters, digits and '-', starting and ending with a letter or digit, "
                "at most 63 characters (e.g. fraud-model); list them with "
                "`kubectl get modelrollouts`",
            )
        )
    ns = namespace or context_namespace(kubeconfig, context) or "default"
    if not _dns_label(ns):
        issues.append(
            SpecIssue(
                "--namespace",
                f"{ns!r} is not a namespace name",
                "lowercase letters, digits and '-', at most 63 characters (e.g. ml)",
            )
        )
    if issues:
        raise SpecError(issues)
    return ns


def _dns_label(value: str) -> bool:
    return 0 < len(value) <= 63 and re.fullmatch(NAME_PATTERN, value) is not None


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace of the kubeconfig context kubectl would use, or None.

    Files as kubectl merges them: ``kubeconfig``, else every file of ``$KUBECONFIG`` (the first
    to set ``current-context`` and the first to define a context win), else
    ``~/.kube/config``; inside a pod with no kubeconfig, the service account's namespace.
    Unreadable files are skipped: connecting reports them.
    """
    env = os.environ.get("KUBECONFIG", "")
    if kubeconfig:
        paths = [kubeconfig]
    elif env:
        paths = [p for p in env.split(os.pathsep) if p]
    else:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            try:
                return SA_NAMESPACE.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
        paths = [str(Path.home() / ".kube" / "config")]
    import yaml  # lazy: `--help` does not load PyYAML

    current = context
    contexts: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            doc = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])
        for item in doc.get("contexts") or []:
            if isinstance(item, dict) and isinstance(item.get("context"), dict):
                contexts.setdefault(str(item.get("name")), item["context"])
    chosen: dict[str, Any] = contexts.get(current or "", {})
    namespace = chosen.get("namespace")
    return str(namespace) if namespace else None


# -- commands ---------------------------------------------------------------------------------
@app.command(
    "get",
    help="The rollout and a tree of the objects it owns or uses, with their status.\n\n"
    "Header: phase, message, router, the traffic the routing objects put in force, analysis "
    "counters. Tree: champion and challenger Deployments, Services, routing objects, "
    "autoscaler copies, ConfigMap/Secret copies; OWNED says whether deleting the rollout "
    "deletes it.",
)
@guarded
def get(
    name: str = NAME,
    namespace: str | None = NAMESPACE,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    output: Output = typer.Option(Output.tree, "--output", "-o", help="tree, json or yaml."),
) -> None:
    """The rollout and a tree of the objects it owns or uses, with their status."""
    from ._kubectl_tree import build, render

    ns = target(name, namespace, kubeconfig, context)
    rollouts = cluster_cmd.connect_cluster(kubeconfig, context)  # the cluster mode's connection
    stored = rollouts.require(name, ns)
    tree = build(stored.rollout, rollouts.objects, rollouts.list_objects)
    if output is Output.json:
        typer.echo(json.dumps(tree.to_dict(), indent=2))
    elif output is Output.yaml:
        import yaml

        typer.echo(yaml.safe_dump(tree.to_dict(), sort_keys=False), nl=False)
    else:
        typer.echo(render(tree))


@app.command(
    "status",
    help="Phase, weights, failed checks and the last interval's checks.\n\n"
    "The same output as `modelcanary status NAME --cluster`; with --watch, live until decided.",
)
@guarded
def status(
    name: str = NAME,
    namespace: str | None = NAMESPACE,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    watch: bool = typer.Option(
        False,
        "--watch",
        "-w",
        help="Follow it until it is decided (exit 0 promoted, 1 rolled "
        "back, 3 aborted / inconclusive / deleted / timeout).",
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="With --watch: give up after this many seconds (exit 3)."
    ),
) -> None:
    """Phase, weights, failed checks and the last interval's checks."""
    ns = target(name, namespace, kubeconfig, context)
    if watch:
        cluster_cmd.watch(
            name=name,
            namespace=ns,
            kubeconfig=kubeconfig,
            context=context,
            interval=1.0,
            timeout=timeout,
            quiet=as_json,
        )
        return
    cluster_cmd.cluster_status(name, ns, as_json, kubeconfig, context)


@app.command("history")
@guarded
def history(
    name: str = NAME,
    namespace: str | None = NAMESPACE,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    as_json: bool = typer.Option(False, "--json", help="Print the history records as JSON."),
) -> None:
    """One line per analysis interval: time, weight, mirror, verdict, message."""
    ns = target(name, namespace, kubeconfig, context)
    cluster_cmd.cluster_history(name, ns, as_json, kubeconfig, context)


@app.command(
    "rollback",
    help="Roll back to an earlier version: a fast, analysed rollout with that version (one "
    "that served as champion) as the challenger against the current champion: one analysis "
    "interval, then a direct switch. The operator starts it at its next tick; `history` shows "
    "who asked.",
)
@guarded
def rollback(
    name: str = NAME,
    to: str = typer.Option(
        ...,
        "--to",
        help="The version: its full source (models:/fraud/4, an image) or its version number, "
        "tag or alias (4, v4).",
        show_default=False,
    ),
    namespace: str | None = NAMESPACE,
    kubeconfig: str | None = KUBECONFIG,
    context: str | None = CONTEXT,
    reason: str = typer.Option("", "--reason", help="Why (kept in the history entry)."),
    by: str | None = typer.Option(None, "--by", help="Who asks (default: your login name)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the rolled-back ModelRollout (YAML); change nothing."
    ),
) -> None:
    """Roll back to an earlier version (fast, analysed)."""
    from ._rollback_cmd import cluster_rollback

    ns = target(name, namespace, kubeconfig, context)
    cluster_rollback(
        name=name,
        to=to,
        namespace=ns,
        reason=reason,
        by=by,
        dry_run=dry_run,
        kubeconfig=kubeconfig,
        context=context,
    )


def _action(kind: str) -> None:
    act = cluster_cmd.cluster_action(kind)  # what `modelcanary <kind> --cluster` runs

    @guarded
    def command(
        name: str = NAME,
        namespace: str | None = NAMESPACE,
        kubeconfig: str | None = KUBECONFIG,
        context: str | None = CONTEXT,
        reason: str = typer.Option("", "--reason", help="Why (kept with the action)."),
    ) -> None:
        ns = target(name, namespace, kubeconfig, context)
        act(name=name, namespace=ns, reason=reason, kubeconfig=kubeconfig, context=context)

    command.__name__ = kind
    command.__doc__ = ACTION_HELP[kind] + " Applied by the operator at its next tick."
    app.command(kind)(command)


for _kind in ACTION_HELP:
    _action(_kind)


@app.command("version")
def version() -> None:
    """Print the modelcanary version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    main()
