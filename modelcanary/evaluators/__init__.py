"""Evaluators of LLM answers that call models: an OpenAI-compatible chat client and the
pairwise LLM-as-judge. Deterministic judges are pure and live in ``modelcanary.analysis``.

::

    from modelcanary.evaluators import OpenAIChat, PairwiseJudge
    judge = PairwiseJudge(OpenAIChat("http://127.0.0.1:8001", model="judge"))
    outcome = judge.compare("What is 7 + 8?", champion="15", challenger="16")  # "loss"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._openai import ChatAnswer, OpenAIChat
    from ._pairwise import PAIRWISE_PROMPT, PairwiseJudge, PairwiseOutcome, PairwiseVerdict

__all__ = [
    "PAIRWISE_PROMPT",
    "ChatAnswer",
    "OpenAIChat",
    "PairwiseJudge",
    "PairwiseOutcome",
    "PairwiseVerdict",
]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "ChatAnswer": "._openai",
            "OpenAIChat": "._openai",
            "PAIRWISE_PROMPT": "._pairwise",
            "PairwiseJudge": "._pairwise",
            "PairwiseOutcome": "._pairwise",
            "PairwiseVerdict": "._pairwise",
        },
    )
