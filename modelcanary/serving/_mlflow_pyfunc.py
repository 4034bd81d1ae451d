"""MLflow in the model server: load a pyfunc model, resolve registry names, score requests.

This is the one module of ``serving/`` that imports mlflow, always inside functions, so
``import modelcanary.serving`` stays free of it. It is a named exception to the rule "only
``integrations/`` imports mlflow" (``.importlinter``, docs/architecture.md): the model server
runs in its own process, started by the local runtime (a layer below ``integrations/``) or by a
Deployment, and the model it serves is an MLflow pyfunc model that must be loaded and scored in
that process. Everything else in the package (HTTP, metrics, faults, process supervision)
knows nothing of MLflow.

- :func:`registry_client`, :func:`tracking_uri`, :func:`load_pyfunc`: what
  :func:`~modelcanary.serving._model.load_model` needs (``MlflowClient`` for aliases and
  versions, ``mlflow.pyfunc.load_model``: no environment creation, no requirement checks).
- :class:`Scorer`: MLflow's scoring protocol. Parsing and encoding reuse the helpers of
  ``mlflow.pyfunc.scoring_server``, so ``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``, ``params``, CSV and Parquet bodies behave exactly as under
  ``mlflow models serve``, including MLflow's error JSON (``error_code``, ``message``) and 415
  for an unsupported content type. One deliberate difference: an exception raised by the model
  itself is a 500 (``INTERNAL_ERROR``) here, where MLflow answers 400; a schema mismatch found
  by MLflow before the model runs stays a 400.
"""

from __future__ import annotations

import inspect
import io
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import WorkloadError
from ._protocol import CONTENT_TYPES, CSV, JSON, PARQUET, ModelFailure, Reply, model_failure_reply

_logger = logging.getLogger("modelcanary.serving")


def registry_client(tracking_uri: str | None) -> Any:
    """An ``MlflowClient`` of ``tracking_uri`` (its methods are untyped: ``Any``)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


@contextmanager
def tracking_uri(uri: str | None) -> Iterator[None]:
    """Use ``uri`` as mlflow's global tracking URI inside the block (``load_model`` resolves
    ``models:/`` and ``runs:/`` with the global one), restoring the previous one after."""
    if not uri:
        yield
        return
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def load_pyfunc(uri: str) -> Any:
    """``mlflow.pyfunc.load_model(uri)`` (slow: imports mlflow and the model's flavor)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri, suppress_warnings=True)


def mlflow_version() -> str:
    """The installed MLflow version (what ``GET /version`` answers, as MLflow does)."""
    from mlflow.version import VERSION

    return str(VERSION)


class Scorer:
    """Scores request bodies with one pyfunc model, the way MLflow's scoring server does."""

    def __init__(self, pyfunc: Any) -> None:
        from mlflow.pyfunc import scoring_server

        if not hasattr(scoring_server, "_parse_json_data"):  # fail at start, not per request
            raise WorkloadError("mlflow is too old for modelcanary serve: need mlflow>=3.3")
        self._server = scoring_server
        self.model = pyfunc
        self.input_schema = pyfunc.metadata.get_input_schema()
        self.accepts_params = "params" in inspect.signature(pyfunc.predict).parameters

    def score(self, body: bytes, content_type: str | None) -> Reply:
        """Answer one ``POST /invocations``."""
        from mlflow.exceptions import MlflowException

        try:
            return self._score(body, content_type or "")
        except MlflowException as exc:
            error: Any = exc  # mlflow's methods are untyped
            return Reply(error.get_http_status_code(), error.serialize_as_json().encode())
        except ModelFailure as exc:
            return model_failure_reply(exc)

    def _score(self, body: bytes, content_type: str) -> Reply:
        server = self._server
        mime_type, *pairs = (part.strip() for part in content_type.split(";"))
        parameters = {key: value for key, _, value in (p.partition("=") for p in pairs)}
        if parameters.get("charset", "utf-8").lower() != "utf-8":
            return Reply(415, b"The scoring server only supports UTF-8", "text/plain")
        if unexpected := set(parameters).difference({"charset"}):
            return Reply(
                415,
                f"Unrecognized content type parameters: {', '.join(unexpected)}. "
                f"{server.SCORING_PROTOCOL_CHANGE_INFO}".encode(),
                "text/plain",
            )
        unified_llm = False
        params: dict[str, Any] | None = None
        if mime_type == CSV:
            data = server.parse_csv_input(io.StringIO(_utf8(body)), schema=self.input_schema)
        elif mime_type == JSON:
            parsed = server._parse_json_data(body, self.model.metadata, self.input_schema)
            data, params, unified_llm = parsed.data, parsed.params, parsed.is_unified_llm_input
        elif mime_type == PARQUET:
            data = server.parse_parquet_input(io.BytesIO(body))
        else:
            return Reply(
                415,
                "This predictor only supports the following content types: Types: "
                f"{CONTENT_TYPES}. Got '{content_type}'.".encode(),
                "text/plain",
            )
        predictions = self._predict(data, params)
        out = io.StringIO()
        if unified_llm:
            server.unwrapped_predictions_to_json(predictions, out)
        else:
            server.predictions_to_json(predictions, out)
        return Reply(200, out.getvalue().encode(), JSON, predictions)

    def _predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            if self.accepts_params:
                return self.model.predict(data, params=params)
            return self.model.predict(data)
        except MlflowException as exc:  # schema enforcement: the caller's fault (400)
            exc.message = f"Failed to predict data '{data}'. \nError: {exc.message}"
            raise
        except Exception as exc:
            _logger.error("model raised:\n%s", traceback.format_exc())
            raise ModelFailure(f"{type(exc).__name__}: {exc}") from exc


def _utf8(body: bytes) -> str:
    from mlflow.utils import proto_json_utils

    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        invalid: Any = proto_json_utils.MlflowInvalidInputException  # untyped
        raise invalid(
            f"Ensure that input is a valid UTF-8 encoded string. Error: '{exc!r}'"
        ) from exc
