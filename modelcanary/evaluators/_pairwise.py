"""LLM-as-judge, pairwise: which of two answers is better, asked twice with the positions
swapped so a judge that prefers a position cancels out.

The judge model sees the question (and the reference answer, when the request carries one)
and the two answers as "Answer A" and "Answer B", and must reply with ``A``, ``B`` or ``TIE``
on its first line. Asked once with the champion as A and once with the challenger as A: the
challenger wins only when the judge prefers it both times, loses only when the judge prefers
the champion both times, and ties otherwise (a tie, or a judge that always names the same
position). A judge that fails - unreachable, an HTTP error, a reply without ``A``, ``B`` or
``TIE`` - gives the outcome ``error``: no verdict, never a win (nor a tie, which would pull
the win rate towards 0.5). Both raw replies are kept for a person to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import ModelCanaryError
from ._openai import OpenAIChat

PairwiseOutcome = Literal["win", "tie", "loss", "error"]
"""The challenger's outcome; ``error``: the judge failed, no verdict."""

PAIRWISE_PROMPT = """You compare two answers to the same question. Judge correctness first, \
then helpfulness and concision. Ignore the order in which the answers are shown.

Question:
{question}
{reference}
Answer A:
{a}

Answer B:
{b}

Reply with one word on the first line: A if answer A is better, B if answer B is better, \
TIE if they are equally good. Then give one sentence of reasons."""
"""The judge's prompt (``{reference}`` is empty or a line with the reference answer)."""
_CHOICE = re.compile(r"^\W*(A|B|TIE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PairwiseVerdict:
    """The challenger's outcome and what the judge said each time."""

    outcome: PairwiseOutcome
    champion_first: str
    """The judge's reply when the champion was answer A."""
    challenger_first: str
    """The judge's reply when the challenger was answer A."""


def _choice(reply: str) -> str:
    match = _CHOICE.match(reply.strip())
    return match.group(1).upper() if match else "?"


class PairwiseJudge:
    """A pairwise judge on an OpenAI-compatible model."""

    def __init__(self, client: OpenAIChat, *, prompt: str = PAIRWISE_PROMPT) -> None:
        self.client = client
        self.prompt = prompt

    def _ask(self, question: str, reference: str | None, a: str, b: str) -> str:
        ref = f"\nReference answer:\n{reference}\n" if reference else ""
        text = self.prompt.format(question=question, reference=ref, a=a, b=b)
        try:
            answer = self.client.chat(text, temperature=0)
        except ModelCanaryError as exc:  # unreachable, timed out
            return f"error: {exc}"
        return answer.text if answer.status == 200 else f"error {answer.status}: {answer.error}"

    def compare(
        self, question: str, *, champion: str, challenger: str, reference: str | None = None
    ) -> PairwiseVerdict:
        """Ask twice, positions swapped, and combine."""
        first = self._ask(question, reference, champion, challenger)
        second = self._ask(question, reference, challenger, champion)
        if "?" in (_choice(first), _choice(second)):
            return PairwiseVerdict("error", first, second)
        challenger_votes = (_choice(first) == "B") + (_choice(second) == "A")
        champion_votes = (_choice(first) == "A") + (_choice(second) == "B")
        if challenger_votes == 2:
            outcome: PairwiseOutcome = "win"
        elif champion_votes == 2:
            outcome = "loss"
        else:
            outcome = "tie"
        return PairwiseVerdict(outcome, first, second)
