"""The object tree of ``kubectl modelcanary get``: a ModelRollout and the objects it owns or uses.

Each object is found where the operator puts it, never guessed by kind across the namespace:

- workloads and Services by the names the operator gives them (``spec/_naming.py``): champion
  and challenger Deployments, the apex / primary / canary Services; a targetRef of another
  kind (a KServe InferenceService) is shown itself, as KServe runs both revisions;
- ``spec.autoscalerRef`` (the user's, scaling the challenger) and its ``-primary`` copy (the
  operator's, scaling the champion), nested under the Deployment each one scales;
- the routing objects the rollout's router creates (``owned``) and reads (``inputs``: an
  Ingress to clone, an InferenceService), as the router itself names them, and the routes
  those objects put in force (the router's own ``get_routes``);
- anything else labelled ``modelcanary.io/rollout=<name>`` among Deployments, Services,
  ConfigMaps, Secrets and HorizontalPodAutoscalers (the champion's ConfigMap/Secret copies,
  nested under it; leftovers), found with a label-selector list.

An object is *owned* when one of its ``ownerReferences`` is the rollout (its uid): deleting
the rollout deletes it. The target Deployment and the user's autoscaler are not owned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelCanaryError
from ..ports import KubeObject, ObjectStore
from ..rollout._commands import Routes
from ..spec import API_VERSION, KIND, ModelRollout, RolloutStatus
from ..spec._naming import names

ROLLOUT_LABEL = "modelcanary.io/rollout"
"""Label the operator puts on what it creates for a rollout (``k8s/_objects.py``)."""
PRIMARY_COPY = "modelcanary.io/primary-copy-of"
"""Annotation of the champion's ConfigMap/Secret copies: the original's name."""
ADOPTED = "modelcanary.io/adopted"
"""Annotation of a user's routing object the router took over (kept on deletion)."""
LISTED: tuple[tuple[str, str], ...] = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
)
"""Kinds searched by the rollout label (core kinds: present in every cluster)."""

Lister = Callable[[str, str, str, str], list[KubeObject]]
"""``list(apiVersion, kind, namespace, labelSelector)``."""
Key = tuple[str, str, str]


@dataclass
class Node:
    """One object of the tree."""

    kind: str
    name: str
    api_version: str
    role: str
    status: str
    """Ready, Progressing, ScaledDown, NotReady, Present or Missing (a phase for the rollout)."""
    info: str = ""
    owned: bool | None = None
    """An ownerReference to the rollout (None for the rollout itself)."""
    children: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``-o json|yaml``)."""
        return {
            "kind": self.kind,
            "apiVersion": self.api_version,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "info": self.info,
            "owned": self.owned,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass
class Tree:
    """The rollout node, the routes in force and what could not be read."""

    root: Node
    rollout: ModelRollout
    routes: Routes | None = None
    routes_note: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the rollout's status summary, routes, the tree and notes."""
        status = self.rollout.status or RolloutStatus()
        routes = None
        if self.routes is not None:
            routes = {
                "champion": self.routes.champion_weight,
                "challenger": self.routes.challenger_weight,
                "mirror": self.routes.mirror_weight,
                "matchConditions": len(self.routes.match),
            }
        return {
            "name": self.rollout.name,
            "namespace": self.rollout.metadata.namespace or "default",
            "phase": status.phase.value,
            "message": status.message,
            "outcome": status.outcome,
            "routes": routes,
            "tree": self.root.to_dict(),
            "notes": self.notes,
        }


