"""Load cohorts (``spec.load.cohorts``) and the warnings about stages the local load cannot feed.

Pure parts (builder forms, spec validation, values for a match, reachability warnings), the
``modelcanary validate`` output, and the load generator against a real HTTP server on loopback.
The end-to-end A/B rollouts are in ``tests/runtime/test_ab_cohorts_e2e.py``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from polling import until
from typer.testing import CliRunner

import modelcanary as mc
from modelcanary.cli._main import app
from modelcanary.errors import SpecError
from modelcanary.local._load import LoadGenerator
from modelcanary.spec import StringMatch, parse_rollout_yaml
from modelcanary.spec._load import CohortRequest, resolve_cohorts
from modelcanary.spec._load_reach import LoadWarning
from modelcanary.spec._patterns import full_match
from modelcanary.spec._samples import sample_value


def base() -> mc.Rollout:
    return (
        mc.Rollout("fraud")
        .champion("http://127.0.0.1:9001")
        .challenger("http://127.0.0.1:9002")
        .slo(mc.sli.error_rate() < "1%")
    )


def ab(**match: Any) -> mc.Rollout:
    return base().ab_test(
        iterations=5, interval="10s", **(match or {"header": "x-cohort", "value": "beta"})
    )


def issues_of(make: Any) -> list[str]:
    with pytest.raises(SpecError) as err:
        make().build()
    return [str(issue) for issue in err.value.issues]


# -- builder forms -> spec -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cohorts", "expected"),
    [
        (0.2, [{"share": 0.2}]),
        ("20%", [{"share": 0.2}]),
        ({"beta": 0.2}, [{"share": 0.2, "value": "beta"}]),
        ({"x-cohort=beta": 0.2}, [{"share": 0.2, "headers": {"x-cohort": "beta"}}]),
        ({"x-cohort: beta": "10%"}, [{"share": 0.1, "headers": {"x-cohort": "beta"}}]),
        ({"cookie: x-cohort=beta": 0.3}, [{"share": 0.3, "headers": {"cookie": "x-cohort=beta"}}]),
        ([{"share": 0.1, "match": 0}], [{"share": 0.1, "match": 0}]),
    ],
)
def test_builder_forms_become_spec_cohorts_and_survive_yaml(cohorts: Any, expected: Any) -> None:
    cookie = "cookie" in str(cohorts)
    r = (ab(cookie="x-cohort", value="beta") if cookie else ab()).load(rps=20, cohorts=cohorts)
    assert r.load_warnings() == []
    built = r.build()
    assert built.to_dict()["spec"]["load"]["cohorts"] == expected
    again = parse_rollout_yaml(r.to_yaml())
    assert again.spec.load is not None and again.spec.load == built.spec.load


def test_ab_test_may_come_after_load() -> None:
    r = base().load(rps=20, cohorts={"beta": 0.2}).ab_test(header="x-cohort", value="beta")
    assert r.load_warnings() == []
    assert r.build().spec.load is not None


@pytest.mark.parametrize(
    ("make", "path", "words"),
    [
        (lambda: ab().load(cohorts={"gamma": 0.2}), "spec.load.cohorts[0].value", "'beta'"),
        (
            lambda: ab().load(cohorts=[{"share": 0.2, "match": 2}]),
            "spec.load.cohorts[0].match",
            "0 to 0",
        ),
        (lambda: ab().load(cohorts={"beta": 0.7, "x-a=b": 0.6}), "spec.load.cohorts", "at most 1"),
        (lambda: base().canary(steps=[10]).load(cohorts=0.2), "spec.load.cohorts[0]", "ab_test("),
        (lambda: ab().load(cohorts=1.5), "spec.load.cohorts[0].share", "less than or equal to 1"),
        (lambda: ab().load(cohorts=0), "spec.load.cohorts[0].share", "greater than 0"),
        (
            lambda: ab().load(cohorts=[{"share": 0.2, "match": 0, "value": "beta"}]),
            "spec.load.cohorts[0]",
            "at most one of match, value, headers",
        ),
        (
            lambda: ab(body_field="country", value="FR").load(cohorts=0.2),
            "spec.analysis.match[0].body",
            "payloads whose field matches",
        ),
        (
            lambda: ab(header="x-cohort", regex="[a-z]{300}").load(cohorts=0.2),
            "spec.analysis.match[0].headers.x-cohort.regex",
            "cohorts={'x-cohort=VALUE': 0.2}",
        ),
        (
            lambda: ab(cookie="tier", regex="gold tier").load(cohorts=0.2),
            "spec.analysis.match[0].cookies.tier.regex",
            "cohorts={'cookie: tier=VALUE': 0.2}",
        ),
    ],
)
def test_cohorts_that_cannot_be_sent_are_errors_naming_field_and_fix(
    make: Any, path: str, words: str
) -> None:
    found = issues_of(make)
    assert any(issue.startswith(f"{path}:") and words in issue for issue in found), found


@pytest.mark.parametrize(
    ("cohorts", "path"),
    [
        (True, "spec.load.cohorts"),
        ({"=beta": 0.2}, "spec.load.cohorts[0]"),
        ({"beta": "x"}, "spec.load.cohorts[0].share"),
    ],
)
def test_bad_builder_arguments_are_spec_errors(cohorts: Any, path: str) -> None:
    with pytest.raises(SpecError) as err:
        ab().load(cohorts=cohorts)
    assert err.value.issues[0].path == path and err.value.issues[0].hint


# -- the value a match accepts ----------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "beta",
        "be(ta|tb)-[0-9]{2}",
        "(?i)BETA",
        "^beta$",
        r"\d{3}-\w+",
        "[^a-z]+x",
        "a.*z",
        "(gold|silver)+",
        "x[.-]y",
        r"tier-\S\s?",
    ],
)
def test_a_regex_gets_a_value_re2_accepts(pattern: str) -> None:
    value = sample_value(StringMatch(regex=pattern))
    assert value is not None and full_match(pattern)(value), value


@pytest.mark.parametrize("pattern", ["[[:alpha:]]{2}x", "a{300}", r"\pL+"])
def test_a_regex_without_a_short_value_is_refused_not_guessed(pattern: str) -> None:
    value = sample_value(StringMatch(regex=pattern))
    assert value is None or full_match(pattern)(value)


def test_a_condition_of_several_parts_gets_all_of_them() -> None:
    r = ab(
        headers={"x-cohort": "beta"},
        cookies={"tier": StringMatch(prefix="gold")},
        query_params={"v": StringMatch(suffix="2")},
    ).load(rps=20, headers={"Cookie": "session=1"}, cohorts=0.5)
    built = r.build()
    assert built.spec.load is not None
    resolved, issues = resolve_cohorts(built.spec.load.cohorts, built.spec.analysis)
    assert issues == []
    assert resolved == [CohortRequest(0.5, {"x-cohort": "beta", "cookie": "tier=gold"}, {"v": "2"})]
    assert r.load_warnings() == []  # the base cookie is kept beside the cohort's


# -- warnings: stages the load cannot feed -------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "path", "words"),
    [
        (
            lambda: ab().load(rps=20),
            "spec.load.cohorts",
            "no request of the load satisfies spec.analysis.match",
        ),
        (
            lambda: ab().load(rps=20, cohorts={"x-cohort=gamma": 0.2}),
            "spec.load.cohorts",
            "no request",
        ),
        (
            lambda: ab().load(rps=20, headers={"X-Cohort": "beta"}),
            "spec.load.headers",
            "the champion gets no requests",
        ),
        (
            lambda: ab().load(rps=20, cohorts=1.0),
            "spec.load.cohorts",
            "shares add up to less than 1",
        ),
        (lambda: ab().load(rps=2, cohorts=0.02), "spec.load.rps", "raise load.rps to 25"),
        (
            lambda: base().canary(steps=[1, 2, 50], interval="10s").load(rps=2),
            "spec.load.rps",
            "spec.analysis.stepWeights (weight 1%, weight 2%)",
        ),
        (
            lambda: base().shadow(percent=2).canary(steps=[50], interval="10s").load(rps=2),
            "spec.load.rps",
            "mirror 2%",
        ),
        (
            lambda: base().canary(steps=[10, 20, 50], interval="10s").load(rps=20, duration="15s"),
            "spec.load.duration",
            "spec.analysis.stepWeights (canary 50%) starts about 20s",
        ),
    ],
)
def test_a_stage_the_load_cannot_feed_is_a_warning_naming_field_and_fix(
    make: Any, path: str, words: str
) -> None:
    rollout = make()
    found = rollout.load_warnings()
    assert any(w.startswith(f"{path}:") and words in w and "(fix: " in w for w in found), found
    with pytest.warns(LoadWarning) as record:
        rollout.build()  # still valid: a warning, not an error
    assert [str(w.message) for w in record] == found


@pytest.mark.parametrize(
    "make",
    [
        lambda: ab(),  # no built-in load: nothing to warn about
        lambda: ab().load(rps=20, cohorts=0.2),
        lambda: ab(header="x-cohort", regex="be.*").load(rps=20, cohorts={"x-cohort=beta": 0.2}),
        lambda: ab(body_field="country", value="FR").load(rps=20),  # the payloads decide
        lambda: base().canary(steps=[10, 50], interval="10s").load(rps=20, duration="1m"),
    ],
)
def test_a_load_that_feeds_every_stage_is_not_warned_about(make: Any) -> None:
    rollout = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rollout.build()
    assert rollout.load_warnings() == []


def test_validate_prints_the_warning_and_stays_valid(tmp_path: Path) -> None:
    file = tmp_path / "ab.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoadWarning)
        file.write_text(ab().load(rps=20, requests="r.jsonl").to_yaml())
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert "warning" in result.stderr and "spec.load.cohorts" in result.stderr
    assert "cohorts=0.2" in result.stderr
    fixed = yaml.safe_load(file.read_text())
    fixed["spec"]["load"]["cohorts"] = [{"share": 0.2}]
    file.write_text(yaml.safe_dump(fixed))
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 0 and result.stderr == "", result.stderr


# -- the load generator sends the cohorts --------------------------------------------------------


class Upstream:
    """Records each request's headers and query string."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, list[str]]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                query = parse_qs(urlsplit(self.path).query)
                outer.seen.append(({k.lower(): v for k, v in self.headers.items()}, query))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/invocations"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.server.shutdown()


