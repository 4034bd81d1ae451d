"""Shadow evaluation of answer quality: pair the champion's and the challenger's answers and
judge them (pure, no I/O; the local runtime's judging worker runs it in the background).

Pairs come two ways:

- **by request id** (mirroring): the champion's served answer and the challenger's mirrored
  answer to the same request (:attr:`LLMExchange.request_id`) - the same prompt, so the
  comparison is exact. Every evaluator can judge these, the LLM-as-judge only these.
- **by arrival** (the ``reference`` evaluator and the deterministic judges that compare with
  a reference, no mirror needed): each version's *served* answers are judged against the
  ``reference`` their requests carried, and the k-th judged challenger answer is set beside
  the k-th judged champion answer. Under "as good as the champion" both are draws from the
  same prompt stream, so the outcome's mean is still 0.5 and the win-rate test stays valid.

Only answered requests are judged (an error is the error-rate SLI's business, not quality):
a challenger that never answers is never judged, so it never passes on quality either.

Every judgement is kept as a :class:`JudgedPair` - request id, time, outcome, evaluator, the
judge's reason (or both raw replies of the LLM-as-judge) and both answers, truncated - so a
person can read why. ``error`` outcomes (a judge that failed) are recorded, never counted as
a win: they count against the judge budget only.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..spec._llm import EVALUATORS, REFERENCE_EVALUATORS
from ._answer_judges import judge_answer, pairwise
from ._llm_records import LLMExchange

JudgedOutcome = Literal["win", "tie", "loss", "error"]
"""The challenger's outcome on one pair; ``error``: the judge failed (no verdict)."""
REFERENCE_JUDGE = "normalised"
"""What the ``reference`` evaluator compares answers with the reference by."""
KEPT_CHARS = 500
"""Characters of each answer (and reason) kept in a :class:`JudgedPair`."""


@dataclass(frozen=True, slots=True)
class AnswerPair:
    """Two answers to judge against each other."""

    request_id: str
    """The challenger's request (both share it when paired by request id)."""
    time: float
    """When the (challenger's) request arrived, epoch seconds."""
    champion: str
    challenger: str
    reference: str | None = None
    mirrored: bool = True
    """True: both answered the same request; False: paired by arrival (served traffic)."""
    prompt: str = ""
    """The question (the champion's request's prompt text, as the router recorded it)."""


@dataclass(frozen=True, slots=True)
class JudgedPair:
    """One judgement, kept so a person can read why."""

    request_id: str
    time: float
    """When the request arrived (epoch seconds)."""
    judged_at: float
    """When the judgement was made (epoch seconds): the window it belongs to."""
    outcome: JudgedOutcome
    evaluator: str
    reason: str
    """The deterministic judges' reasons, or the LLM-as-judge's two raw replies, or why the
    judge failed."""
    champion_answer: str
    challenger_answer: str
    reference: str | None = None
    mirrored: bool = True


def needs_mirror(evaluator: str) -> bool:
    """True when the evaluator can only compare answers to the same request."""
    return evaluator not in REFERENCE_EVALUATORS


