"""The LLM simulator's built-in task set, answers and token counting (pure, no I/O).

Tasks are short questions with one reference answer each (arithmetic, capitals, spelling,
unit conversions), so a deterministic judge can score answers by normalised exact match and
a rollout can be judged on answer quality without any real model. The simulator answers a
known task correctly with probability ``quality`` and with a plausible wrong answer otherwise;
an unknown prompt gets filler text of a drawn length. Shown modelcanary's pairwise judge
prompt, it acts as the LLM judge (:func:`judge_reply`), so a third simulator can judge two.

Tokens are approximated as words and punctuation runs (``\\w+|[^\\w\\s]+``): about 1.3 per
English word against BPE tokenizers, a documented approximation used only where a response
carries no ``usage`` and no tokenizer is available offline.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|[^\w\s]+")
_SPACE = re.compile(r"\s+")
_JUDGE_PROMPT = re.compile(
    r"Question:\n(?P<q>.*?)\n(?:\nReference answer:\n(?P<ref>.*?)\n)?\nAnswer A:\n(?P<a>.*?)"
    r"\n\nAnswer B:\n(?P<b>.*?)\n\nReply with one word",
    re.DOTALL,
)
"""modelcanary's pairwise judge prompt (``modelcanary.evaluators.PAIRWISE_PROMPT``)."""

REFUSAL = "I'm sorry, but I can't help with that request."
"""What a refusal says (the refusal detector matches its opening)."""

_CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Canada": "Ottawa",
    "Peru": "Lima",
    "Norway": "Oslo",
    "Egypt": "Cairo",
    "Chile": "Santiago",
    "Poland": "Warsaw",
    "Vietnam": "Hanoi",
}
_WORDS = (
    "banana",
    "necessary",
    "rhythm",
    "accommodate",
    "queue",
    "syzygy",
    "pharaoh",
    "onomatopoeia",
)
_FILLER_TEXT = (
    "the model considers the question carefully and answers with a short explanation that "
    "covers the main points and then summarises them in plain words for the reader"
)
_FILLER = tuple(_FILLER_TEXT.split())


@dataclass(frozen=True)
class Task:
    """One prompt of the task set and its reference answer."""

    prompt: str
    reference: str


def _tasks() -> tuple[Task, ...]:
    tasks = [Task(f"What is {a} + {b}? Answer with the number only.", str(a + b)) for a, b in (
        (17, 25), (123, 456), (9, 99), (250, 750), (31, 11), (64, 36), (7, 8), (1000, 24),
    )]  # fmt: skip
    tasks += [
        Task(f"What is the capital of {country}? Answer with the city only.", city)
        for country, city in _CAPITALS.items()
    ]
    tasks += [
        Task(
            f"How many letters are in the word '{word}'? Answer with the number only.",
            str(len(word)),
        )
        for word in _WORDS
    ]
    tasks += [
        Task(f"How many minutes are in {h} hours? Answer with the number only.", str(60 * h))
        for h in (2, 3, 5, 12)
    ]
    return tuple(tasks)


TASKS: tuple[Task, ...] = _tasks()
"""The built-in task set (30 prompts with references)."""
LLM_TASKS = TASKS
"""Public name (``modelcanary.serving.LLM_TASKS``)."""
_BY_PROMPT = {t.prompt: t for t in TASKS}


def normalise(text: str) -> str:
    """Lowercase, no surrounding punctuation, single spaces: how answers are compared."""
    return _SPACE.sub(" ", text.strip().strip(".!?\"'").lower())


def count_tokens(text: str) -> int:
    """Approximate tokens: words and punctuation runs."""
    return len(_TOKEN.findall(text))


def wrong_answer(task: Task, rng: random.Random) -> str:
    """A plausible but wrong answer to ``task``."""
    if task.reference.isdigit():
        return str(int(task.reference) + rng.choice((-10, -2, -1, 1, 3, 10)))
    others = [c for c in _CAPITALS.values() if c != task.reference]
    return rng.choice(others)


def task_for(prompt: str) -> Task | None:
    """The task whose prompt ``prompt`` is (after trimming), if any."""
    return _BY_PROMPT.get(prompt.strip())


def judge_reply(prompt: str, rng: random.Random, *, quality: float) -> str | None:
    """The simulator as a pairwise LLM judge: for modelcanary's pairwise prompt (question,
    optional reference, answers A and B), ``A``/``B`` for the answer equal to the reference
    (the prompt's, else the task's), ``TIE`` when both or neither are; right with
    probability ``quality``, a random choice otherwise. None for any other prompt."""
    parts = _JUDGE_PROMPT.search(prompt)
    if parts is None:
        return None
    task = task_for(parts["q"])
    reference = parts["ref"] if parts["ref"] is not None else task.reference if task else None
    if rng.random() >= quality:
        return f"{rng.choice(('A', 'B', 'TIE'))}\nA guess."
    if reference is None:
        return "TIE\nNothing to check the answers against."
    a_ok = normalise(parts["a"]) == normalise(reference)
    b_ok = normalise(parts["b"]) == normalise(reference)
    if a_ok == b_ok:
        return "TIE\nBoth answers are right." if a_ok else "TIE\nBoth answers are wrong."
    return "A\nAnswer A is right." if a_ok else "B\nAnswer B is right."


def answer(prompt: str, rng: random.Random, *, quality: float, mean_tokens: int) -> str:
    """The simulated answer: a task's reference with probability ``quality``, else a wrong
    one; a pairwise judge prompt gets a verdict (:func:`judge_reply`); anything else filler."""
    verdict = judge_reply(prompt, rng, quality=quality)
    if verdict is not None:
        return verdict
    task = task_for(prompt)
    if task is not None:
        return task.reference if rng.random() < quality else wrong_answer(task, rng)
    length = max(1, int(rng.expovariate(1.0 / max(1, mean_tokens))))
    return " ".join(_FILLER[i % len(_FILLER)] for i in range(length)) + "."


def pieces(text: str) -> list[str]:
    """``text`` cut into streamed pieces, one per approximate token, that join back to it."""
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        out.append(text[last : match.end()])
        last = match.end()
    if last < len(text):
        if out:
            out[-1] += text[last:]
        else:
            out.append(text[last:])
    return out or [""]