def build(rollout: ModelRollout, objects: ObjectStore, lister: Lister | None = None) -> Tree:
    """Read every object of ``rollout`` through ``objects`` (and ``lister``) into a Tree."""
    from ..routers import router_class  # the routers know their objects' names

    n = names(rollout)
    ns, uid = n.namespace, rollout.metadata.uid
    status = rollout.status or RolloutStatus()
    info = f"challenger {status.canary_weight}%" + (
        f", mirror {status.mirror_weight}%" if status.mirror_weight else ""
    )
    root = Node(KIND, rollout.name, API_VERSION, "", status.phase.value, info)
    tree = Tree(root, rollout)
    seen: set[Key] = set()

    def add(parent: Node, api: str, kind: str, name: str, role: str, obj: Any = None) -> Node:
        seen.add((api, kind, name))
        found = obj if obj is not None else objects.get(api, kind, ns, name)
        state, detail = describe(kind, found)
        node = Node(kind, name, api, role, state, detail, found is not None and _owns(found, uid))
        parent.children.append(node)
        return node

    target = rollout.spec.target_ref
    champion = challenger = root
    if target is None or target.kind == "Deployment":
        suffix = " (targetRef)" if target is not None else ""
        champion = add(root, "apps/v1", "Deployment", n.primary_workload, "champion")
        challenger = add(
            root, "apps/v1", "Deployment", n.challenger_workload, "challenger" + suffix
        )
        add(root, "v1", "Service", n.apex, "apex service")
        add(root, "v1", "Service", n.primary, "champion service")
        add(root, "v1", "Service", n.canary, "challenger service")
    else:
        add(root, target.api_version, target.kind, target.name, "target (both revisions)")
    scaler = rollout.spec.autoscaler_ref
    if scaler is not None:
        add(champion, scaler.api_version, scaler.kind, f"{scaler.name}-primary", "autoscaler")
        add(challenger, scaler.api_version, scaler.kind, scaler.name, "autoscaler")
    try:
        router = router_class(rollout.spec.router.provider)(objects)
        for api, kind, _, name in router.owned(rollout):
            if (api, kind, name) not in seen:
                add(root, api, kind, name, "routing")
        for api, kind, _, name in router.inputs(rollout):
            if (api, kind, name) not in seen:
                add(root, api, kind, name, "routing input")
        tree.routes = router.get_routes(rollout)
    except ModelCanaryError as exc:  # no routing objects yet, a provider without cluster router
        tree.routes_note = str(exc)
    if lister is not None:
        _labelled(tree, champion, seen, lister, add)
    return tree


def _labelled(
    tree: Tree,
    champion: Node,
    seen: set[Key],
    lister: Lister,
    add: Callable[..., Node],
) -> None:
    """Add what carries the rollout label and is not in the tree yet."""
    rollout = tree.rollout
    ns = rollout.metadata.namespace or "default"
    for api, kind in LISTED:
        try:
            found = lister(api, kind, ns, f"{ROLLOUT_LABEL}={rollout.name}")
        except ModelCanaryError as exc:  # e.g. RBAC: show what is known, say what is not
            tree.notes.append(f"cannot list {kind}s labelled {ROLLOUT_LABEL}={rollout.name}: {exc}")
            continue
        for obj in found:
            name = str((obj.get("metadata") or {}).get("name", ""))
            if (api, kind, name) in seen:
                continue
            copied = _annotations(obj).get(PRIMARY_COPY)
            if copied:
                add(champion, api, kind, name, f"copy of {copied}", obj)
            else:
                add(tree.root, api, kind, name, "labelled", obj)


def _annotations(obj: KubeObject) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _owns(obj: KubeObject, uid: str | None) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return uid is not None and any(o.get("uid") == uid for o in owners)


