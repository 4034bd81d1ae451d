"""The static HTML of a decided LLM rollout (what GitHub, nbviewer or an HTML export show, and
``report(path)``) has the widget's LLM view: TTFT and TPOT by prompt-length bucket (charts, and
a table readable without JavaScript), the win-rate band and verdict, and the mirror spend
against the caps. A rollout that is not an LLM one has no such section.

Before, the static rendering had the traffic and SLI charts only: the LLM view lived in the
live widget, which a reloaded notebook without its kernel does not show.
"""

from __future__ import annotations

import math
from pathlib import Path

import modelcanary as mc
from modelcanary._report import fragment, render
from modelcanary.analysis._judges import SequentialState
from modelcanary.analysis._llm_records import LLMExchange
from modelcanary.analysis._measurements import Side, Window
from modelcanary.analysis._winrate import WinRateState, update_win_rate
from modelcanary.local import LocalRun
from modelcanary.notebook import NotebookRun
from modelcanary.serving import LLMSimConfig, LLMSimServer
from modelcanary.spec import AnalysisRecord, CheckRecord, Phase, RolloutStatus

PLOT = 'class="plotly-graph-div"'


def _rollout(llm: bool = True) -> mc.ModelRollout:
    proto = {"protocol": "openai"} if llm else {}
    builder = (
        mc.Rollout("assistant")
        .champion(url="http://127.0.0.1:9001", **proto)
        .challenger(
            url="http://127.0.0.1:9002",
            **proto,
            **({"pricing": mc.Pricing(input_per_1k=0.5, output_per_1k=1.5)} if llm else {}),
        )
        .shadow(100, iterations=2)
        .canary(steps=[50], interval="1s")
    )
    if llm:
        builder = builder.slo(mc.sli.llm.win_rate("reference")).mirror_budget(
            max_prompts=100, max_cost=2.0
        )
    else:
        builder = builder.slo(mc.sli.error_rate() < "1%")
    return builder.build()


def _exchange(
    side: Side, prompt: int, ttft: float, tpot: float, i: int, mirrored: bool = False
) -> LLMExchange:
    return LLMExchange(
        timestamp=1000.0 + i,
        side=side,
        mirrored=mirrored,
        request_id=f"r{i}",
        status=200,
        error_class=None,
        stream=True,
        prompt_tokens=prompt,
        output_tokens=20,
        tokens_exact=True,
        latency_ms=ttft + 20 * tpot,
        ttft_ms=ttft,
        tpot_ms=tpot,
    )


def _traffic() -> list[LLMExchange]:
    """Short prompts (40 tokens): champion TTFT 100 ms, challenger (mirrored copies) 50 ms;
    long prompts (600 tokens): champion 400 ms, challenger 300 ms."""
    out = []
    for i in range(10):
        out.append(_exchange("champion", 40, 100.0, 20.0, i))
        out.append(_exchange("challenger", 40, 50.0, 10.0, i, mirrored=True))
    for i in range(10, 14):
        out.append(_exchange("champion", 600, 400.0, 25.0, i))
        out.append(_exchange("challenger", 600, 300.0, 12.0, i))
    return out


def _status() -> RolloutStatus:
    """Rolled back on win rate: 35 % over 400 judged pairs, as the engine stores it."""
    state = WinRateState()
    for _ in range(40):
        state = update_win_rate(state, wins=3, ties=1, losses=6, margin=0.05)
    check = CheckRecord(metric="win-rate", value=0.35, verdict="fail", judge="sequential")
    record = AnalysisRecord(
        time="2026-01-01T00:00:05Z",
        phase=Phase.PROGRESSING,
        mirror_weight=100,
        verdict="fail",
        checks=[check],
    )
    return RolloutStatus(
        phase=Phase.FAILED,
        outcome="rolled_back",
        message="win-rate: worse than the champion",
        iterations=1,
        history=[record],
        analysis_state={"sequential": {"win-rate": SequentialState(win_rate=state).model_dump()}},
    )


