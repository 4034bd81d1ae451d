"""Pairing answers for shadow evaluation (pure): mirror halves by request id, served answers
by arrival for reference evaluators, every answer used at most once, failures skipped, and
deterministic judgements that say why (a judge that cannot run is an error, not a win)."""

from __future__ import annotations

from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._shadow_eval import (
    KEPT_CHARS,
    AnswerPair,
    Pairing,
    judge_pair,
    outcome_counts,
)


def _ex(
    rid: str,
    side: str,
    t: float,
    answer: str,
    *,
    mirrored: bool = False,
    reference: str | None = "42",
    status: int = 200,
) -> LLMExchange:
    return LLMExchange(
        t, side, mirrored, rid, status, None if status < 400 else "server", False,  # type: ignore[arg-type]
        5, 1, True, 10.0, 10.0, None, answer, "stop", reference,
    )  # fmt: skip


def test_mirror_halves_pair_by_request_id_in_any_order() -> None:
    pairing = Pairing("pairwise")
    pairs = pairing.add(
        [
            _ex("a", "challenger", 1.0, "41", mirrored=True),
            _ex("b", "champion", 1.1, "42"),
            _ex("c", "champion", 1.2, "42"),
            _ex("c", "challenger", 1.2, "boom", mirrored=True, status=500),  # failed: skipped
            _ex("a", "champion", 1.0, "42"),
            _ex("b", "challenger", 1.1, "42", mirrored=True),
        ]
    )
    assert [(p.request_id, p.champion, p.challenger) for p in pairs] == [
        ("a", "42", "41"),
        ("b", "42", "42"),
    ]
    assert all(p.mirrored and p.reference == "42" for p in pairs)
    # served answers are never paired by arrival for the LLM judge (different questions)
    assert pairing.add([_ex("x", "challenger", 2.0, "1"), _ex("y", "champion", 2.0, "2")]) == []


def test_served_answers_pair_by_arrival_with_their_own_references() -> None:
    pairing = Pairing("reference")
    pairs = pairing.add(
        [
            _ex("c1", "champion", 1.0, "42", reference="42"),
            _ex("c2", "champion", 1.1, "7", reference="7"),
            _ex("x1", "challenger", 1.2, "8", reference="9"),
            _ex("x2", "challenger", 1.3, "5", reference="5"),
            _ex("x3", "challenger", 1.4, "3", reference="3"),  # waits for a champion answer
        ]
    )
    assert [(p.champion, p.challenger, p.mirrored) for p in pairs] == [
        ("42", "8", False),
        ("7", "5", False),
    ]
    judged = [judge_pair(p, "reference", 2.0, references=pairing.references(p)) for p in pairs]
    assert [j.outcome for j in judged] == ["loss", "tie"]
    assert judged[0].reason == (
        "champion: matches the reference; challenger: does not match the reference"
    )
    assert judged[0].reference == "9"  # the challenger's request's reference


def test_an_answer_is_used_once_when_mirror_and_split_mix() -> None:
    pairing = Pairing("normalised", wait_s=5.0)
    first = pairing.add(
        [
            _ex("x1", "challenger", 1.0, "42"),  # served challenger waits
            _ex("c1", "champion", 1.1, "42"),  # used at once by x1 ...
            _ex("c1", "challenger", 1.1, "41", mirrored=True),  # ... so its mirror finds none
            _ex("c2", "champion", 1.2, "42"),
            _ex("c2", "challenger", 1.2, "42", mirrored=True),  # mirror pair c2
            _ex("x2", "challenger", 1.3, "40"),  # c2 is used: waits
        ]
    )
    assert [(p.request_id, p.mirrored) for p in first] == [("x1", False), ("c2", True)]
    later = pairing.add([_ex("z", "champion", 30.0, "42")])  # x2 takes z, c1's mirror expires
    assert [(p.request_id, p.champion, p.challenger) for p in later] == [("x2", "42", "40")]
    assert pairing.dropped == 1


def test_judgements_keep_bounded_text_and_errors_are_not_wins() -> None:
    long = "x" * (KEPT_CHARS * 3)
    pair = AnswerPair("r1", 1.0, long, "42", reference=None)
    missing = judge_pair(pair, "exact", 2.0)
    assert missing.outcome == "error" and "needs the request's reference answer" in missing.reason
    assert len(missing.champion_answer) == KEPT_CHARS
    regex = judge_pair(pair, "regex", 2.0, options={"pattern": r"^\d+$"})
    assert regex.outcome == "win" and "matches" in regex.reason
    assert outcome_counts([missing, regex]) == {"win": 1, "tie": 0, "loss": 0, "error": 1}


def test_the_worker_judges_each_pair_once_across_overlapping_reads() -> None:
    from modelcanary.analysis._measurements import Window
    from modelcanary.local._judging import JudgingWorker

    batch = [
        _ex(f"r{i}", side, 1.0 + i, "42" if side == "champion" or i % 2 else "41",
            mirrored=side == "challenger")
        for i in range(10)
        for side in ("champion", "challenger")
    ]  # fmt: skip
    with JudgingWorker("reference", clock=lambda: 100.0) as worker:
        worker.observe(batch[:12])
        worker.observe(batch)  # an overlapping read: the first 12 again
        worker.observe(batch, forget_before=0.0)
        assert worker.wait_idle()
        kept = worker.all_judged()
    assert sorted(p.request_id for p in kept) == sorted(f"r{i}" for i in range(10))
    assert [p.outcome for p in sorted(kept, key=lambda p: p.time)] == ["loss", "tie"] * 5
    assert worker.judged(Window(100.0, 101.0)) == tuple(kept)
    assert worker.judged(Window(0.0, 100.0)) == ()
