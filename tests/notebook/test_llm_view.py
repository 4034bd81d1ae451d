"""The widget's LLM view: TTFT/TPOT by prompt-length bucket per version, the win-rate band and
the spend on mirrored prompts, from constructed exchanges (pure summary) and drawn by the real
widget (ipywidgets + plotly FigureWidgets)."""

from __future__ import annotations

import pytest
from notebook_fixtures import FixedRun

import modelcanary as mc
from modelcanary.analysis._chartdata import level_text
from modelcanary.analysis._interval import shared_alpha
from modelcanary.analysis._judges import SequentialState
from modelcanary.analysis._llm_chart import bucket_label, llm_summary, quantile
from modelcanary.analysis._llm_records import LLMExchange, LLMSource
from modelcanary.analysis._measurements import Side, Window
from modelcanary.analysis._winrate import WinRateState, update_win_rate
from modelcanary.notebook._llm_view import spend_text, stored_win_rates, win_rate_text
from modelcanary.notebook._widget import RunWidget
from modelcanary.spec._llm import MirrorBudget, Pricing
from modelcanary.spec._status import RolloutStatus


def _exchange(
    side: Side,
    prompt_tokens: int,
    ttft: float | None,
    tpot: float | None,
    *,
    mirrored: bool = False,
    status: int = 200,
    output_tokens: int = 20,
    request_id: str = "r",
) -> LLMExchange:
    return LLMExchange(
        timestamp=1000.0,
        side=side,
        mirrored=mirrored,
        request_id=request_id,
        status=status,
        error_class="rate-limit" if status == 429 else None,
        stream=True,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        tokens_exact=True,
        latency_ms=(ttft or 0) + (tpot or 0) * output_tokens,
        ttft_ms=ttft,
        tpot_ms=tpot,
    )


def _traffic() -> list[LLMExchange]:
    """Short prompts: champion TTFT 100..109 ms, challenger 50..59 ms; long prompts (600
    tokens): champion 400 ms, challenger 300 ms; the challenger's short prompts are mirrored
    copies, plus one rate-limited challenger answer that must not count as a latency."""
    out = []
    for i in range(10):
        out.append(_exchange("champion", 40, 100.0 + i, 20.0, request_id=f"s{i}"))
        out.append(_exchange("challenger", 40, 50.0 + i, 10.0, mirrored=True, request_id=f"s{i}"))
    for i in range(4):
        out.append(_exchange("champion", 600, 400.0, 25.0, request_id=f"l{i}"))
        out.append(_exchange("challenger", 600, 300.0, 12.0, request_id=f"m{i}"))
    out.append(_exchange("challenger", 600, None, None, status=429, output_tokens=0))
    return out


def _losing(pairs: int = 400, margin: float = 0.05) -> WinRateState:
    """A challenger that wins 30 %, ties 10 %, loses 60 % of the judged pairs (win rate
    0.35), tested at ``margin``."""
    state = WinRateState()
    for _ in range(pairs // 10):
        state = update_win_rate(state, wins=3, ties=1, losses=6, margin=margin)
    return state


def test_quantile_matches_numpy_linear() -> None:
    np = pytest.importorskip("numpy")
    values = [3.0, 1.0, 7.0, 2.0, 10.0, 4.5]
    for q in (0, 50, 95, 99, 100):
        assert quantile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError):
        quantile([], 50)


def test_bucket_labels_follow_the_edges() -> None:
    assert [bucket_label(i) for i in range(4)] == ["<128", "128-511", "512-2047", ">=2048"]
    assert bucket_label(1, (10, 20)) == "10-19"


def test_summary_per_bucket_and_side() -> None:
    summary = llm_summary(_traffic())
    assert [b.label for b in summary.buckets] == ["<128", "512-2047"]  # only buckets with data
    short, long = summary.buckets
    assert short.champion.requests == 10 and short.challenger.requests == 10
    assert short.champion.ttft is not None and short.challenger.ttft is not None
    assert short.champion.ttft[0] == pytest.approx(104.5)  # p50 of 100..109
    assert short.challenger.ttft[0] == pytest.approx(54.5)
    assert short.champion.ttft[2] == pytest.approx(quantile([100.0 + i for i in range(10)], 99))
    assert short.challenger.tpot == (10.0, 10.0, 10.0)
    assert long.champion.ttft == (400.0, 400.0, 400.0)
    # the 429 is a request and an error, never a latency sample
    assert long.challenger.requests == 5 and long.challenger.errors == 1
    assert long.challenger.ttft_samples == 4 and long.challenger.ttft == (300.0,) * 3
    assert summary.exchanges == len(_traffic())