def test_the_decided_llm_rollout_shows_the_llm_view_in_its_static_html() -> None:
    html = fragment(_rollout(), _status(), exchanges=_traffic())
    assert "time to first token by prompt length" in html
    assert "time per output token by prompt length" in html
    assert "challenger win rate: always-valid band" in html
    # traffic, the win-rate check, TTFT, TPOT, the win-rate band
    assert html.count(PLOT) == 5
    assert html.count("https://cdn.plot.ly") == 1  # plotly.js once, with the first chart
    table = html[html.index("mc-llm-latency") :]
    assert "<td>&lt;128</td><td>champion</td><td>10</td><td>0</td><td>100 ms</td>" in table
    assert "<td>512-2047</td><td>challenger</td><td>4</td><td>0</td><td>300 ms</td>" in table
    assert "35.0% over 400 judged pairs (120 wins, 40 ties, 240 losses)" in html
    assert "floor 45%" in html and "worse than the champion by more than the margin" in html
    # 10 mirrored prompts of 40 tokens with 20-token answers at 0.5 / 1.5 per 1k
    assert "spend so far: 10 of 100 mirrored prompts, 600 tokens, cost 0.5 of 2" in html


def test_the_report_page_has_it_and_a_cluster_run_says_what_it_lacks(tmp_path: Path) -> None:
    page = render(_rollout(), _status(), _traffic())
    assert "<h2>LLM</h2>" in page and "time to first token by prompt length" in page
    assert "spend so far: 10 of 100 mirrored prompts" in page
    assert page.count('<script type="text/javascript">window.PlotlyConfig') <= 1
    # no exchanges (a cluster run): the win rates of the status, and why no latency/spend
    cluster = fragment(_rollout(), _status(), exchanges=None)
    assert "35.0% over 400 judged pairs" in cluster and "not recorded here" in cluster
    assert "time to first token" not in cluster and "spend so far" not in cluster
    # not an LLM rollout: no LLM section at all
    plain = _status().model_copy(update={"analysis_state": {}})
    assert "mc-llm" not in fragment(_rollout(llm=False), plain, exchanges=[])
    assert "<h2>LLM</h2>" not in render(_rollout(llm=False), plain, [])


def test_a_real_local_llm_rollout_reports_its_llm_view(tmp_path: Path) -> None:
    champion = LLMSimConfig(quality=0.9, seed=1, ttft_ms=20, tokens_per_second=400)
    challenger = LLMSimConfig(quality=0.4, seed=2, ttft_ms=5, tokens_per_second=2000)
    with LLMSimServer(champion) as a, LLMSimServer(challenger) as b:
        rollout = (
            mc.Rollout("assistant")
            .champion(url=a.url, protocol="openai")
            .challenger(
                url=b.url,
                protocol="openai",
                pricing=mc.Pricing(input_per_1k=0.5, output_per_1k=1.5),
            )
            .slo(mc.sli.llm.win_rate("reference"))
            .mirror_budget(max_prompts=100000)
            .shadow(100, iterations=3)
            .canary(steps=[20, 50], interval="3s")
            .load(rps=20)
            .build()
        )
        local = LocalRun(rollout).start()
        run = NotebookRun(local)
        try:
            status = run.wait(150)
            assert status.outcome == "rolled_back", status.message
            page = run.report(tmp_path / "report.html").read_text(encoding="utf-8")
            shown = run.static_html()
        finally:
            run.close()
    mirrored = len([e for e in run.llm_exchanges(Window(0.0, math.inf)) if e.mirrored])
    assert mirrored > 0
    for html in (page, shown):
        assert "time to first token by prompt length" in html
        assert "<td>&lt;128</td><td>champion</td>" in html
        assert "<td>&lt;128</td><td>challenger</td>" in html
        assert "<b>win-rate</b>:" in html and "judged pairs" in html
        assert f"spend so far: {mirrored:,} of 100,000 mirrored prompts" in html
