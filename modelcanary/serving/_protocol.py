"""The answers of the model server: MLflow's content types, reply and error shapes.

What a request is turned into (parsing, prediction, encoding) is MLflow's scoring protocol,
in :class:`modelcanary.serving._mlflow_pyfunc.Scorer`; this module holds the shapes both it and
the HTTP server use, and imports nothing from mlflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = [CSV, JSON, PARQUET]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer; ``predictions`` holds the raw model output of a 200 (for metrics)."""

    status: int
    body: bytes
    content_type: str = JSON
    predictions: Any = None


def error_reply(status: int, error_code: str, message: str) -> Reply:
    """An answer in MLflow's error shape: ``{"error_code": ..., "message": ...}``."""
    body = json.dumps({"error_code": error_code, "message": message}).encode()
    return Reply(status, body)


class ModelFailure(Exception):
    """The model raised while predicting (answered as HTTP 500)."""


def model_failure_reply(exc: ModelFailure) -> Reply:
    """MLflow's error shape for a model exception, with status 500."""
    return error_reply(
        500,
        "INTERNAL_ERROR",
        "Encountered an unexpected error while evaluating the model. Verify that the "
        f"serialized input Dataframe is compatible with the model for inference. Error: {exc}",
    )
