"""The ModelRollout resource as frozen pydantic models (= the CRD schema), plus validation.

Also the vocabulary every layer shares, defined once here: the stage plan (``stages``,
``StepPlan``), the traffic split (``Routes``) and what each router provider can do
(``CAPABILITIES``), the phases (``Phase``, ``PHASE_TABLE``) and the object names a rollout
owns in a cluster (``names``).
"""

from ._analysis import (
    WEBHOOK_TYPES,
    Alert,
    AlertProvider,
    Analysis,
    MatchCondition,
    SessionAffinity,
    Shadow,
    Step,
    StringMatch,
    Webhook,
)
from ._base import Duration, Model, format_duration, parse_duration
from ._llm import MirrorBudget, Pricing
from ._load_reach import LoadWarning, load_warnings
from ._metric_spec import (
    BUILTIN_METRICS,
    PROVIDER_TYPES,
    MetricProviderSpec,
    MetricSpec,
    SecretRef,
    TemplateRef,
    ThresholdRange,
)
from ._naming import Names, names
from ._phases import PHASE_TABLE, Action, Phase
from ._plan import Stage, StepPlan, promotion_weights, stages
from ._rollout import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    LoadCohort,
    LoadSpec,
    Metadata,
    ModelRollout,
    RolloutSpec,
)
from ._service import ROUTER_PROVIDERS, GatewayRef, ObjectRef, Retries, RouterSpec, ServiceSpec
from ._status import PHASES, AnalysisRecord, CheckRecord, Condition, RolloutStatus
from ._traffic import CAPABILITIES, Capabilities, Routes, capabilities, providers_with
from ._validate import load_documents, parse_rollout, parse_rollout_yaml, to_yaml
from ._versions import ModelVersion, ResourceRequirements, ServingTemplate, TargetRef
from ._warnings import SpecWarning, spec_warnings

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "BUILTIN_METRICS",
    "CAPABILITIES",
    "KIND",
    "PHASES",
    "PHASE_TABLE",
    "PLURAL",
    "PROVIDER_TYPES",
    "ROUTER_PROVIDERS",
    "WEBHOOK_TYPES",
    "Action",
    "Alert",
    "AlertProvider",
    "Analysis",
    "AnalysisRecord",
    "Capabilities",
    "CheckRecord",
    "Condition",
    "Duration",
    "GatewayRef",
    "LoadCohort",
    "LoadSpec",
    "LoadWarning",
    "MatchCondition",
    "Metadata",
    "MetricProviderSpec",
    "MetricSpec",
    "MirrorBudget",
    "Model",
    "ModelRollout",
    "ModelVersion",
    "Names",
    "ObjectRef",
    "Phase",
    "Pricing",
    "ResourceRequirements",
    "Retries",
    "RolloutSpec",
    "RolloutStatus",
    "RouterSpec",
    "Routes",
    "SecretRef",
    "ServiceSpec",
    "ServingTemplate",
    "SessionAffinity",
    "Shadow",
    "SpecWarning",
    "Stage",
    "Step",
    "StepPlan",
    "StringMatch",
    "TargetRef",
    "TemplateRef",
    "ThresholdRange",
    "Webhook",
    "capabilities",
    "format_duration",
    "load_documents",
    "load_warnings",
    "names",
    "parse_duration",
    "parse_rollout",
    "parse_rollout_yaml",
    "promotion_weights",
    "providers_with",
    "spec_warnings",
    "stages",
    "to_yaml",
]
