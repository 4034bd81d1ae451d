"""``compare_llm``: offline pairwise evaluation of two OpenAI-compatible endpoints on prompts.

Every prompt goes to both models; the answers are judged pairwise (a deterministic judge on
each answer against the prompt's reference, or the LLM-as-judge with positions swapped), and
the outcomes feed the same sequential win-rate test the rollouts use: a win rate with ties
counted half, its always-valid band, and the non-inferiority verdict at a margin. The judge's
reasons stay in the DataFrame, one row per prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from typing import Any

from ..analysis._answer_judges import JUDGES, judge_answer, pairwise
from ..analysis._winrate import WinRateState, update_win_rate, win_rate_band, win_rate_verdict
from ..evaluators import OpenAIChat, PairwiseJudge


@dataclass(frozen=True)
class LLMComparison:
    """The per-prompt results and the win-rate verdict."""

    frame: Any
    """pandas DataFrame: prompt, reference, both answers and latencies, outcome, reason."""
    state: WinRateState
    margin: float
    alpha: float

    @property
    def win_rate(self) -> float | None:
        """Challenger win rate, ties counted half (0.5: as good as the champion)."""
        return self.state.win_rate

    @property
    def band(self) -> tuple[float, float] | None:
        """Always-valid ``1 - alpha`` interval of the win rate."""
        return win_rate_band(self.state, self.alpha)

    @property
    def verdict(self) -> str:
        """``fail`` (worse by more than the margin), ``pass`` (not worse) or ``inconclusive``."""
        return win_rate_verdict(self.state, self.alpha)

    def summary(self) -> dict[str, Any]:
        band = self.band
        return {
            "pairs": self.state.pairs,
            "wins": self.state.wins,
            "ties": self.state.ties,
            "losses": self.state.losses,
            "win_rate": self.win_rate,
            "band": band,
            "margin": self.margin,
            "verdict": self.verdict,
        }

    def _repr_html_(self) -> str:
        s = self.summary()
        band = s["band"]
        shown = f"{band[0]:.1%} to {band[1]:.1%}" if band else "no pairs"
        rate = "-" if s["win_rate"] is None else f"{s['win_rate']:.1%}"
        return (
            f"<p><b>challenger win rate {escape(rate)}</b> ({escape(shown)}, "
            f"{s['wins']} wins, {s['ties']} ties, {s['losses']} losses; margin "
            f"{self.margin:.0%}): <b>{escape(s['verdict'])}</b></p>"
        )


def _endpoint(spec: str | Mapping[str, Any] | OpenAIChat) -> OpenAIChat:
    if isinstance(spec, OpenAIChat):
        return spec
    if isinstance(spec, str):
        return OpenAIChat(spec)
    return OpenAIChat(**dict(spec))


def _prompts(prompts: Iterable[Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for i, item in enumerate(prompts):
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, Mapping) and isinstance(item.get("prompt"), str):
            ref = item.get("reference")
            out.append((item["prompt"], None if ref is None else str(ref)))
        elif hasattr(item, "prompt") and hasattr(item, "reference"):
            out.append((str(item.prompt), str(item.reference)))
        else:
            raise ValueError(f"prompts[{i}]: give a string or {{'prompt': ..., 'reference': ...}}")
    if not out:
        raise ValueError("prompts: give at least one prompt")
    return out


def compare_llm(
    champion: str | Mapping[str, Any] | OpenAIChat,
    challenger: str | Mapping[str, Any] | OpenAIChat,
    prompts: Iterable[Any],
    *,
    judge: str = "normalised",
    judge_endpoint: str | Mapping[str, Any] | OpenAIChat | None = None,
    margin: float = 0.05,
    alpha: float = 0.05,
    concurrency: int = 4,
) -> LLMComparison:
    """Ask both models every prompt and judge the pairs.

    ``champion``/``challenger``: a base URL, ``{"url": ..., "model": ..., "api_key": ...}`` or
    an :class:`~modelcanary.evaluators.OpenAIChat`. ``prompts``: strings, or dicts with
    ``prompt`` and ``reference`` (the deterministic judges that compare with a reference need
    it). ``judge``: a deterministic judge (``normalised``, ``exact``, ``contains``, ``json``,
    ``refusal``, ...) or ``pairwise`` with ``judge_endpoint``, the judge model's endpoint.
    """
    import pandas as pd

    if judge != "pairwise" and judge not in JUDGES:
        raise ValueError(f"judge {judge!r}: use pairwise or one of {', '.join(JUDGES)}")
    if judge == "pairwise" and judge_endpoint is None:
        raise ValueError("judge='pairwise' needs judge_endpoint (an OpenAI-compatible URL)")
    items = _prompts(prompts)
    models = (_endpoint(champion), _endpoint(challenger))
    pair_judge = PairwiseJudge(_endpoint(judge_endpoint)) if judge_endpoint is not None else None

    def one(item: tuple[str, str | None]) -> dict[str, Any]:
        prompt, reference = item
        a, b = (m.chat(prompt) for m in models)
        row: dict[str, Any] = {
            "prompt": prompt,
            "reference": reference,
            "champion_answer": a.text,
            "challenger_answer": b.text,
            "champion_status": a.status,
            "challenger_status": b.status,
            "champion_latency_ms": a.latency_ms,
            "challenger_latency_ms": b.latency_ms,
        }
        if pair_judge is not None and judge == "pairwise":
            verdict = pair_judge.compare(
                prompt, champion=a.text, challenger=b.text, reference=reference
            )
            row["outcome"] = verdict.outcome
            row["reason"] = (
                f"A=champion: {verdict.champion_first} | A=challenger: {verdict.challenger_first}"
            )
        else:
            ja = judge_answer(judge, a.text, reference=reference)
            jb = judge_answer(judge, b.text, reference=reference)
            row["outcome"] = pairwise(ja, jb)
            row["reason"] = f"champion {ja.reason}; challenger {jb.reason}"
        return row

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        rows = list(pool.map(one, items))
    for model in models:
        model.close()
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("win", "tie", "loss")}
    state = update_win_rate(
        WinRateState(),
        wins=counts["win"],
        ties=counts["tie"],
        losses=counts["loss"],
        margin=margin,
    )
    return LLMComparison(pd.DataFrame(rows), state, margin, alpha)
