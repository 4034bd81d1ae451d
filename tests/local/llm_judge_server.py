"""A small OpenAI-compatible LLM judge on loopback for the shadow-evaluation tests (real HTTP).

It reads modelcanary's pairwise prompt (question, reference, answer A, answer B) and replies
like a judge model would:

- ``fair``: the answer equal to the reference is better (``A`` / ``B``), ``TIE`` when both or
  neither are;
- ``always-a``: ``A`` whatever it is shown (a judge with a position bias);
- ``tie``: ``TIE`` always;
- ``fail``: HTTP 500 with an OpenAI error body;
- ``garbage``: a reply that names no choice.

It keeps every prompt it was asked and the most calls it had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from quiet_http import QuietHandler

_PARTS = re.compile(
    r"Question:\n(?P<q>.*?)\n(?:\nReference answer:\n(?P<ref>.*?)\n)?\nAnswer A:\n(?P<a>.*?)\n\n"
    r"Answer B:\n(?P<b>.*?)\n\nReply",
    re.DOTALL,
)


@dataclass
class Judge:
    mode: str = "fair"
    delay: float = 0.0
    prompts: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, prompt: str) -> str:
        if self.mode == "always-a":
            return "A\nAnswer A reads better."
        if self.mode == "tie":
            return "TIE\nBoth are fine."
        if self.mode == "garbage":
            return "Both answers have merit; it depends."
        parts = _PARTS.search(prompt)
        if parts is None or parts["ref"] is None:
            return "TIE\nNo reference to check against."
        ref = parts["ref"].strip().lower()
        a_ok, b_ok = parts["a"].strip().lower() == ref, parts["b"].strip().lower() == ref
        if a_ok == b_ok:
            return "TIE\nBoth answers are equally right." if a_ok else "TIE\nBoth are wrong."
        return "A\nA matches the reference." if a_ok else "B\nB matches the reference."


def _handler(judge: Judge) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.json_body()
            prompt = body["messages"][-1]["content"]
            with judge.lock:
                judge.prompts.append(prompt)
                judge.in_flight += 1
                judge.most_in_flight = max(judge.most_in_flight, judge.in_flight)
            try:
                if judge.delay:
                    time.sleep(judge.delay)
                if judge.mode == "fail":
                    status = 500
                    payload = {"error": {"message": "judge overloaded", "code": "server_error"}}
                else:
                    status = 200
                    payload = {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": judge.reply(prompt)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
                    }
            finally:
                with judge.lock:
                    judge.in_flight -= 1
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def judge_server(mode: str = "fair", delay: float = 0.0) -> Iterator[Judge]:
    judge = Judge(mode, delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(judge))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    judge.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield judge
    finally:
        server.shutdown()
        server.server_close()
