"""Issue 12 (items 5 and 10): what validation used to accept and a run later choked on.

Header injection through cookie and header names, URLs checked only by their prefix, ports
and rates without bounds, durations that overflow timers, quoted numbers, NaN thresholds:
each is now a SpecError naming the field and the fix.
"""

from __future__ import annotations

from typing import Any

import pytest
from spec_cases import base, set_path

from modelcanary.errors import SpecError
from modelcanary.spec import parse_duration, parse_rollout

INJECTION = "mc\r\nX-Injected: evil\r\nSet-Cookie: session=attacker; Path=/"
ISTIO = [
    ("spec.targetRef", {"name": "p"}),
    ("spec.champion", ...),
    ("spec.challenger", ...),
    ("spec.router", {"provider": "istio"}),
]


def _issues(edits: list[tuple[str, Any]]) -> list[str]:
    doc = base()
    for path, value in edits:
        set_path(doc, path, value)
    with pytest.raises(SpecError) as info:
        parse_rollout(doc)
    return [f"{i.path} :: {i.message} {i.hint}" for i in info.value.issues]


def _valid(edits: list[tuple[str, Any]]) -> None:
    doc = base()
    for path, value in edits:
        set_path(doc, path, value)
    parse_rollout(doc)


def _affinity(**fields: Any) -> list[tuple[str, Any]]:
    return [("spec.analysis.sessionAffinity", {"cookieName": "mc-canary", **fields})]


