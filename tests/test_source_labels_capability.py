"""An A/B match on ``sourceLabels`` is checked against the one capability table
(``spec._traffic.CAPABILITIES``), for every provider: no provider is special-cased by name."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from spec_cases import base

from modelcanary.errors import SpecError
from modelcanary.spec import ROUTER_PROVIDERS, parse_rollout
from modelcanary.spec import _traffic as traffic

PATH = "spec.analysis.match[0].sourceLabels"


def _ab_on_source_labels(provider: str) -> dict[str, Any]:
    doc = base()
    doc["spec"]["router"] = {"provider": provider}
    analysis = doc["spec"]["analysis"]
    del analysis["stepWeights"]
    analysis["iterations"] = 5
    analysis["match"] = [{"sourceLabels": {"app": "checkout"}}]
    return doc


def _source_label_issues(provider: str) -> list[str]:
    """Messages (with fix) of the issues at the match's sourceLabels (other issues, such as a
    provider's own required fields, are not this test's business)."""
    try:
        parse_rollout(_ab_on_source_labels(provider))
    except SpecError as exc:
        return [f"{i.message} (fix: {i.hint})" for i in exc.issues if i.path == PATH]
    return []


@pytest.mark.parametrize("provider", ROUTER_PROVIDERS)
def test_source_labels_are_refused_exactly_where_the_table_says(provider: str) -> None:
    issues = _source_label_issues(provider)
    if "source_labels" in traffic.capabilities(provider).match:
        assert issues == []
    else:
        assert len(issues) == 1
        assert "service mesh" in issues[0] and "istio" in issues[0]
        # the fix lists what this provider can match on instead, from the same table
        assert traffic.capabilities(provider).describe() in issues[0]


def test_the_rule_follows_the_table_not_a_provider_name(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(traffic.CAPABILITIES)
    local = table["local"]
    table["local"] = type(local)(
        mirror=local.mirror,
        match=local.match | {"source_labels"},
        session_affinity=local.session_affinity,
        one_cookie=local.one_cookie,
    )
    table["istio"] = type(local)(match=frozenset({"headers"}))
    monkeypatch.setattr(traffic, "CAPABILITIES", MappingProxyType(table))
    assert _source_label_issues("local") == []
    refused = _source_label_issues("istio")
    assert len(refused) == 1 and "(local)" in refused[0]