def test_generator_sends_each_cohort_on_its_share_of_requests(upstream: Upstream) -> None:
    cohorts = [
        CohortRequest(0.2, {"x-cohort": "beta"}),
        CohortRequest(0.1, {"cookie": "tier=gold"}, {"v": "a b"}),
    ]
    gen = LoadGenerator(
        upstream.url,
        [{"inputs": [1]}],
        rps=200,
        concurrency=16,
        headers={"Cookie": "session=1", "x-team": "ml"},
        cohorts=cohorts,
    )
    # stopped once 150 requests arrived, not after a wall-clock duration (a loaded machine
    # may send fewer in 1.5 s); stop() waits for the requests in flight
    gen.start()
    until(lambda: len(upstream.seen) >= 150, "150 requests at the upstream", 120)
    stats = gen.stop()
    seen = upstream.seen
    assert len(seen) == stats.sent >= 150
    beta = [h for h, _ in seen if h.get("x-cohort") == "beta"]
    gold = [(h, q) for h, q in seen if "tier=gold" in h.get("cookie", "")]
    # exactly the requests the draw put in each cohort (its share: the next test)
    draws = [gen.cohort_of(i) for i in range(stats.sent)]
    assert len(beta) == stats.cohort_sent[0] == draws.count(1) > 0
    assert len(gold) == stats.cohort_sent[1] == draws.count(2) > 0
    assert all(h["cookie"] == "session=1; tier=gold" and q == {"v": ["a b"]} for h, q in gold)
    assert all(h["x-team"] == "ml" for h, _ in seen)  # load.headers go with every request
    rest = [
        (h, q) for h, q in seen if "x-cohort" not in h and "tier=gold" not in h.get("cookie", "")
    ]
    assert all(h["cookie"] == "session=1" and q == {} for h, q in rest)