def describe(kind: str, obj: KubeObject | None) -> tuple[str, str]:
    """(status, info) of one object; ``Missing`` when it does not exist."""
    if obj is None:
        return "Missing", "not created (yet)"
    spec = obj.get("spec") or {}
    state = obj.get("status") or {}
    if kind == "Deployment":
        return _deployment(obj, spec, state)
    if kind == "Service":
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
        ports = ",".join(str(p.get("port")) for p in spec.get("ports") or [])
        parts = [
            spec.get("type", "ClusterIP"),
            f"selector {selector or '-'}",
            f"port {ports or '-'}",
        ]
        return "Present", ", ".join(parts)
    if kind == "HorizontalPodAutoscaler":
        target = (spec.get("scaleTargetRef") or {}).get("name", "-")
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", "-")
        current = state.get("currentReplicas", "-")
        return "Present", f"scales {target}, {low}..{high} replicas, now {current}"
    notes = _annotations(obj)
    if kind in ("ConfigMap", "Secret"):
        keys = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        return "Present", f"{keys} key" + ("" if keys == 1 else "s")
    detail = "adopted: kept when the rollout is deleted" if notes.get(ADOPTED) == "true" else ""
    for condition in state.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
            why = condition.get("message") or condition.get("reason") or ""
            return ("Ready" if ready else "NotReady"), "; ".join(p for p in (detail, why) if p)
    return "Present", detail


def _deployment(obj: KubeObject, spec: dict[str, Any], state: dict[str, Any]) -> tuple[str, str]:
    want = int(spec.get("replicas", 1) or 0)
    ready = int(state.get("readyReplicas") or 0)
    updated = int(state.get("updatedReplicas") or 0)
    meta = obj.get("metadata") or {}
    observed = int(state.get("observedGeneration") or 0)
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    source = _annotations(obj).get("modelcanary.io/source")
    what = ", ".join(p for p in (source, image) if p)
    if want == 0:
        return "ScaledDown", f"0 replicas, {what}" if what else "0 replicas"
    behind = observed < int(meta.get("generation") or 1) or updated < want or ready < want
    counts = f"{ready}/{want} ready"
    return ("Progressing" if behind else "Ready"), f"{counts}, {what}" if what else counts


# -- text ----------------------------------------------------------------------------------
def render(tree: Tree) -> str:
    """Header lines, then the tree as aligned columns (plain text, for a terminal or a pipe)."""
    rollout = tree.rollout
    status = rollout.status or RolloutStatus()
    spec = rollout.spec
    header = [
        ("Name", rollout.name),
        ("Namespace", rollout.metadata.namespace or "default"),
        ("Phase", status.phase + (" (paused)" if status.paused or spec.suspend else "")),
        ("Message", status.message or "-"),
        ("Router", spec.router.provider),
        ("Traffic", _traffic(tree)),
        (
            "Analysis",
            f"{status.iterations} intervals, failed checks "
            f"{status.failed_checks}/{spec.analysis.threshold}",
        ),
        ("Champion", status.champion or "-"),
        ("Challenger", status.challenger or "-"),
        ("Outcome", status.outcome or "-"),
    ]
    lines = [f"{label + ':':<12}{value}" for label, value in header]
    rows: list[tuple[str, ...]] = [("NAME", "KIND", "ROLE", "STATUS", "OWNED", "INFO")]
    _rows(tree.root, "", "", rows)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    table = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5] for r in rows
    ]
    out = [*lines, "", *(t.rstrip() for t in table)]
    out += [f"note: {n}" for n in tree.notes]
    return "\n".join(out)


def _traffic(tree: Tree) -> str:
    routes = tree.routes
    if routes is None:
        return f"no routes in force ({tree.routes_note})" if tree.routes_note else "-"
    text = f"champion {routes.champion_weight}%, challenger {routes.challenger_weight}%"
    if routes.mirror_weight:
        text += f", mirror {routes.mirror_weight}%"
    if routes.match:
        text += f", {len(routes.match)} A/B match condition(s) to the challenger"
    return text


def _rows(node: Node, lead: str, child_lead: str, rows: list[tuple[str, ...]]) -> None:
    owned = "" if node.owned is None else ("yes" if node.owned else "no")
    rows.append((lead + node.name, node.kind, node.role, node.status, owned, node.info))
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        _rows(
            child,
            child_lead + ("└── " if last else "├── "),
            child_lead + ("    " if last else "│   "),
            rows,
        )
