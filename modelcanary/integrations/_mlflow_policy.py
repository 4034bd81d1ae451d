"""What the MLflow hook does with a challenger: build the rollout, run it, write the verdict back.

Policy: the challenger version N is compared with the version the champion alias points to
*now* (pinned, so a concurrent alias move cannot change the comparison mid-rollout), on the
local runtime, using a template rollout (a YAML file, or the registered model's tag
``modelcanary.rollout``). Promoted: champion alias -> N, challenger alias deleted, N tagged
``modelcanary.verdict=promoted``. Otherwise N is tagged with the outcome and the reason and the
champion is left alone. Every analysis is recorded as an MLflow run (experiment ``modelcanary``)
with per-interval metrics and the HTML report. mlflow is imported inside functions only.

The verdict is written so that replaying it changes nothing: the champion alias moves only when
it does not point to N already, so a hook that restarts between the alias move and the verdict
tag (cluster mode, ``mlflow_follow``) does not move it twice.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import load
from ..errors import SpecError, SpecIssue
from ..spec import ModelRollout, RolloutStatus, parse_rollout, parse_rollout_yaml
from ._mlflow_runs import EXPERIMENT as EXPERIMENT  # re-exported: the hook and the API use it
from ._mlflow_runs import outcome_of, record_run

log = logging.getLogger("modelcanary.mlflow")

TEMPLATE_TAG = "modelcanary.rollout"
VERDICT_TAG = "modelcanary.verdict"
REASON_TAG = "modelcanary.reason"
RUN_TAG = "modelcanary.run_id"


@dataclass
class Outcome:
    """Result of one rollout of a registered model version."""

    name: str
    version: str
    outcome: str
    message: str
    run_id: str | None = None


class OwnChanges:
    """Registry changes this process made itself, so their webhook echoes are ignored."""

    def __init__(self, ttl: float = 120.0) -> None:
        self._ttl = ttl
        self._items: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def expect(self, *key: str) -> None:
        """Remember that we are about to cause the event ``key``."""
        with self._lock:
            self._items[key] = time.monotonic() + self._ttl

    def consume(self, *key: str) -> bool:
        """True (once) when ``key`` is an echo of our own change."""
        now = time.monotonic()
        with self._lock:
            self._items = {k: t for k, t in self._items.items() if t > now}
            return self._items.pop(key, None) is not None


def client_for(tracking_uri: str | None) -> Any:
    """An ``MlflowClient`` for the tracking URI (or MLflow's default)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version an alias points to now, or None when the alias (or model) is missing."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_tags(client: Any, name: str, version: str) -> dict[str, str]:
    """Tags of one model version."""
    return dict(client.get_model_version(name, version).tags or {})


def template_for(
    client: Any, name: str, template: ModelRollout | str | Path | None
) -> ModelRollout:
    """The rollout template: given (object or YAML file), else the model's rollout tag."""
    if isinstance(template, ModelRollout):
        return template
    if template is not None:
        return load(template)
    tags = dict(client.get_registered_model(name).tags or {})
    text = tags.get(TEMPLATE_TAG)
    if not text:
        raise SpecError(
            SpecIssue(
                "template",
                f"registered model {name!r} has no {TEMPLATE_TAG!r} tag and no template was given",
                f"pass --template FILE, or set the model tag {TEMPLATE_TAG} to a rollout YAML",
            )
        )
    return parse_rollout_yaml(text, source=f"{name} tag {TEMPLATE_TAG}")


def build_rollout(
    template: ModelRollout, name: str, champion: str, challenger: str
) -> ModelRollout:
    """The template with champion ``models:/NAME/champion`` and challenger ``models:/NAME/N``."""
    data = template.to_dict()
    data.pop("status", None)
    spec = data.setdefault("spec", {})
    spec["champion"] = {"modelUri": f"models:/{name}/{champion}", "name": f"v{champion}"}
    spec["challenger"] = {"modelUri": f"models:/{name}/{challenger}", "name": f"v{challenger}"}
    spec.setdefault("router", {})["provider"] = "local"
    data.setdefault("metadata", {})["name"] = f"{slug(name)}-v{challenger}".strip("-")
    return parse_rollout(data, source=f"{name} v{challenger}")


def slug(name: str) -> str:
    """A registered model's name as a Kubernetes-style name (lowercase, dashes, <= 50)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50].strip("-") or "model"


def run_rollout(
    client: Any,
    rollout: ModelRollout,
    *,
    tracking_uri: str | None,
    payloads: list[bytes] | None = None,
    on_start: Callable[[Any], None] | None = None,
    timeout: float | None = None,
) -> RolloutStatus:
    """Run the rollout on the local runtime until decided; ``on_start(run)`` exposes the handle."""
    from ..local._runtime import LocalRun

    with LocalRun(rollout, tracking_uri=tracking_uri, payloads=payloads) as run:
        if on_start is not None:
            on_start(run)
        status = run.wait(timeout)
        if not run.done:
            run.act("abort", "modelcanary mlflow hook: timeout")
            status = run.wait(30)
    return status


def apply_verdict(
    client: Any,
    name: str,
    version: str,
    status: RolloutStatus,
    *,
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    own: OwnChanges | None = None,
) -> str:
    """Write the verdict to the registry (aliases and tags); returns the outcome."""
    own = own or OwnChanges()
    outcome = outcome_of(status)
    if outcome == "promoted":
        if alias_version(client, name, champion_alias) != version:  # moved once, never again
            own.expect("model_version_alias", "created", name, champion_alias)
            client.set_registered_model_alias(name, champion_alias, version)
        if alias_version(client, name, challenger_alias) == version:
            own.expect("model_version_alias", "deleted", name, challenger_alias)
            client.delete_registered_model_alias(name, challenger_alias)
    set_tag(client, name, version, VERDICT_TAG, outcome, own)
    set_tag(client, name, version, REASON_TAG, (status.message or outcome)[:4000], own)
    return outcome


def set_tag(client: Any, name: str, version: str, key: str, value: str, own: OwnChanges) -> None:
    """Tag a model version, remembering the change as our own."""
    own.expect("model_version_tag", "set", name, key)
    client.set_model_version_tag(name, version, key, value)


def decide(
    client: Any,
    name: str,
    version: str,
    template: ModelRollout | str | Path | None,
    *,
    tracking_uri: str | None,
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    payloads: list[bytes] | None = None,
    own: OwnChanges | None = None,
    on_start: Callable[[Any], None] | None = None,
    timeout: float | None = None,
    experiment: str = EXPERIMENT,
) -> Outcome:
    """Roll out version N against the current champion and write the verdict back."""
    own = own or OwnChanges()
    champion = alias_version(client, name, champion_alias)
    if champion is None or champion == version:
        why = f"no {champion_alias!r} alias" if champion is None else "already the champion"
        set_tag(client, name, version, VERDICT_TAG, "error", own)
        set_tag(client, name, version, REASON_TAG, why, own)
        return Outcome(name, version, "error", why)
    try:
        rollout = build_rollout(template_for(client, name, template), name, champion, version)
    except SpecError as exc:
        set_tag(client, name, version, VERDICT_TAG, "error", own)
        set_tag(client, name, version, REASON_TAG, str(exc)[:4000], own)
        return Outcome(name, version, "error", str(exc))
    log.info("rolling out %s v%s against v%s", name, version, champion)
    status = run_rollout(
        client,
        rollout,
        tracking_uri=tracking_uri,
        payloads=payloads,
        on_start=on_start,
        timeout=timeout,
    )
    outcome = apply_verdict(
        client,
        name,
        version,
        status,
        champion_alias=champion_alias,
        challenger_alias=challenger_alias,
        own=own,
    )
    run_id = record_run(client, name, version, rollout, status, experiment=experiment)
    set_tag(client, name, version, RUN_TAG, run_id, own)
    log.info("%s v%s: %s (%s)", name, version, outcome, status.message)
    return Outcome(name, version, outcome, status.message, run_id)