# (id, edits, path of the issue, text in message or fix)
REJECTED: list[tuple[str, list[tuple[str, Any]], str, str]] = [
    # item 5: what the router writes into Set-Cookie and request headers
    ("cookie-crlf", _affinity(cookieName=INJECTION), "sessionAffinity.cookieName", "'\\r'"),
    ("cookie-latin1", _affinity(cookieName="mcé"), "sessionAffinity.cookieName", "'é'"),
    ("cookie-cyrillic", _affinity(cookieName="мц"), "sessionAffinity.cookieName", "letters"),
    ("cookie-space", _affinity(cookieName="mc canary"), "sessionAffinity.cookieName", "' '"),
    ("cookie-equals", _affinity(cookieName="a=b"), "sessionAffinity.cookieName", "'='"),
    ("cookie-semicolon", _affinity(cookieName="a;b"), "sessionAffinity.cookieName", "';'"),
    (
        "primary-cookie",
        _affinity(primaryCookieName="x\nSet-Cookie: a=b"),
        "sessionAffinity.primaryCookieName",
        "'\\n'",
    ),
    ("cookie-domain", _affinity(domain="a.com; Secure"), "sessionAffinity.domain", "host name"),
    ("cookie-path", _affinity(path="/a;HttpOnly"), "sessionAffinity.path", "';'"),
    ("cookie-path-crlf", _affinity(path="/\r\nX: y"), "sessionAffinity.path", "line breaks"),
    (
        "match-header-name",
        [("spec.analysis.match", [{"headers": {"x-cohort\r\nx-evil": {"exact": "a"}}}])],
        "match[0].headers['x-cohort\\r\\nx-evil']",
        "header/cookie name",
    ),
    (
        "match-cookie-name",
        [("spec.analysis.match", [{"cookies": {"a b": {"exact": "a"}}}])],
        "match[0].cookies.a b",
        "' '",
    ),
    (
        "load-header-name",
        [("spec.load", {"headers": {"X-Cohort: beta\r\nX-Evil": "1"}})],
        "spec.load.headers['X-Cohort: beta\\r\\nX-Evil']",
        "header/cookie name",
    ),
    (
        "load-header-value",
        [("spec.load", {"headers": {"X-Cohort": "beta\r\nX-Evil: 1"}})],
        "spec.load.headers.X-Cohort",
        "'\\r'",
    ),
    (
        "load-header-non-ascii",
        [("spec.load", {"headers": {"X-Cohort": "bêta"}})],
        "spec.load.headers.X-Cohort",
        "'ê'",
    ),
    (
        "provider-header",
        [("spec.metricsProvider", {"headers": {"X-Scope-OrgID": ["a\nb"]}})],
        "spec.metricsProvider.headers.X-Scope-OrgID[0]",
        "'\\n'",
    ),
    (
        "mesh-header-name",
        [*ISTIO, ("spec.service", {"headers": {"request": {"set": {"x a": "1"}}}})],
        "spec.service.headers",
        "request.set",
    ),
    (
        "mesh-header-value-type",
        [*ISTIO, ("spec.service", {"headers": {"response": {"add": {"x-a": 5}}}})],
        "spec.service.headers",
        "quote it",
    ),
    # item 10: durations, ports, rates and counts with an upper bound
    ("huge-interval", [("spec.analysis.interval", "99999999999999999999h")], "interval", "720h"),
    ("long-interval", [("spec.analysis.interval", "721h")], "spec.analysis.interval", "720h"),
    (
        "huge-webhook-timeout",
        [("spec.analysis.webhooks", [{"name": "g", "url": "http://g/", "timeout": "999999999h"}])],
        "spec.analysis.webhooks[0].timeout",
        "720h",
    ),
    ("listen-port", [("spec.router", {"listen": "127.0.0.1:70000"})], "listen", "1-65535"),
    ("listen-port-zero", [("spec.router", {"listen": "127.0.0.1:0"})], "listen", "1-65535"),
    ("listen-no-port", [("spec.router", {"listen": "127.0.0.1"})], "listen", "HOST:PORT"),
    ("listen-empty-host", [("spec.router", {"listen": ":8080"})], "listen", "HOST:PORT"),
    ("listen-space", [("spec.router", {"listen": "local host:80"})], "listen", "space"),
    ("listen-ipv6", [("spec.router", {"listen": "[::1]:8080"})], "listen", "IPv6"),
    ("rps-huge", [("spec.load", {"rps": 10**12})], "spec.load.rps", "10000"),
    ("concurrency-huge", [("spec.load", {"concurrency": 10**6})], "concurrency", "1024"),
    ("threshold-huge", [("spec.analysis.threshold", 10**30)], "threshold", "1000"),
    ("deadline-huge", [("spec.progressDeadlineSeconds", 10**30)], "progressDeadline", "2592000"),
    (
        "iterations-huge",
        [("spec.analysis.stepWeights", ...), ("spec.analysis.iterations", 10**9)],
        "spec.analysis.iterations",
        "10000",
    ),
    ("max-age-huge", _affinity(maxAge=10**12), "sessionAffinity.maxAge", "34560000"),
    ("target-port", [("spec.service", {"targetPort": 70000})], "spec.service.targetPort", ""),
    ("target-port-name", [("spec.service", {"targetPort": "h t"})], "targetPort", "pattern"),
    # item 10: values the CRD (and the API server) refuses, and values that mislead
    ("quoted-int", [("spec.analysis.threshold", "3")], "spec.analysis.threshold", "quotes"),
    ("quoted-bool", [("spec.analysis.mirror", "yes")], "spec.analysis.mirror", "quotes"),
    ("quoted-weight", [("spec.analysis.stepWeights", ["5"])], "stepWeights[0]", "quotes"),
    (
        "nan-threshold",
        [("spec.analysis.metrics[0].thresholdRange", {"max": float("nan")})],
        "spec.analysis.metrics[0].thresholdRange.max",
        "finite",
    ),
    (
        "inf-threshold",
        [("spec.analysis.metrics[0].thresholdRange", {"min": float("-inf")})],
        "spec.analysis.metrics[0].thresholdRange.min",
        "finite",
    ),
    (
        "negative-latency",
        [("spec.analysis.metrics", [{"name": "latency-p99", "thresholdRange": {"max": -1}}])],
        "spec.analysis.metrics[0].thresholdRange.max",
        "negative",
    ),
    (
        "negative-ratio",
        [
            (
                "spec.analysis.metrics",
                [{"name": "latency-p99", "relativeTo": "champion", "thresholdRange": {"max": -1}}],
            )
        ],
        "spec.analysis.metrics[0].thresholdRange.max",
        "comparison: difference",
    ),
    (
        "negative-deprecated-threshold",
        [("spec.analysis.metrics", [{"name": "throughput", "threshold": -5}])],
        "spec.analysis.metrics[0].threshold",
        "negative",
    ),
    ("empty-query", [("spec.analysis.metrics[0].query", "")], "metrics[0].query", "at least 1"),
    ("metric-name-crlf", [("spec.analysis.metrics[0].name", "e\r\nx")], "metrics[0].name", "'\\r'"),
    ("label-value", [("metadata.labels", {"team": "risk team"})], "metadata.labels.team", "63"),
    ("label-key", [("metadata.labels", {"a/b/c": "x"})], "metadata.labels.a/b/c", "label key"),
    ("env-name", [("spec.champion.env", {"A=B": "1"})], "spec.champion.env.A=B", "'='"),
    (
        "secret-env",
        [("spec.metricsProvider", {"type": "datadog", "secretRef": {"env": "DD KEY"}})],
        "spec.metricsProvider.secretRef.env",
        "environment variable",
    ),
]