def test_spend_counts_mirrored_prompts_with_pricing_and_caps() -> None:
    summary = llm_summary(
        _traffic(),
        pricing=Pricing(inputPer1k=0.5, outputPer1k=1.5),
        budget={"max_prompts": 100, "max_tokens": 5000, "max_cost": 2.0},
    )
    spend = summary.spend
    assert spend.prompts == 10  # the mirrored copies only
    assert spend.prompt_tokens == 400 and spend.output_tokens == 200 and spend.tokens == 600
    assert spend.cost == pytest.approx(400 / 1000 * 0.5 + 200 / 1000 * 1.5)
    assert spend_text(spend) == (
        "spend so far: 10 of 100 mirrored prompts, 600 of 5,000 tokens, cost 0.5 of 2"
    )
    assert llm_summary(_traffic()).spend.cost is None  # no pricing: no cost


def test_win_rate_band_and_verdict_of_a_worse_challenger() -> None:
    summary = llm_summary([], win_rates={"win-rate": (_losing(), 0.05, 0.05)})
    (view,) = summary.win_rates
    assert view.pairs == 400 and view.rate == pytest.approx(0.35)
    assert view.band is not None and view.band[0] < 0.35 < view.band[1] < 0.45
    assert view.floor == pytest.approx(0.45) and view.verdict == "fail"
    # the level as people read it, never rounded to 100 %
    shared = llm_summary([], win_rates={"win-rate": (_losing(), 0.05, 0.005)}).win_rates[0]
    assert "99.5% band" in win_rate_text(shared)
    assert not summary.empty
    assert llm_summary([]).empty


def _stored(state: WinRateState, by_alias: bool = False) -> dict[str, object]:
    """``status.analysis_state`` as the engine writes it (``by_alias``: as the cluster's
    resource has it): the win-rate test inside the metric's sequential state, next to another
    metric's state without one."""
    return {
        "sequential": {
            "win-rate": SequentialState(win_rate=state).model_dump(mode="json", by_alias=by_alias),
            "error-rate": SequentialState().model_dump(mode="json", by_alias=by_alias),
        }
    }


@pytest.mark.parametrize("by_alias", [False, True])
def test_stored_win_rates_read_the_sequential_state(by_alias: bool) -> None:
    found = stored_win_rates(_stored(_losing(20), by_alias))
    assert set(found) == {"win-rate"} and found["win-rate"].losses == 12
    assert stored_win_rates(None) == {}


def _spec(llm: bool = True) -> mc.ModelRollout:
    """A shadow-then-canary rollout; ``llm``: OpenAI-compatible versions, the challenger
    priced, a mirroring budget and a win-rate metric with margin 0.05."""
    spec = (
        mc.Rollout("assistant")
        .champion("http://127.0.0.1:9001")
        .challenger("http://127.0.0.1:9002")
        .shadow(100)
        .canary(steps=[50], interval="1s")
        .slo(mc.sli.error_rate() < "1%")
        .build()
    )
    if not llm:
        return spec
    inner = spec.spec
    champion = inner.champion.model_copy(update={"protocol": "openai"})
    challenger = inner.challenger.model_copy(
        update={"protocol": "openai", "pricing": Pricing(inputPer1k=0.5, outputPer1k=1.5)}
    )
    win_rate = inner.analysis.metrics[0].model_copy(
        update={"name": "win-rate", "evaluator": "reference", "margin": 0.1}
    )
    analysis = inner.analysis.model_copy(
        update={
            "mirror_budget": MirrorBudget(max_prompts=100),
            "metrics": [*inner.analysis.metrics, win_rate],
        }
    )
    return spec.model_copy(
        update={
            "spec": inner.model_copy(
                update={"champion": champion, "challenger": challenger, "analysis": analysis}
            )
        }
    )


class LLMRun(FixedRun):
    """A fixed status plus the exchanges a local router would have recorded."""

    def __init__(self, exchanges: list[LLMExchange], status: RolloutStatus) -> None:
        super().__init__(_spec(), status)
        self.exchanges = exchanges

    def llm_exchanges(self, window: Window) -> list[LLMExchange]:
        return [e for e in self.exchanges if window.start <= e.timestamp < window.end]