def test_cohort_shares_hold_over_many_requests() -> None:
    cohorts = [CohortRequest(0.2, {"a": "1"}), CohortRequest(0.1, {"b": "1"})]
    gen = LoadGenerator("http://127.0.0.1:9/x", [{"a": 1}], cohorts=cohorts)
    for n in (500, 5000):
        draws = [gen.cohort_of(i) for i in range(n)]
        assert abs(draws.count(1) / n - 0.2) < 0.035 and abs(draws.count(2) / n - 0.1) < 0.03


def test_cohort_draw_is_per_request_deterministic_and_independent_of_the_payload() -> None:
    cohorts = [CohortRequest(0.5, {"x-cohort": "beta"})]
    one = LoadGenerator("http://127.0.0.1:9/x", [{"a": 1}, {"a": 2}], cohorts=cohorts)
    two = LoadGenerator("http://127.0.0.1:9/x", [{"a": 1}, {"a": 2}], cohorts=cohorts)
    draws = [one.cohort_of(i) for i in range(4000)]
    assert draws == [two.cohort_of(i) for i in range(4000)]  # the same on every run
    assert abs(draws.count(1) / 4000 - 0.5) < 0.03
    # with two payloads in rotation, each payload is in the cohort about half the time
    for parity in (0, 1):
        picked = draws[parity::2]
        assert 0.45 < sum(picked) / len(picked) < 0.55
    other = LoadGenerator("http://127.0.0.1:9/x", [{"a": 1}], cohorts=cohorts, seed=7)
    assert [other.cohort_of(i) for i in range(4000)] != draws