@pytest.mark.parametrize(
    ("edits", "path", "expected"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_value_is_rejected_naming_field_and_fix(
    edits: list[tuple[str, Any]], path: str, expected: str
) -> None:
    issues = _issues(edits)
    assert any(path in i.split(" :: ")[0] and expected in i for i in issues), issues


URLS = [
    ("http://a b/", "space"),
    ("http://gate/\r\nX-Injected: 1", "control character"),
    ("http://gate:999999/", "1-65535"),
    ("http://gate:0/", "1-65535"),
    ("http://gate:http/", "1-65535"),
    ("ftp://gate/", "scheme 'ftp'"),
    ("gate:8080", "no scheme"),
    ("http:///path", "no host"),
    ("http://ga<te/", "host"),
    ("http://999.1.1.1/", "IPv4"),
    ("http://[::zz]:80/", "IPv6"),
    ("http://" + "a" * 3000, "2048"),
]
URL_FIELDS: list[tuple[str, str, Any]] = [
    ("spec.champion", "spec.champion.url", lambda u: {"url": u}),
    (
        "spec.analysis.webhooks",
        "spec.analysis.webhooks[0].url",
        lambda u: [{"name": "g", "url": u}],
    ),
    ("spec.metricsProvider", "spec.metricsProvider.address", lambda u: {"address": u}),
    (
        "spec.analysis.metrics[0].provider",
        "spec.analysis.metrics[0].provider.address",
        lambda u: {"type": "prometheus", "address": u},
    ),
    (
        "spec.analysis.alerts",
        "spec.analysis.alerts[0].provider.address",
        lambda u: [{"name": "a", "provider": {"type": "slack", "address": u}}],
    ),
    (
        "spec.analysis.alerts",
        "spec.analysis.alerts[0].provider.proxy",
        lambda u: [{"name": "a", "provider": {"type": "slack", "proxy": u}}],
    ),
]


@pytest.mark.parametrize(("url", "expected"), URLS, ids=[u[1] for u in URLS])
@pytest.mark.parametrize(("where", "path", "make"), URL_FIELDS, ids=[f[1] for f in URL_FIELDS])
def test_every_url_field_has_one_check(
    where: str, path: str, make: Any, url: str, expected: str
) -> None:
    issues = _issues([(where, make(url))])
    assert any(i.startswith(f"{path} :: ") and expected in i for i in issues), issues


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("spec.champion", {"url": "http://127.0.0.1:5001"}),
        ("spec.champion", {"url": "https://user:t0ken@models.example.com/v1/fraud?x=1#y"}),
        ("spec.champion", {"url": "http://[::1]:8080/"}),
        ("spec.champion", {"url": "HTTP://Host.example"}),
        ("spec.metricsProvider", {"type": "opentelemetry", "address": "otlp+http://c:4318"}),
        (
            "spec.analysis.alerts",
            [{"name": "a", "provider": {"type": "datadog", "address": "datadoghq.eu"}}],
        ),
        (
            "spec.analysis.alerts",
            [{"name": "a", "provider": {"type": "slack", "proxy": "socks5://p:1080"}}],
        ),
        ("spec.router", {"listen": "localhost:65535"}),
        (
            "spec.load",
            {"rps": 10_000, "concurrency": 1024, "headers": {"X-Cohort": "", "A": "b c"}},
        ),
        ("spec.analysis.interval", "720h"),
        ("metadata.labels", {"app.kubernetes.io/name": "fraud", "empty": ""}),
        ("spec.champion.env", {"OMP_NUM_THREADS": "", "SCRIPT": "line1\nline2"}),
        (
            "spec.analysis.sessionAffinity",
            {
                "cookieName": "__Host-mc_canary!#$%&'*+.^`|~",
                "domain": ".example.com",
                "path": "/predict",
            },
        ),
    ],
)
def test_legitimate_values_still_pass(where: str, value: Any) -> None:
    _valid([(where, value)])


def test_url_errors_do_not_echo_the_url() -> None:
    """Slack and Teams webhook URLs are the credential: the message must not print them."""
    secret = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN x"
    issues = _issues(
        [
            (
                "spec.analysis.alerts",
                [{"name": "a", "provider": {"type": "slack", "address": secret}}],
            )
        ]
    )
    assert issues and not any("SECRETTOKEN" in i for i in issues), issues


def test_difference_comparison_may_be_negative() -> None:
    metric = {
        "name": "latency-p99",
        "relativeTo": "champion",
        "comparison": "difference",
        "thresholdRange": {"min": -50, "max": 20},
    }
    _valid([("spec.analysis.metrics", [metric])])


def test_duration_parser_has_an_upper_bound() -> None:
    assert parse_duration("720h") == 30 * 24 * 3600
    with pytest.raises(ValueError, match="720h"):
        parse_duration("99999999999999999999h")
    with pytest.raises(ValueError, match="720h"):
        parse_duration("9" * 400 + "s")  # float('9'*400) is inf
