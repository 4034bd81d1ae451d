"""The cluster-mode hook's follower: one challenger version, from apply to verdict.

A :class:`Follower` creates or patches the model's ModelRollout (``mlflow_cluster``), then
follows it with the Kubernetes watch API (``ClusterRollouts.watch``): each status the operator
writes is logged to the version's MLflow run as it comes (``RunLog``) and each change of it
to the hook's log (``ProgressLog``: stage, intervals, waits, verdict), and once the operator
has decided, the verdict is written to the registry: once. A version that has a verdict is left
alone, the champion alias is moved only when it does not point to the version already, and a
restarted hook re-attaches (``attach``) from what is stored: the resource's annotations and
the version's ``modelcanary.run_id`` tag.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..errors import ModelCanaryError, SpecError
from ..ports import Stored
from ..spec import ModelRollout, Phase, RolloutStatus
from ._mlflow_cluster import (
    MODEL_ANNOTATION,
    SINCE_ANNOTATION,
    VERSION_ANNOTATION,
    ClusterTarget,
    build_cluster_rollout,
    marks,
    millis,
    newest_stamp,
)
from ._mlflow_policy import (
    REASON_TAG,
    RUN_TAG,
    VERDICT_TAG,
    Outcome,
    OwnChanges,
    alias_version,
    apply_verdict,
    set_tag,
    slug,
    template_for,
    version_tags,
)
from ._mlflow_progress import ProgressLog
from ._mlflow_runs import RunLog, stamp_millis

log = logging.getLogger("modelcanary.mlflow")


class Follower:
    """Rolls out one challenger version in the cluster and follows it to the verdict.

    ``act("abort", why)`` asks the operator to abort (the verdict then comes from the status);
    ``supersede(why)`` stops following because a newer challenger takes the resource over;
    ``stop()`` stops following and leaves the rollout to the operator (a restarted hook
    resumes it).
    """

    def __init__(
        self,
        target: ClusterTarget,
        client: Any,
        name: str,
        version: str,
        own: OwnChanges,
        *,
        attach_only: bool = False,
        progress: ProgressLog | None = None,
    ) -> None:
        self.target = target
        self.progress = progress or ProgressLog(name, version)
        """Logs each change of the status the operator writes (stage, intervals, verdict)."""
        self.client = client
        self.name = name
        self.version = version
        self.own = own
        self.attach_only = attach_only
        self.resource = slug(name)
        self.uri = f"models:/{name}/{version}"
        self.superseded: str | None = None
        self.stopped = False
        self._abort: str | None = None
        self._applied = False
        self._watch: Any = None
        self._lock = threading.Lock()

    # -- requests from the hook (any thread) --------------------------------------------
    def act(self, kind: str, reason: str) -> None:
        """Abort the rollout in the cluster (once it was applied; else as soon as it is)."""
        with self._lock:
            self._abort = reason
            applied = self._applied
        if applied and kind == "abort":
            self._send_abort(reason)

    def supersede(self, reason: str) -> None:
        """Stop following: a newer challenger version takes the resource over."""
        with self._lock:
            self.superseded = reason
            watch = self._watch
        if watch is not None:
            watch.close()

    def stop(self) -> None:
        """Stop following; the operator carries on (a restarted hook picks it up)."""
        with self._lock:
            self.stopped = True
            watch = self._watch
        if watch is not None:
            watch.close()

    # -- the work (the follower's thread) -----------------------------------------------
    def run(self) -> Outcome | None:
        """Attach to the rollout of this version, or start it; follow it to the verdict.
        None when stopped (or, ``attach_only``, when there was nothing to attach to)."""
        ns = self.target.namespace
        stored = self.target.rollouts.get(self.resource, ns)
        attached = self._attach(stored)
        if attached is None:
            if self.attach_only:
                return None
            started = self._start(stored)
            if isinstance(started, Outcome):
                return started
            attached = started
        run, since = attached
        with self._lock:
            self._applied = True
            pending = self._abort
        if pending is not None:
            self._send_abort(pending)
        return self._follow(run, since)

    def _attach(self, stored: Stored | None) -> tuple[RunLog, int] | None:
        """The run and the ``since`` mark of a rollout of this version already applied and
        still undecided (the hook restarted), or None."""
        notes = marks(stored)
        if notes.get(MODEL_ANNOTATION) != self.name:
            return None
        if notes.get(VERSION_ANNOTATION) != self.version:
            return None
        run_id = version_tags(self.client, self.name, self.version).get(RUN_TAG)
        run = RunLog.reopen(self.client, run_id) if run_id else None
        if run is None:
            return None
        log.info("%s v%s: following its rollout again", self.name, self.version)
        return run, millis(notes.get(SINCE_ANNOTATION))

    def _start(self, stored: Stored | None) -> tuple[RunLog, int] | Outcome:
        """Create or patch the model's ModelRollout for this version (and its run)."""
        target, ns = self.target, self.target.namespace
        champion = alias_version(self.client, self.name, target.champion_alias)
        if champion is None or champion == self.version:
            why = (
                f"no {target.champion_alias!r} alias"
                if champion is None
                else "already the champion"
            )
            return self._error(why)
        if stored is not None and marks(stored).get(MODEL_ANNOTATION) != self.name:
            return self._error(
                f"ModelRollout {ns}/{self.resource} exists and is not the hook's rollout of "
                f"{self.name!r} (fix: delete or rename it)"
            )
        status = stored.rollout.status if stored is not None else None
        since = newest_stamp(status)
        try:
            template = template_for(self.client, self.name, target.template)
            rollout = build_cluster_rollout(
                template,
                self.name,
                champion,
                self.version,
                namespace=ns,
                since=since,
                tracking_uri=target.tracking_uri,
            )
        except SpecError as exc:
            return self._error(str(exc))
        run = RunLog.create(
            self.client,
            self.name,
            self.version,
            rollout,
            resource=f"{ns}/{self.resource}",
            experiment=target.experiment,
        )
        set_tag(self.client, self.name, self.version, RUN_TAG, run.run_id, self.own)
        try:
            target.rollouts.apply(rollout, ns)
            if (
                status is not None
                and status.challenger == self.uri
                and status.phase == Phase.FAILED
            ):
                # the same revision failed before: the operator restarts it only on retry
                target.rollouts.act(self.resource, ns, "retry", f"mlflow hook: v{self.version}")
        except ModelCanaryError as exc:
            transient = bool(getattr(exc, "transient", False))
            self.client.set_terminated(run.run_id, "FAILED")
            if transient:
                raise  # nothing decided: the next poll tries again
            return self._error(f"cannot apply ModelRollout {ns}/{self.resource}: {exc}")
        log.info("%s v%s: applied ModelRollout %s/%s", self.name, self.version, ns, self.resource)
        return run, millis(since)

    def _follow(self, run: RunLog, since: int) -> Outcome | None:
        """Follow the resource until the operator decided (or we are told to stop)."""
        rollouts, ns = self.target.rollouts, self.target.namespace
        while True:
            try:
                watch = rollouts.watch(self.resource, ns)
            except SpecError:  # gone before we could follow it
                return self._gone(run)
            with self._lock:
                self._watch = watch
                quit_now = self.stopped or self.superseded is not None
            if quit_now:
                watch.close()
            try:
                for stored in watch:
                    if self.stopped or self.superseded is not None:
                        break
                    since, decided = self._observe(run, stored, since)
                    if decided is not None:
                        return self._decide(run, stored.rollout, decided)
            finally:
                watch.close()
            if self.stopped:
                return None
            if self.superseded is not None:
                return self._supersede(run, since)
            if rollouts.get(self.resource, ns) is None:
                return self._gone(run)

    def _observe(self, run: RunLog, stored: Stored, since: int) -> tuple[int, RolloutStatus | None]:
        """Log the progress of one status; returns the (maybe moved) ``since`` mark and this
        rollout's status when the operator decided it."""
        status = stored.rollout.status
        if status is None:
            return since, None
        if status.challenger not in (None, self.uri):
            # still the previous challenger's rollout: its records are not ours
            return max(since, millis(newest_stamp(status))), None
        mine = [r for r in status.history if stamp_millis(r.time) > since]
        view = status.model_copy(update={"history": mine})
        run.progress(stored.rollout, view)
        decided = (
            status.phase.traits.decided
            and status.outcome is not None
            and millis(status.last_transition_time) > since
        )
        if decided or not status.phase.traits.decided:  # not an earlier run's verdict
            self.progress.observe(view)
        return since, view if decided else None

    # -- verdicts -------------------------------------------------------------------------
    def _decide(self, run: RunLog, rollout: ModelRollout, status: RolloutStatus) -> Outcome:
        """Write the operator's verdict: once (a version with a verdict is left alone)."""
        tags = version_tags(self.client, self.name, self.version)
        if VERDICT_TAG in tags:
            outcome = tags[VERDICT_TAG]
        else:
            outcome = apply_verdict(
                self.client,
                self.name,
                self.version,
                status,
                champion_alias=self.target.champion_alias,
                challenger_alias=self.target.challenger_alias,
                own=self.own,
            )
        run.finish(rollout, status, outcome)
        log.info("%s v%s: %s (%s)", self.name, self.version, outcome, status.message)
        return Outcome(self.name, self.version, outcome, status.message, run.run_id)

    def _supersede(self, run: RunLog, since: int) -> Outcome:
        """A newer challenger took over: the verdict the cluster reached, else ``aborted``."""
        why = self.superseded or "superseded"
        stored = self.target.rollouts.get(self.resource, self.target.namespace)
        if stored is not None:
            _, decided = self._observe(run, stored, since)
            if decided is not None:
                return self._decide(run, stored.rollout, decided)
        status = (stored.rollout.status if stored else None) or RolloutStatus()
        view = status.model_copy(update={"history": [], "message": why})
        return self._finish_without(run, stored, view, "aborted", why)

    def _gone(self, run: RunLog) -> Outcome:
        why = f"ModelRollout {self.target.namespace}/{self.resource} was deleted before a verdict"
        return self._finish_without(run, None, RolloutStatus(message=why), "error", why)

    def _finish_without(
        self,
        run: RunLog,
        stored: Stored | None,
        status: RolloutStatus,
        outcome: str,
        why: str,
    ) -> Outcome:
        set_tag(self.client, self.name, self.version, VERDICT_TAG, outcome, self.own)
        set_tag(self.client, self.name, self.version, REASON_TAG, why[:4000], self.own)
        if stored is not None:
            run.finish(stored.rollout, status, outcome)
        else:
            self.client.set_tag(run.run_id, "modelcanary.outcome", outcome)
            self.client.set_terminated(run.run_id, "FAILED")
        return Outcome(self.name, self.version, outcome, why, run.run_id)

    def _error(self, why: str) -> Outcome:
        set_tag(self.client, self.name, self.version, VERDICT_TAG, "error", self.own)
        set_tag(self.client, self.name, self.version, REASON_TAG, why[:4000], self.own)
        return Outcome(self.name, self.version, "error", why)

    def _send_abort(self, reason: str) -> None:
        try:
            self.target.rollouts.act(self.resource, self.target.namespace, "abort", reason)
        except ModelCanaryError as exc:
            log.warning("aborting %s v%s in the cluster failed: %s", self.name, self.version, exc)