def test_widget_draws_latency_by_bucket_win_rate_band_and_spend() -> None:
    state = _stored(_losing(2000, margin=0.1))  # the spec's margin
    run = LLMRun(_traffic(), RolloutStatus(phase="Progressing", analysis_state=state))
    assert isinstance(run, LLMSource)
    widget = RunWidget(run)
    view = widget.llm
    assert view.box in widget.view.children
    assert view.box.children == (view.text,)  # the charts: panels of the one figure
    assert widget.charts.panels[-3:] == [view.ttft, view.tpot, view.win_rate]
    champion, challenger = view.ttft.data
    assert list(champion.x) == ["<128", "512-2047"]
    assert list(champion.y) == pytest.approx([104.5, 400.0])
    assert list(challenger.y) == pytest.approx([54.5, 300.0])
    assert challenger.error_y.array[0] == pytest.approx(
        quantile([50.0 + i for i in range(10)], 95) - 54.5
    )
    assert "5 requests (1 errors)" in challenger.text[1]
    assert list(view.tpot.data[1].y) == pytest.approx([10.0, 12.0])
    band, rate = view.win_rate.data
    assert band.x[0] < 0.35 < band.x[1] < 0.4 and list(rate.x) == pytest.approx([0.35])
    # the even line and the metric's own floor, 0.5 - margin 0.1
    assert sorted(s.x0 for s in view.win_rate.shapes) == pytest.approx([0.4, 0.5])
    assert "fail" in view.text.value and "2,000 judged pairs" in view.text.value
    assert "floor 40%" in view.text.value
    # the band at the alpha the judge used (the rollout's 0.01 shared by its sequential
    # metrics): the band of its verdict
    alpha = shared_alpha(run.rollout.spec.analysis)
    assert alpha <= 0.01 and view.summary is not None
    assert view.summary.win_rates[0].alpha == alpha
    assert f"{level_text(alpha)}% band" in view.text.value
    assert "spend so far: 10 of 100 mirrored prompts, 600 tokens, cost 0.5" in view.text.value
    # the view's traces were synced: a view created later starts from the drawn figure
    synced = [t for t in widget.figure._widget_data if t.get("xaxis") == view.ttft.xref]
    assert list(synced[0]["y"]) == list(champion.y)


def test_widget_keeps_the_last_charts_once_the_exchanges_are_gone() -> None:
    run = LLMRun(_traffic(), RolloutStatus(phase="Progressing"))
    widget = RunWidget(run)
    run.exchanges = []  # the router was released after the verdict
    run._status = RolloutStatus(phase="Succeeded", outcome="promoted")
    widget.refresh(force=True)
    assert list(widget.llm.ttft.data[0].y) == pytest.approx([104.5, 400.0])
    assert "10 of 100 mirrored prompts" in widget.llm.text.value


def test_no_llm_view_for_a_model_rollout_without_llm_data() -> None:
    widget = RunWidget(FixedRun(_spec(llm=False), RolloutStatus(phase="Progressing")))
    assert widget.llm.box.children == () and widget.llm.summary is None


def test_llm_rollout_shows_the_view_before_any_exchange() -> None:
    widget = RunWidget(FixedRun(_spec(), RolloutStatus(phase="Initializing")))
    view = widget.llm
    assert view.box.children and view.summary is not None and view.summary.empty
    assert list(view.ttft.data[0].x) == [] and "0 of 100 mirrored prompts" in view.text.value


def test_buckets_follow_the_latency_slis_prompt_buckets() -> None:
    spec = _spec()
    inner = spec.spec
    ttft = inner.analysis.metrics[0].model_copy(
        update={"name": "ttft-p95", "prompt_buckets": [50, 500]}
    )
    analysis = inner.analysis.model_copy(update={"metrics": [*inner.analysis.metrics, ttft]})
    spec = spec.model_copy(update={"spec": inner.model_copy(update={"analysis": analysis})})
    run = LLMRun(_traffic(), RolloutStatus(phase="Progressing"))
    run.rollout = spec
    widget = RunWidget(run)
    assert list(widget.llm.ttft.data[0].x) == ["<50", ">=500"]  # 40 and 600 prompt tokens
