"""LLM-as-judge, pairwise: which of two answers is better, asked twice with the positions
swapped so a judge that prefers a position cancels out.

The judge model sees the question (and the reference answer, when the request carries one)
and the two answers as "Answer A" and "Answer B", and must reply with ``A``, ``B`` or ``TIE``
on its first line. Asked once with the champion as A and once with the challenger as A: the
challenger wins only when the judge prefers it both times, loses only when the judge prefers
the champion both times, and ties otherwise (a tie, an unreadable reply, or a judge that
always names the same position). Both raw replies are kept for a person to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..analysis._answer_judges import Outcome
from ._openai import OpenAIChat

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

    outcome: Outcome
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
        answer = self.client.chat(text, temperature=0)
        return answer.text if answer.status == 200 else f"error {answer.status}: {answer.error}"

    def compare(
        self, question: str, *, champion: str, challenger: str, reference: str | None = None
    ) -> PairwiseVerdict:
        """Ask twice, positions swapped, and combine."""
        first = self._ask(question, reference, champion, challenger)
        second = self._ask(question, reference, challenger, champion)
        challenger_votes = (_choice(first) == "B") + (_choice(second) == "A")
        champion_votes = (_choice(first) == "A") + (_choice(second) == "B")
        if challenger_votes == 2:
            outcome: Outcome = "win"
        elif champion_votes == 2:
            outcome = "loss"
        else:
            outcome = "tie"
        return PairwiseVerdict(outcome, first, second)
