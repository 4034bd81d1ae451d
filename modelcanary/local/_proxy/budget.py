"""The mirror spend cap: how many prompts, tokens and how much money mirroring may cost.

Shadowing an LLM doubles what its traffic costs, so a rollout can cap the copies
(``spec.analysis.mirrorBudget``: ``maxPrompts``, ``maxTokens``, ``maxCost``). The router
asks :meth:`MirrorSpend.exhausted` before each copy; once any cap is reached no more copies
are sent, and each one the mirror weight still asks for is counted as dropped (reason
``budget``), so the window's mirror coverage says how much of the traffic the challenger saw.

A copy counts as a prompt, and its prompt tokens (the router's approximation) count, when it
is sent; when its answer ends the prompt tokens are corrected to the server's ``usage`` and
its output tokens are added. Cost is priced with the challenger's pricing (per 1,000 input
and output tokens). The caps are therefore exact for prompts and may be passed, for tokens
and cost, by the answers of the copies in flight when the cap is reached.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MirrorBudget:
    """Caps on mirroring (None: no cap) and the challenger's price per 1,000 tokens."""

    max_prompts: int | None = None
    max_tokens: int | None = None
    """Prompt plus output tokens of every mirrored exchange."""
    max_cost: float | None = None
    """In the currency of the pricing."""
    input_per_1k: float = 0.0
    output_per_1k: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_prompts", "max_tokens", "max_cost", "input_per_1k", "output_per_1k"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"MirrorBudget.{name} is {value}: use a number >= 0 (or None)")


class MirrorSpend:
    """What mirroring has cost so far, against an optional :class:`MirrorBudget`."""

    __slots__ = ("budget", "cost", "prompts", "tokens")

    def __init__(self, budget: MirrorBudget | None = None) -> None:
        self.budget = budget
        self.prompts = 0
        """Copies sent."""
        self.tokens = 0
        self.cost = 0.0

    def exhausted(self, queued: int = 0) -> bool:
        """True once a cap is reached: no more copies (``queued``: copies admitted and not
        sent yet, each a prompt to come)."""
        budget = self.budget
        if budget is None:
            return False
        return (
            (budget.max_prompts is not None and self.prompts + queued >= budget.max_prompts)
            or (budget.max_tokens is not None and self.tokens >= budget.max_tokens)
            or (budget.max_cost is not None and self.cost >= budget.max_cost)
        )

    def sent(self, prompt_tokens: int) -> None:
        """A copy went out with about ``prompt_tokens`` of prompt."""
        self.prompts += 1
        self._add(prompt_tokens, 0)

    def unsent(self, prompt_tokens: int) -> None:
        """A copy counted by ``sent`` never reached the challenger (its breaker refused it)."""
        self.prompts -= 1
        self._add(-prompt_tokens, 0)

    def settle(self, estimated: int, prompt_tokens: int, output_tokens: int) -> None:
        """A copy's answer ended: correct its prompt tokens and add its output tokens."""
        self._add(prompt_tokens - estimated, output_tokens)

    def _add(self, prompt: int, output: int) -> None:
        self.tokens += prompt + output
        budget = self.budget
        if budget is not None:
            self.cost += (prompt * budget.input_per_1k + output * budget.output_per_1k) / 1000.0

    def as_dict(self) -> dict[str, float]:
        """``{"prompts", "tokens", "cost"}`` so far."""
        return {"prompts": self.prompts, "tokens": self.tokens, "cost": round(self.cost, 6)}
