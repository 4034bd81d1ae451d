"""docs/routers.md stays true: its objects validate and its Istio example is what is rendered."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from router_schemas import assert_valid

from modelcanary.rollout._commands import Routes
from modelcanary.routers import ROUTERS, MemoryObjectStore
from modelcanary.spec import parse_rollout_yaml
from modelcanary.spec._traffic import CAPABILITIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "routers.md"


def _blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_every_object_in_the_doc_validates() -> None:
    objects = [yaml.safe_load(b) for b in _blocks() if "kind: ModelRollout" not in b]
    assert {o["kind"] for o in objects} >= {
        "VirtualService",
        "HTTPRoute",
        "Ingress",
        "TrafficSplit",
        "InferenceService",
        "MeshHTTPRoute",
    }
    assert_valid(objects)


def test_istio_example_is_the_rendered_object() -> None:
    (rollout_text,) = [b for b in _blocks() if "kind: ModelRollout" in b]
    rollout = parse_rollout_yaml(rollout_text)
    routes = Routes(champion_weight=75, challenger_weight=25, mirror_weight=50)
    rendered = ROUTERS["istio"](MemoryObjectStore()).render(rollout, routes)[-1]
    documented = next(yaml.safe_load(b) for b in _blocks() if "kind: VirtualService" in b)
    assert documented == rendered


def test_the_provider_table_says_what_the_capability_table_says() -> None:
    """The mirror, A/B match and session affinity columns agree with ``spec.traffic``."""
    rows = re.findall(r"^\| `([\w-]+)` \|(.*)\|\s*$", DOC.read_text(encoding="utf-8"), flags=re.M)
    documented = {
        name: [c.strip() for c in cells.split("|")] for name, cells in rows if name in CAPABILITIES
    }
    assert set(documented) == set(ROUTERS)
    for provider, cells in documented.items():
        _objects, _weights, mirror, match, affinity = cells
        caps = CAPABILITIES[provider]
        assert mirror.startswith("yes") is caps.mirror, provider
        assert (match != "no") is bool(caps.match), provider
        assert affinity.startswith("yes") is caps.session_affinity, provider
        for part, words in (("query_params", "query params"), ("source_labels", "source labels")):
            assert (words in match) is (part in caps.match), (provider, part)
