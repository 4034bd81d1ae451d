"""``modelcanary render FILE --provider P``: print the objects a router would apply (YAML).

For review and GitOps: no cluster is contacted. FILE holds the ModelRollout and, optionally,
objects the router reads (the Ingress of ``ingressRef`` for nginx, the InferenceService for
kserve) as further YAML documents.
"""

from __future__ import annotations

from typing import Any

import typer

from .._files import read_text
from ..errors import RouterError, SpecError, SpecIssue
from ..spec import API_VERSION, KIND, ROUTER_PROVIDERS, ModelRollout, load_documents, parse_rollout
from ._common import guarded


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("render")(render)


@guarded
def render(
    file: str = typer.Argument(
        ..., help="ModelRollout YAML (plus objects the router reads), or - for standard input."
    ),
    provider: str | None = typer.Option(
        None, "--provider", "-p", help="Router provider (default: the file's spec.router.provider)."
    ),
    weight: int = typer.Option(
        0, "--weight", "-w", min=0, max=100, help="Challenger traffic percent."
    ),
    mirror: int = typer.Option(
        0, "--mirror", min=0, max=100, help="Percent of champion traffic mirrored."
    ),
    match: bool = typer.Option(
        False, "--match", help="Route requests matching spec.analysis.match to the challenger."
    ),
) -> None:
    """Print the Kubernetes objects the router would apply for these routes (multi-document).

    Exit 2 on a bad file, an unknown provider or a feature the provider lacks (e.g. --mirror
    with nginx).
    """
    from ..rollout._commands import Routes
    from ..routers import MemoryObjectStore, router_class

    text, source = read_text(file)
    docs = load_documents(text, source=source)
    rollout_doc, others = _split(docs, source)
    if provider is not None:
        if provider not in ROUTER_PROVIDERS:
            raise SpecError(
                SpecIssue(
                    "--provider",
                    f"unknown provider {provider!r}",
                    f"use one of {', '.join(ROUTER_PROVIDERS)}",
                ),
                source=source,
            )
        spec = rollout_doc.get("spec")
        if isinstance(spec, dict):  # (a malformed spec is reported by parse_rollout below)
            router = spec.get("router")
            router = router if isinstance(router, dict) else {}
            spec = {**spec, "router": {**router, "provider": provider}}
            rollout_doc = {**rollout_doc, "spec": spec}
    rollout: ModelRollout = parse_rollout(rollout_doc, source=source)
    analysis = rollout.spec.analysis
    if match and not analysis.match:
        raise SpecError(
            SpecIssue("spec.analysis.match", "is empty: --match has nothing to route", "add match"),
            source=source,
        )
    chosen = rollout.spec.router.provider
    try:
        router = router_class(chosen)(MemoryObjectStore(others))
        routes = Routes(
            champion_weight=100 - weight,
            challenger_weight=weight,
            mirror_weight=mirror,
            match=tuple(analysis.match or ()) if match else (),
            session_affinity=analysis.session_affinity,
        )
        objects = router.render(rollout, routes)
    except RouterError as exc:
        raise SpecError(
            SpecIssue("--provider", str(exc), "pick another provider or drop the option"),
            source=source,
        ) from None
    import yaml  # lazy: `modelcanary --help` does not load PyYAML

    typer.echo(yaml.safe_dump_all(objects, sort_keys=False, width=100), nl=False)


def _split(docs: list[Any], source: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rollouts = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if len(rollouts) != 1:
        raise SpecError(
            SpecIssue(
                "",
                f"expected exactly one {KIND} document, found {len(rollouts)}",
                f"give one document with apiVersion: {API_VERSION} and kind: {KIND}",
            ),
            source=source,
        )
    others = []
    for i, doc in enumerate(docs):
        if doc is rollouts[0]:
            continue
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not (
            isinstance(meta, dict)
            and meta.get("name")
            and doc.get("apiVersion")
            and doc.get("kind")
        ):
            raise SpecError(
                SpecIssue(
                    f"document {i + 1}",
                    "is not a Kubernetes object",
                    "give apiVersion, kind and metadata.name",
                ),
                source=source,
            )
        if not meta.get("namespace"):
            namespace = (rollouts[0].get("metadata") or {}).get("namespace") or "default"
            doc = {**doc, "metadata": {**meta, "namespace": namespace}}
        others.append(doc)
    return rollouts[0], others
