"""Pure pieces of the local router: HTTP framing, body paths, predictions, metrics text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from router_fixtures import metric

from modelcanary.local._proxy.body import ChunkScanner, dechunk
from modelcanary.local._proxy.exposition import RouterMetrics, first_prediction
from modelcanary.local._proxy.http11 import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    HttpError,
    RequestHead,
    ResponseHead,
)
from modelcanary.local._proxy.matching import RequestView, compile_match, lookup, parse_cookies
from modelcanary.rollout._commands import Routes
from modelcanary.spec import MatchCondition

SPLIT = {"dataframe_split": {"columns": ["amount", "country"], "data": [["12.5", "FR"], [1, "DE"]]}}
RECORDS = {"dataframe_records": [{"amount": 3, "country": "IT"}, {"country": "DE"}]}
INSTANCES = {"instances": [{"country": "ES", "flag": True}]}
TENSORS = {"inputs": {"country": ["PT", "DE"], "amount": [7.5]}}


@pytest.mark.parametrize(
    ("doc", "path", "expected"),
    [
        ({"inputs": {"country": "FR"}}, "inputs.country", "FR"),
        (RECORDS, "dataframe_records.0.country", "IT"),
        (RECORDS, "dataframe_records.1.country", "DE"),
        (RECORDS, "dataframe_records.country", "IT"),  # implicit first row
        (RECORDS, "country", "IT"),  # envelope retry
        (RECORDS, "amount", 3),
        (SPLIT, "country", "FR"),  # column of the first row
        (SPLIT, "dataframe_split.country", "FR"),
        (SPLIT, "dataframe_split.data.1.1", "DE"),
        (SPLIT, "amount", "12.5"),
        (INSTANCES, "country", "ES"),
        (INSTANCES, "flag", True),
        (TENSORS, "country", "PT"),  # terminal list -> first element
        (TENSORS, "inputs.amount", 7.5),
        ({"a": {"b": [{"c": 1}]}}, "a.b.c", 1),
    ],
)
def test_body_paths_follow_the_documented_rules(doc: Any, path: str, expected: Any) -> None:
    assert lookup(doc, tuple(path.split("."))) == expected


@pytest.mark.parametrize(
    ("doc", "path"),
    [(SPLIT, "missing"), (RECORDS, "dataframe_records.9.country"), ({"a": 1}, "a.b"), ([], "x")],
)
def test_unresolvable_paths_are_missing(doc: Any, path: str) -> None:
    value = lookup(doc, tuple(path.split(".")))
    assert value is not None and not isinstance(value, str | int | float | list | dict)


def _view(head: bytes, body: bytes = b"") -> RequestView:
    req = RequestHead(head)
    return RequestView(req.lines, req.target, body)


def test_match_needs_every_part_of_one_condition() -> None:
    match = compile_match(
        [
            MatchCondition.model_validate(
                {"headers": {"X-Cohort": {"exact": "beta"}}, "queryParams": {"v": {"prefix": "2"}}}
            ),
            MatchCondition.model_validate({"body": {"country": {"regex": "F.|IT"}}}),
        ]
    )
    assert match is not None
    both = b"POST /p?v=2.1 HTTP/1.1\r\nx-cohort: beta"
    assert match(_view(both))
    assert not match(_view(b"POST /p?v=1 HTTP/1.1\r\nX-COHORT: beta"))
    assert not match(_view(b"POST /p?v=2 HTTP/1.1\r\nx-cohort: betamax"))
    body = json.dumps(SPLIT).encode()
    assert match(_view(b"POST / HTTP/1.1", body))
    assert not match(_view(b"POST / HTTP/1.1", b'{"country": "FRA"}'))  # regex is a full match
    assert not match(_view(b"POST / HTTP/1.1", b"not json"))


def test_cookies_and_numbers_match_as_text() -> None:
    match = compile_match(
        [
            MatchCondition.model_validate(
                {"cookies": {"tier": {"suffix": "gold"}}, "body": {"n": {"exact": "3"}}}
            )
        ]
    )
    assert match is not None
    head = b'POST / HTTP/1.1\r\ncookie: a=1; tier="rose-gold"'
    assert match(_view(head, b'{"n": 3}'))
    assert not match(_view(head, b'{"n": "4"}'))
    assert parse_cookies('a=1; b="x y"; a=2; junk') == {"a": "1", "b": "x y"}


def test_request_head_parsing_and_forwarding() -> None:
    req = RequestHead(b"POST /x?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Request-Id: r1")
    assert (req.method, req.target, req.content_length, req.request_id) == (
        b"POST",
        b"/x?q=1",
        3,
        b"r1",
    )
    assert req.forward_head(b"", b"up:1", 3) is req.head  # nothing to change: raw bytes reused
    hop = RequestHead(
        b"POST /x HTTP/1.1\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
        b"Transfer-Encoding: chunked\r\nKeep-Alive: 5\r\nX-Keep: k"
    )
    assert hop.content_length == -1
    forwarded = hop.forward_head(b"/prefix", b"up:1", 5).lower()
    assert forwarded.startswith(b"post /prefix/x http/1.1\r\n")
    for gone in (b"connection", b"x-secret", b"transfer-encoding", b"keep-alive"):
        assert gone not in forwarded
    assert b"x-keep: k" in forwarded and b"content-length: 5" in forwarded
    assert b"host: up:1" in forwarded
    with pytest.raises(HttpError) as bad:
        RequestHead(b"GET / HTTP/2.0")
    assert bad.value.status == 505
    with pytest.raises(HttpError) as bad:
        RequestHead(b"POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2")
    assert bad.value.status == 400
    with pytest.raises(HttpError) as bad:  # RFC 9112 6.3: chunked not final is a 400
        RequestHead(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip")
    assert bad.value.status == 400
    with pytest.raises(HttpError) as bad:  # a coding the router cannot decode
        RequestHead(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked")
    assert bad.value.status == 501


def test_response_framing() -> None:
    assert ResponseHead(b"HTTP/1.1 200 OK\r\nContent-Length: 4", False).framing == LENGTH
    assert ResponseHead(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", False).framing == CHUNKED
    assert ResponseHead(b"HTTP/1.1 204 No Content", False).framing == NO_BODY
    assert ResponseHead(b"HTTP/1.1 200 OK\r\nContent-Length: 4", True).framing == NO_BODY
    old = ResponseHead(b"HTTP/1.0 200 OK\r\nServer: x", False)
    assert old.framing == UNTIL_CLOSE and old.close
    head = old.client_head(7, False)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"content-length: 7")
    closing = ResponseHead(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2", False)
    assert closing.close and b"onnection" not in closing.client_head(2, False)


def test_chunk_scanner_resumes_and_dechunks() -> None:
    raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    scanner = ChunkScanner(0)
    for cut in range(len(raw) - 4):
        assert scanner.scan(raw[:cut]) == -1
    assert scanner.scan(raw) == len(raw) - 4
    assert dechunk(raw[: len(raw) - 4]) == b"hello world"
    with pytest.raises(HttpError):
        ChunkScanner(0).scan(b"zz\r\n")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"predictions": [0.25, 0.5]}', 0.25),
        (b'{"predictions": ["fraud"]}', "fraud"),
        (b'{"predictions": [[0.1, 0.9]]}', 0.1),
        (b'{"predictions": [{"label": "ok", "score": 0.9}]}', "ok"),
        (b'{"predictions": [{"score": 0.7, "other": "x"}]}', 0.7),
        (b'{"predictions": [{"zzz": 4}]}', 4.0),
        (b'{"predictions": [true]}', 1.0),
        (b'{"predictions": {"proba": [0.3, 0.4]}}', 0.3),
        (b'{"outputs": [{"name": "y", "data": [2, 3]}]}', 2.0),
        (b"[7, 8]", 7.0),
        (b'{"predictions": []}', None),
        (b'{"result": 1}', None),
        (b"oops", None),
    ],
)
def test_first_prediction(body: bytes, expected: Any) -> None:
    assert first_prediction(body) == expected


def test_metrics_text_has_the_contract_names_and_cumulative_buckets() -> None:
    metrics = RouterMetrics("fraud")
    metrics.observe(0, False, 200, 0.003, 0.5)
    metrics.observe(0, False, 200, 0.02, 0.05)
    metrics.observe(1, True, 502, 0.2, None)
    metrics.observe(1, False, 200, 0.001, 'say "hi"')
    metrics.mirror_dropped = 4
    routes = Routes(champion_weight=80, challenger_weight=20, mirror_weight=30)
    text = metrics.render(routes).decode()
    requests = "modelcanary_router_requests_total"
    assert metric(text, requests, version="champion", status="200", mirrored="false") == 2
    assert metric(text, requests, version="challenger", status="502", mirrored="true") == 1
    duration = "modelcanary_router_request_duration_seconds_bucket"
    assert metric(text, duration, version="champion", mirrored="false", le="0.0025") == 0
    assert metric(text, duration, version="champion", mirrored="false", le="0.005") == 1
    assert metric(text, duration, version="champion", mirrored="false", le="+Inf") == 2
    assert metric(text, duration, version="challenger", mirrored="false", le="0.001") == 1
    pred = "modelcanary_router_prediction_bucket"
    assert metric(text, pred, version="champion", mirrored="false", le="0.1") == 1
    assert metric(text, pred, version="champion", mirrored="false", le="0.5") == 2
    assert metric(text, "modelcanary_router_prediction_count", version="champion") == 2
    assert metric(text, "modelcanary_router_prediction_sum", version="champion") == 0.55
    labels = 'modelcanary_router_predictions_total{rollout="fraud",version="challenger",'
    assert labels + 'mirrored="false",label="say \\"hi\\""} 1' in text
    assert metric(text, "modelcanary_router_weight", version="challenger") == 20
    assert metric(text, "modelcanary_router_mirror_weight") == 30
    assert metric(text, "modelcanary_router_mirror_dropped_total") == 4
    les = [line.split('le="')[1].split('"')[0] for line in text.splitlines() if duration in line]
    assert " ".join(les[:14]) == "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf"