def cut(text: str | None, limit: int = KEPT_CHARS) -> str:
    """``text`` at most ``limit`` characters (an ellipsis marks a cut)."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class Pairing:
    """Pairs exchanges as they come (bounded): by request id, and for evaluators with a
    reference also served answers by arrival. Feed :meth:`add`; it returns finished pairs.

    A served champion answer waits for its mirrored copy (up to ``wait_s`` of later
    traffic) and, with a reference evaluator, is at the same time available to the next
    served challenger answer: whichever comes first uses it, so no answer is judged twice
    and a canary split (no mirror) is judged without waiting.
    """

    def __init__(self, evaluator: str, *, max_pending: int = 10_000, wait_s: float = 60.0):
        if evaluator not in EVALUATORS:
            raise ValueError(f"unknown evaluator {evaluator!r}; use one of {', '.join(EVALUATORS)}")
        self.evaluator = evaluator
        self.by_arrival = not needs_mirror(evaluator)
        self.max_pending, self.wait_s = max_pending, wait_s
        self._pending: OrderedDict[str, LLMExchange] = OrderedDict()
        """Halves of mirror pairs waiting for the other half, by request id."""
        self._served: dict[str, deque[LLMExchange]] = {"champion": deque(), "challenger": deque()}
        """Served answers with a reference waiting for one of the other version (by arrival)."""
        self._used: set[str] = set()
        """Champion answers in ``_served`` already used by a mirror pair (skipped there)."""
        self._refs: dict[str, tuple[str | None, str | None]] = {}
        self._newest = 0.0
        self.dropped = 0
        """Answers never paired (waited too long, or beyond ``max_pending``)."""

    def add(self, exchanges: Iterable[LLMExchange]) -> list[AnswerPair]:
        """Pairs completed by ``exchanges`` (in arrival order)."""
        out: list[AnswerPair] = []
        for ex in exchanges:
            if not ex.ok:
                continue  # errors are the error-rate SLI's business
            self._newest = max(self._newest, ex.timestamp)
            served_champion = ex.side == "champion" and not ex.mirrored
            free = served_champion and self.by_arrival and ex.reference is not None
            if free and self._queue(ex, out):
                continue  # used at once by a served challenger answer
            if (served_champion or (ex.side == "challenger" and ex.mirrored)) and ex.request_id:
                self._mirror_half(ex, out)
            elif ex.side == "challenger" and not ex.mirrored and self.by_arrival:
                if ex.reference is None:
                    self.dropped += 1
                else:
                    self._queue(ex, out)
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if self._newest - oldest.timestamp <= self.wait_s:
                break
            self._expire(self._pending.popitem(last=False)[1])
        return out

    def _mirror_half(self, ex: LLMExchange, out: list[AnswerPair]) -> None:
        other = self._pending.pop(ex.request_id, None)
        if other is not None and other.side != ex.side:
            if ex.side == "champion" or other.side == "champion":
                self._used.add(ex.request_id)  # no longer free for pairing by arrival
            out.append(_mirror_pair(other, ex))
            return
        if other is not None:  # a repeated id: the newer half waits
            self._expire(other)
        self._pending[ex.request_id] = ex
        if len(self._pending) > self.max_pending:
            self._expire(self._pending.popitem(last=False)[1])

    def _expire(self, ex: LLMExchange) -> None:
        """A half that waited too long for its other half (a served champion answer may
        still be paired by arrival: it is in the served queue)."""
        if not (self.by_arrival and not ex.mirrored and ex.reference is not None):
            self.dropped += 1

    def _queue(self, ex: LLMExchange, out: list[AnswerPair]) -> bool:
        """Pair a served answer with the oldest free one of the other version (True), or
        queue it (False)."""
        theirs = self._served[_other(ex.side)]
        while theirs:
            other = theirs.popleft()
            if other.side == "champion" and other.request_id in self._used:
                self._used.discard(other.request_id)
                continue
            if other.side == "champion":
                self._pending.pop(other.request_id, None)  # used here: not for a mirror pair
            champ, chal = (ex, other) if ex.side == "champion" else (other, ex)
            out.append(
                AnswerPair(
                    chal.request_id,
                    chal.timestamp,
                    champ.answer,
                    chal.answer,
                    None,
                    False,
                    champ.prompt,
                )
            )
            # by arrival each answer keeps its own reference: read back with references()
            self._refs[chal.request_id] = (champ.reference, chal.reference)
            if len(self._refs) > self.max_pending:  # pairs never judged (budget spent)
                del self._refs[next(iter(self._refs))]
            return True
        mine = self._served[ex.side]
        mine.append(ex)
        if len(mine) > self.max_pending:
            dropped = mine.popleft()
            if dropped.request_id in self._used:
                self._used.discard(dropped.request_id)
            else:
                self.dropped += 1
        return False

    def references(self, pair: AnswerPair) -> tuple[str | None, str | None]:
        """(champion's reference, challenger's reference) of a pair (popped once read)."""
        if pair.mirrored:
            return pair.reference, pair.reference
        return self._refs.pop(pair.request_id, (None, None))


def _other(side: str) -> str:
    return "challenger" if side == "champion" else "champion"


def _mirror_pair(a: LLMExchange, b: LLMExchange) -> AnswerPair:
    champ, chal = (a, b) if a.side == "champion" else (b, a)
    return AnswerPair(
        chal.request_id,
        champ.timestamp,
        champ.answer,
        chal.answer,
        champ.reference or chal.reference,
        True,
        champ.prompt or chal.prompt,
    )


def judge_pair(
    pair: AnswerPair,
    evaluator: str,
    judged_at: float,
    *,
    references: tuple[str | None, str | None] | None = None,
    options: Mapping[str, Any] | None = None,
) -> JudgedPair:
    """Judge ``pair`` with a deterministic evaluator (``reference`` or a judge of
    :data:`~._answer_judges.JUDGES`); a judge that cannot run gives an ``error`` outcome with
    why (e.g. a request without a reference), never a win."""
    ref_champ, ref_chal = references or (pair.reference, pair.reference)
    judge = REFERENCE_JUDGE if evaluator == "reference" else evaluator
    opts = dict(options or {})
    try:
        a = judge_answer(judge, pair.champion, reference=ref_champ, **opts)
        b = judge_answer(judge, pair.challenger, reference=ref_chal, **opts)
    except (ValueError, TypeError) as exc:
        return judged(pair, "error", evaluator, f"judge failed: {exc}", judged_at)
    outcome = pairwise(a, b)
    reason = f"champion: {a.reason}; challenger: {b.reason}"
    return judged(pair, outcome, evaluator, reason, judged_at, ref_chal)


def judged(
    pair: AnswerPair,
    outcome: JudgedOutcome,
    evaluator: str,
    reason: str,
    judged_at: float,
    reference: str | None = None,
) -> JudgedPair:
    """A :class:`JudgedPair` with the answers and reason cut to :data:`KEPT_CHARS`."""
    return JudgedPair(
        pair.request_id,
        pair.time,
        judged_at,
        outcome,
        evaluator,
        cut(reason, 2 * KEPT_CHARS),
        cut(pair.champion),
        cut(pair.challenger),
        cut(reference or pair.reference) or None,
        pair.mirrored,
    )


def outcome_counts(pairs: Iterable[JudgedPair]) -> dict[JudgedOutcome, int]:
    """How many pairs of each outcome."""
    counts: dict[JudgedOutcome, int] = {"win": 0, "tie": 0, "loss": 0, "error": 0}
    for pair in pairs:
        counts[pair.outcome] += 1
    return counts
