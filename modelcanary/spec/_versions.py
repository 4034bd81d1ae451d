"""What is being rolled out: champion/challenger model versions or a Flagger-style targetRef."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ._base import MAX_INT32, MaybeEmpty, SpecModel
from ._llm import Pricing, VersionProtocol
from ._wire import EnvName, HttpUrl

_MODEL_URI = re.compile(
    r"^(models:/[^/@\s]+(@[A-Za-z0-9_\-]+|/[0-9]+|/latest)"
    r"|runs:/[0-9a-fA-F]+/\S+"
    r"|(file://|/|\./|\.\./|~/)\S*"
    r"|[A-Za-z0-9_\-][\w\-./]*"
    r"|(s3|gs|wasbs|abfss|hdfs|dbfs|mlflow-artifacts)://\S+)$"
)


class ResourceRequirements(SpecModel):
    """Kubernetes-style compute resources for a serving container."""

    requests: dict[str, str] | None = None
    """Minimum resources, e.g. ``{cpu: 500m, memory: 1Gi}``."""
    limits: dict[str, str] | None = None
    """Maximum resources, e.g. ``{cpu: '2', memory: 2Gi}``."""


class ServingTemplate(SpecModel):
    """How an ``image`` or ``modelUri`` version is served in a cluster."""

    multiline_fields = frozenset({"command", "args"})

    image: str | None = None
    """Serving image that runs ``modelcanary serve MODEL_URI`` (default: the operator's own)."""
    command: list[str] | None = None
    """Container command override."""
    args: list[MaybeEmpty] | None = None
    """Container arguments override."""
    port: int = Field(default=8080, ge=1, le=65535)
    """Container port the model server listens on."""
    replicas: int = Field(default=1, ge=0, le=MAX_INT32)
    """Replicas of the serving Deployment."""


class ModelVersion(SpecModel):
    """One side of the comparison (champion or challenger): exactly one of url, modelUri, image."""

    multiline_fields = frozenset({"env"})

    url: HttpUrl | None = None
    """An existing HTTP model endpoint, e.g. ``http://127.0.0.1:5001`` (MLflow scoring protocol, or OpenAI-compatible with ``protocol: openai``)."""
    model_uri: str | None = None
    """An MLflow model: ``models:/fraud@champion``, ``models:/fraud/4``, ``runs:/<id>/model`` or a local model directory."""
    image: str | None = None
    """A container image serving the model (cluster runtimes)."""
    name: str | None = None
    """Display name of this version (default: derived from the source)."""
    serving: ServingTemplate | None = None
    """Serving template for ``image``/``modelUri`` versions in a cluster."""
    env: dict[EnvName, MaybeEmpty] | None = None
    """Extra environment variables for this version's server."""
    resources: ResourceRequirements | None = None
    """Compute resources for this version's server."""
    protocol: VersionProtocol | None = None
    """How the router talks to this version: ``mlflow`` (MLflow scoring protocol, the default) or ``openai`` (OpenAI-compatible chat/completions, streamed or not; needed by the LLM SLIs)."""
    pricing: Pricing | None = None
    """Price per 1000 tokens (``{inputPer1k: 0.0005, outputPer1k: 0.0015}``), for ``cost-per-1k-requests`` and ``mirrorBudget.maxCost``."""

    @field_validator("model_uri")
    @classmethod
    def _model_uri_form(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL_URI.match(value):
            raise ValueError(
                f"{value!r} is not a model URI; use models:/NAME@ALIAS, models:/NAME/VERSION, "
                "runs:/RUN_ID/PATH or a local model directory"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelVersion:
        given = [k for k in ("url", "model_uri", "image") if getattr(self, k) is not None]
        if len(given) != 1:
            names = ", ".join(_camel(k) for k in given) or "none"
            raise ValueError(
                f"give exactly one of url, modelUri, image (got {names}); e.g. "
                "modelUri: models:/fraud@champion"
            )
        return self

    @property
    def is_llm(self) -> bool:
        """True for an OpenAI-compatible version (``protocol: openai``)."""
        return self.protocol == "openai"

    @property
    def source(self) -> str:
        """The one source string (url, modelUri or image)."""
        return self.url or self.model_uri or self.image or ""

    @property
    def kind(self) -> str:
        """``url``, ``modelUri`` or ``image``."""
        if self.url is not None:
            return "url"
        return "modelUri" if self.model_uri is not None else "image"


class TargetRef(SpecModel):
    """A workload whose new revision starts a rollout (Flagger's ``spec.targetRef``)."""

    api_version: str = "apps/v1"
    """API version of the target, e.g. ``apps/v1``."""
    kind: str = "Deployment"
    """Kind of the target: ``Deployment`` (or ``DaemonSet``, ``InferenceService`` for KServe)."""
    name: str = Field(min_length=1)
    """Name of the target in the rollout's namespace."""


class AutoscalerRef(SpecModel):
    """A HorizontalPodAutoscaler (or KEDA ScaledObject) copied for the champion (operator)."""

    api_version: str = "autoscaling/v2"
    """API version of the autoscaler, e.g. ``autoscaling/v2`` or ``keda.sh/v1alpha1``."""
    kind: str = "HorizontalPodAutoscaler"
    """Kind: ``HorizontalPodAutoscaler`` or ``ScaledObject``."""
    name: str = Field(min_length=1)
    """Name of the autoscaler in the rollout's namespace."""
    primary_scaler_queries: dict[str, str] | None = None
    """KEDA: trigger queries for the champion's copy, by trigger name."""
    primary_scaler_replicas: dict[str, Annotated[int, Field(ge=0, le=MAX_INT32)]] | None = None
    """Replica bounds for the champion's copy (``minReplicas``, ``maxReplicas``)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def version_from(value: Any) -> Any:
    """Let a bare string stand for a version: ``http(s)://`` is a url, else a modelUri."""
    if isinstance(value, str):
        return {"url": value} if re.match(r"^https?://", value) else {"modelUri": value}
    return value
