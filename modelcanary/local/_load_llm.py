"""LLM load records: OpenAI request bodies replayed through the router (``protocol: openai``).

A record is one JSON object per line of a JSONL file (or a Python mapping), an OpenAI
request body plus two fields of modelcanary's that are taken out before it is sent:

- ``reference``: the expected answer. The model never sees it: it travels in the
  :data:`~modelcanary.analysis._llm_records.REFERENCE_HEADER` (percent-encoded UTF-8, cut to
  :data:`~modelcanary.analysis._llm_records.MAX_REFERENCE_CHARS`), which the router strips
  before forwarding and keeps with the exchange for the ``reference`` evaluator.
- ``path``: where to send it on the router, e.g. ``/v1/embeddings``; by default chat bodies
  (``messages``) go to ``/v1/chat/completions`` and ``prompt`` bodies to
  ``/v1/completions``.

A record saying ``"stream": true`` is streamed and its answer read to the end. Each request
carries ``x-request-id: mcl<run>-<record>-<n>``, so :meth:`LLMLoad.prompt_of` can say which
question the router's exchange with that id asked (the pairwise judge shows it to the judge
model). :func:`task_records` is a built-in load from the simulator's task set.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..analysis._llm_records import MAX_REFERENCE_CHARS, REFERENCE_HEADER
from ..errors import SpecError, SpecIssue
from ._load import LoadRequest

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
_FIELD = "spec.load.requests"


@dataclass(frozen=True)
class LLMRecord:
    """One load record, ready to send."""

    body: dict[str, Any]
    """The OpenAI request body (without ``reference`` and ``path``)."""
    path: str
    reference: str | None = None
    stream: bool = False

    @property
    def prompt(self) -> str:
        """The question as text: the last user message, or the ``prompt``."""
        if "messages" in self.body:
            users = [m for m in self.body["messages"] if m.get("role") == "user"]
            content = (users or self.body["messages"] or [{}])[-1].get("content", "")
            if isinstance(content, list):  # content parts: keep the text ones
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
        prompt = self.body.get("prompt", "")
        return prompt if isinstance(prompt, str) else json.dumps(prompt)


def parse_record(data: Any, where: str = _FIELD) -> LLMRecord:
    """One record from a decoded JSON object; SpecError naming the record and the fix."""
    if not isinstance(data, Mapping):
        raise SpecError(
            SpecIssue(where, "is not a JSON object", "one OpenAI request body per line")
        )
    body = {k: v for k, v in data.items() if k not in ("reference", "path")}
    reference, path = data.get("reference"), data.get("path")
    messages = body.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
            raise SpecError(
                SpecIssue(
                    f"{where}.messages",
                    "is not a list of messages",
                    'write "messages": [{"role": "user", "content": "..."}]',
                )
            )
    elif "prompt" not in body and path is None:
        raise SpecError(
            SpecIssue(
                where,
                "has neither messages nor prompt",
                'give "messages" (chat) or "prompt" (completions), or the "path" to send it to',
            )
        )
    if reference is not None and not isinstance(reference, str):
        reference = json.dumps(reference)
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise SpecError(
            SpecIssue(f"{where}.path", f"{path!r} is not a path", 'write e.g. "/v1/completions"')
        )
    default = CHAT_PATH if messages is not None else COMPLETIONS_PATH
    return LLMRecord(body, path or default, reference, body.get("stream") is True)


def records_from_file(path: str | Path) -> list[LLMRecord]:
    """Records from a JSONL file, one OpenAI request body per line."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(SpecIssue(_FIELD, f"{str(file)!r} does not exist", "check the path"))
    records = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(
                SpecIssue(_FIELD, f"{file}:{number}: {exc}", "one JSON request body per line")
            ) from None
        records.append(parse_record(data, f"{_FIELD} ({file.name}:{number})"))
    if not records:
        raise SpecError(SpecIssue(_FIELD, f"{file} has no requests", "add request bodies"))
    return records


def task_records(*, stream: bool = False, model: str = "default") -> list[LLMRecord]:
    """A built-in LLM load: the simulator's task set (questions with reference answers)."""
    from ..serving._llm_tasks import TASKS

    return [
        LLMRecord(
            {
                "model": model,
                "messages": [{"role": "user", "content": t.prompt}],
                **({"stream": True} if stream else {}),
            },
            CHAT_PATH,
            t.reference,
            stream,
        )
        for t in TASKS
    ]


class LLMLoad:
    """Turns records into the load generator's requests, and request ids back into prompts."""

    def __init__(self, records: Iterable[LLMRecord | Mapping[str, Any]]) -> None:
        self.records = [r if isinstance(r, LLMRecord) else parse_record(r) for r in records]
        if not self.records:
            raise ValueError("no LLM records to send")
        self.run = secrets.token_hex(4)

    def requests(self) -> list[LoadRequest]:
        """One :class:`LoadRequest` per record (pass them to ``LoadGenerator``)."""
        return [
            LoadRequest(
                json.dumps(r.body).encode(),
                r.path,
                reference_headers(r.reference),
                r.stream,
                f"mcl{self.run}-{index}-",
            )
            for index, r in enumerate(self.records)
        ]

    def record_of(self, request_id: str) -> LLMRecord | None:
        """The record a request id of this load was sent for (None: not this load's)."""
        head, _, rest = request_id.partition("-")
        index, _, _ = rest.partition("-")
        if head != f"mcl{self.run}" or not index.isdigit() or int(index) >= len(self.records):
            return None
        return self.records[int(index)]

    def prompt_of(self, request_id: str) -> str | None:
        """The question request ``request_id`` asked (None: not this load's request)."""
        record = self.record_of(request_id)
        return record.prompt if record is not None else None


def reference_headers(reference: str | None) -> dict[str, str]:
    """The header carrying ``reference`` (percent-encoded, at most MAX_REFERENCE_CHARS)."""
    if reference is None:
        return {}
    return {REFERENCE_HEADER: quote(reference[:MAX_REFERENCE_CHARS], safe="")}


def llm_load_for(requests: str | None) -> LLMLoad:
    """The local runtime's LLM load: ``spec.load.requests`` (JSONL of OpenAI request
    bodies), or the simulator's task set when the spec names none."""
    return LLMLoad(records_from_file(requests) if requests else task_records())
