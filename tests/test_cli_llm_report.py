"""``modelcanary run --report`` on an LLM rollout: the HTML report carries the LLM view from the
exchanges the router recorded (latency by prompt length, the mirrored prompts), not the note
that they were not recorded (which is what a cluster report says, and what this one said when
the command passed no exchanges to the report)."""

from __future__ import annotations

from pathlib import Path

import yaml
from cli_runs import cli

from modelcanary.serving import LLMSimConfig, LLMSimServer


def test_run_report_of_an_llm_rollout_shows_the_recorded_exchanges(tmp_path: Path) -> None:
    champion = LLMSimConfig(quality=0.9, seed=1, ttft_ms=20, tokens_per_second=400)
    challenger = LLMSimConfig(quality=0.4, seed=2, ttft_ms=5, tokens_per_second=2000)
    with LLMSimServer(champion) as a, LLMSimServer(challenger) as b:
        spec = {
            "apiVersion": "modelcanary.io/v1alpha1",
            "kind": "ModelRollout",
            "metadata": {"name": "assistant"},
            "spec": {
                "champion": {"url": a.url, "protocol": "openai"},
                "challenger": {"url": b.url, "protocol": "openai"},
                "analysis": {
                    "interval": "3s",
                    "mirror": True,
                    "shadow": {"iterations": 3},
                    "stepWeights": [20, 50],
                    "metrics": [{"name": "win-rate", "evaluator": "reference"}],
                },
                "load": {"rps": 20},
            },
        }
        file = tmp_path / "rollout.yaml"
        file.write_text(yaml.safe_dump(spec))
        report = tmp_path / "report.html"
        done = cli(tmp_path, "run", str(file), "--quiet", "--report", str(report))
    assert done.returncode == 1, done.stderr  # rolled back: the challenger answers worse
    html = report.read_text()
    assert "win-rate" in html and "mirrored prompts" in html
    assert "are not recorded here" not in html
