"""Resolve a model URI to metric labels and load it as an MLflow pyfunc model.

The MLflow calls themselves (``MlflowClient``, ``mlflow.pyfunc.load_model``: no environment
creation, no requirement checks, so a small scikit-learn model is ready in about two seconds)
are in :mod:`.mlflow_pyfunc`; this module checks URIs, names the model for the metrics and
turns load failures into clear errors.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import SpecError, SpecIssue, WorkloadError
from . import _mlflow_pyfunc as mlflow_pyfunc

REGISTRY_SCHEMES = ("models", "runs")
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "BAD_REQUEST"}
_URI_HINT = "use models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH or a model directory"


@dataclass(frozen=True)
class ModelLabels:
    """What the metrics call the model: registered name and version when known."""

    name: str
    version: str
    uri: str
    load_uri: str
    """The URI actually loaded (an alias pinned to the version it pointed at)."""


@dataclass(frozen=True)
class LoadedModel:
    """A loaded pyfunc model with its labels and load time."""

    labels: ModelLabels
    pyfunc: Any
    load_seconds: float


def _scheme(uri: str) -> str:
    parsed = urlparse(uri)
    return parsed.scheme if len(parsed.scheme) > 1 else ""  # "C:" is a drive, not a scheme


def _local_path(uri: str) -> Path | None:
    scheme = _scheme(uri)
    if scheme == "":
        return Path(uri).expanduser()
    if scheme == "file":
        return Path(unquote(urlparse(uri).path))
    return None


def check_uri(model_uri: str, tracking_uri: str | None) -> None:
    """Reject unusable URIs before importing mlflow (fast, clear, exit 2 in the CLI)."""
    if not model_uri.strip():
        raise SpecError(SpecIssue("model_uri", "is empty", _URI_HINT))
    path = _local_path(model_uri)
    if path is not None:
        if not path.is_dir():
            raise SpecError(SpecIssue("model_uri", f"no model directory at {path}", _URI_HINT))
        if not (path / "MLmodel").is_file():
            raise SpecError(
                SpecIssue(
                    "model_uri",
                    f"{path} has no MLmodel file",
                    "point at a directory written by mlflow.<flavor>.save_model",
                )
            )
        return
    scheme = _scheme(model_uri)
    has_tracking = tracking_uri or any(
        os.environ.get(v) for v in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    )
    if scheme in REGISTRY_SCHEMES and not has_tracking:
        raise SpecError(
            SpecIssue(
                "tracking_uri",
                f"{scheme}:/ URIs need an MLflow tracking server",
                "pass --tracking-uri http://HOST:PORT or set MLFLOW_TRACKING_URI",
            )
        )


def resolve_labels(
    model_uri: str,
    tracking_uri: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> ModelLabels:
    """Registered name and version for ``models:/`` URIs (alias resolved via MlflowClient);
    artifact path and run id for ``runs:/``; else the directory name and ``local``."""
    scheme = _scheme(model_uri)
    load_uri = model_uri
    if scheme == "models":
        rest = model_uri.split(":", 1)[1].lstrip("/")
        found_name, found_version, load_uri = _registry_labels(rest, model_uri, tracking_uri)
    elif scheme == "runs":
        parts = model_uri.split(":", 1)[1].strip("/").split("/")
        found_name, found_version = (parts[-1] if len(parts) > 1 else parts[0]), parts[0]
    else:
        path = _local_path(model_uri)
        tail = str(path.resolve()) if path is not None else urlparse(model_uri).path
        found_name, found_version = os.path.basename(tail.rstrip("/")) or model_uri, "local"
    return ModelLabels(name or found_name, version or found_version, model_uri, load_uri)


def _registry_labels(rest: str, uri: str, tracking_uri: str | None) -> tuple[str, str, str]:
    client = mlflow_pyfunc.registry_client(tracking_uri)
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        version = str(client.get_model_version_by_alias(name, alias).version)
        return name, version, f"models:/{name}/{version}"
    if "/" in rest:
        name, ref = rest.rsplit("/", 1)
        if ref.isdigit():
            return name, ref, uri
        if ref.lower() == "latest":
            found = client.search_model_versions(f"name='{name}'")
            if not found:
                raise SpecError(SpecIssue("model_uri", f"{name} has no versions", _URI_HINT))
            version = str(max(int(v.version) for v in found))
            return name, version, f"models:/{name}/{version}"
        latest = client.get_latest_versions(name, stages=[ref])  # deprecated stages
        return (name, str(latest[0].version), uri) if latest else (name, ref, uri)
    logged = client.get_logged_model(rest)  # MLflow 3 logged model: models:/m-<id>
    return logged.name, rest, uri


def load_model(
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> LoadedModel:
    """Check, resolve and load a model; bad or missing models raise :class:`SpecError`."""
    check_uri(model_uri, tracking_uri)
    started = time.perf_counter()
    try:
        with mlflow_pyfunc.tracking_uri(tracking_uri):
            labels = resolve_labels(model_uri, tracking_uri, name, version)
            pyfunc = mlflow_pyfunc.load_pyfunc(labels.load_uri)
    except SpecError:
        raise
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc
    return LoadedModel(labels, pyfunc, time.perf_counter() - started)


def _load_error(model_uri: str, exc: Exception) -> Exception:
    code = str(getattr(exc, "error_code", ""))
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()[0][:500]
    if code in _NOT_FOUND_CODES or isinstance(exc, FileNotFoundError):
        hint = "check the name, version, alias or run id (mlflow UI or MlflowClient)"
        return SpecError(SpecIssue("model_uri", f"cannot load {model_uri}: {text}", hint))
    if "registered artifact repository" in text:
        return SpecError(SpecIssue("model_uri", f"unknown URI scheme in {model_uri}", _URI_HINT))
    return WorkloadError(f"cannot load {model_uri}: {type(exc).__name__}: {text}")
