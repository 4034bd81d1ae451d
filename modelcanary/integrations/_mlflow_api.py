"""Python entry for pipelines: ``promote_if_better(name, version)`` (``mc.mlflow``)."""

from __future__ import annotations

from pathlib import Path

from ..spec import ModelRollout
from ._mlflow_hook import RegistryHook, register_webhook
from ._mlflow_policy import EXPERIMENT, Outcome, client_for, decide

__all__ = ["Outcome", "RegistryHook", "promote_if_better", "register_webhook"]


def promote_if_better(
    name: str,
    candidate_version: str | int,
    spec: ModelRollout | str | Path | None = None,
    *,
    tracking_uri: str | None = None,
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    payloads: list[bytes] | None = None,
    timeout: float | None = None,
    experiment: str = EXPERIMENT,
) -> str:
    """Roll out ``name`` v``candidate_version`` against the champion; block; return the outcome.

    ``spec`` is the rollout template (object or YAML path; default: the registered model's
    ``modelcanary.rollout`` tag); its champion/challenger are replaced by the two versions.
    On ``promoted`` the champion alias moves to the candidate; every outcome is tagged on the
    version (``modelcanary.verdict``, ``modelcanary.reason``) and recorded as an MLflow run.
    Returns promoted, rolled_back, inconclusive, aborted, deadline or error.
    """
    result = decide(
        client_for(tracking_uri),
        name,
        str(candidate_version),
        spec,
        tracking_uri=tracking_uri,
        champion_alias=champion_alias,
        challenger_alias=challenger_alias,
        payloads=payloads,
        timeout=timeout,
        experiment=experiment,
    )
    return result.outcome
