"""``modelcanary rollback NAME --to VERSION``: a fast, analysed rollout back to an earlier version.

The named version (one that served as champion: ``status.champions``, see
:mod:`modelcanary.rollout._rollback`) becomes the challenger of a new rollout against the
current champion, with a short plan (one analysis interval at the plan's largest weight, then
a direct switch). The analysis stays on: a broken old version is rolled back, not promoted.
The request (version, who asked, why) is the ``modelcanary.io/rollback`` annotation of the new
spec; the rollout's first tick writes it into ``status.history`` as a ``rollback`` entry.

- Local runs (``--workdir``): the rolled-back spec is started as a detached runner, as
  ``retry`` does (refused while a runner still runs the rollout).
- A cluster (``--cluster``/``--kubeconfig``/``--context``, or ``kubectl modelcanary
  rollback``): the ModelRollout's spec is patched (champion, challenger, plan, annotation);
  the operator starts the rollout at its next tick.

``--dry-run`` prints the rolled-back ModelRollout instead (to commit it, with GitOps: Argo CD
or Flux would otherwise revert the patch). Exit 0 started, 2 bad input (an unknown version,
listing the known ones; a rollout under way; a targetRef rollout), 3 a local runner died at
start.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..spec import ModelRollout
from ..spec._plan import stages
from ._cluster_cmd import cluster_aware, connect_cluster
from ._common import err_console, guarded, out_console
from ._control_cmd import NAME, NAMESPACE, WORKDIR, _find
from ._runner import RunOptions, already_running, read_runner, start_detached, start_lock

TO = typer.Option(
    ...,
    "--to",
    help="The version to roll back to: one that served as champion, by its full source "
    "(models:/fraud/4, an image, a URL) or its version number, tag or alias (4, v4).",
    show_default=False,
)
REASON = typer.Option("", "--reason", help="Why (kept in the history entry).")
BY = typer.Option(
    None, "--by", help="Who asks (default: your login name); kept in the history entry."
)
DRY_RUN = typer.Option(
    False,
    "--dry-run",
    help="Print the rolled-back ModelRollout (YAML) and change nothing, e.g. to commit it.",
)


def register(app: typer.Typer) -> None:
    """Add ``rollback`` (local runs, or the cluster with --cluster/--kubeconfig/--context)."""
    app.command("rollback")(cluster_aware(rollback, cluster_rollback))


def requester(by: str | None) -> str:
    """Who asks: ``--by``, else the login name."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unknown uid)
        return "unknown"


def describe(after: ModelRollout) -> str:
    """One line saying what the rollback does."""
    assert after.spec.challenger is not None and after.spec.champion is not None
    plan = stages(after.spec.analysis)
    stage = plan[-1].describe() if plan else "no stage"
    return (
        f"rollback of {after.metadata.namespace or 'default'}/{after.name} to "
        f"{after.spec.challenger.source} (champion {after.spec.champion.source}): one analysis "
        f"interval ({after.spec.analysis.interval}) at {stage}, then a direct switch"
    )


def _plan(rollout: ModelRollout, to: str, reason: str, by: str | None) -> ModelRollout:
    from ..rollout._rollback import plan_rollback

    new, _ = plan_rollback(rollout, to, requester(by), reason, datetime.now(UTC))
    return new


def _print_yaml(rollout: ModelRollout) -> None:
    from ..engine._actions import without_actions
    from ..spec._validate import to_yaml

    typer.echo(to_yaml(without_actions(rollout)), nl=False)


def committable(rollout: ModelRollout, namespace: str) -> dict[str, Any]:
    """The rolled-back resource as a file to commit (GitOps): no server-set metadata, no
    manual-action or last-applied annotations."""
    from ..controller._cluster import resource
    from ..engine._actions import without_actions

    doc = resource(without_actions(rollout), namespace)
    meta = doc["metadata"]
    for key in ("resourceVersion", "uid", "generation", "creationTimestamp"):
        meta.pop(key, None)
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if "last-applied" not in k}
    meta.pop("annotations", None)
    if notes:
        meta["annotations"] = notes
    return doc


@guarded
def rollback(
    name: str = NAME,
    to: str = TO,
    namespace: str = NAMESPACE,
    workdir: Path = WORKDIR,
    reason: str = REASON,
    by: str | None = BY,
    dry_run: bool = DRY_RUN,
) -> None:
    """Roll back to an earlier version: a fast, analysed rollout with that version as the
    challenger against the current champion (one interval, then a direct switch)."""
    with start_lock(workdir, namespace, name):
        _, stored = _find(name, namespace, workdir)
        runner = read_runner(workdir, namespace, name)
        new = _plan(stored.rollout, to, reason, by)
        if dry_run:
            _print_yaml(new)
            return
        if runner is not None and runner.alive:
            raise typer.Exit(already_running(workdir, namespace, name, runner))
        err_console.print(escape(describe(new)))
        code = start_detached(new, workdir, runner.options if runner else RunOptions())
    raise typer.Exit(code)


@guarded
def cluster_rollback(
    name: str,
    to: str,
    namespace: str = "default",
    reason: str = "",
    by: str | None = None,
    dry_run: bool = False,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> None:
    """The cluster mode of ``rollback`` (and ``kubectl modelcanary rollback``): patch the
    ModelRollout's spec; the operator starts the rollback at its next tick."""
    from ..controller._rollback import request_rollback

    rollouts = connect_cluster(kubeconfig, context)
    stored = rollouts.require(name, namespace)
    new = _plan(stored.rollout, to, reason, by)
    if dry_run:
        import yaml

        typer.echo(yaml.safe_dump(committable(new, namespace), sort_keys=False), nl=False)
        return
    request_rollback(stored, new, namespace, kubeconfig, context)
    err_console.print(escape(describe(new)))
    out_console.print(
        f"modelrollout {escape(namespace)}/{escape(name)} rolling back; the operator starts it "
        f"at its next tick (follow it: modelcanary watch {escape(name)} -n {escape(namespace)})"
    )


__all__ = ["cluster_rollback", "register", "rollback"]
