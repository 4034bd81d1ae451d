"""A widget button pressed after the rollout was decided sends nothing and says so.

The page disables the buttons only once the decided state reaches it; on a busy machine (or
a slow link) a press made just before can reach the kernel after the verdict. It used to be
sent anyway and answered "abort sent ...; applied at the rollout's next tick", though nothing
would ever apply it (seen in the JupyterLab screenshot test under load: the rollout promoted,
then the widget claimed the abort was on its way).
"""

from __future__ import annotations

import modelcanary as mc
from modelcanary.notebook._widget import RunWidget
from modelcanary.spec._status import RolloutStatus


class SteeredRun:
    """A status source whose state the test sets; it records the actions it is sent."""

    def __init__(self) -> None:
        self.rollout = (
            mc.Rollout("late-click")
            .champion("http://127.0.0.1:9001")
            .challenger("http://127.0.0.1:9002")
            .canary(steps=[50], interval="1s")
            .slo(mc.sli.error_rate() < "1%")
            .build()
        )
        self.current = RolloutStatus(phase="Progressing", canary_weight=50)
        self.done = False
        self.acted: list[str] = []

    def status(self) -> RolloutStatus:
        return self.current

    def act(self, kind: str, reason: str = "") -> None:
        self.acted.append(kind)


def test_a_press_while_running_is_sent() -> None:
    run = SteeredRun()
    widget = RunWidget(run)
    widget.buttons["abort"].click()
    assert run.acted == ["abort"]
    assert "abort sent" in widget.feedback.value


def test_a_press_that_arrives_after_the_verdict_is_not_sent_and_says_why() -> None:
    run = SteeredRun()
    widget = RunWidget(run)  # drawn while running: the page shows the buttons enabled
    assert not widget.buttons["abort"].disabled
    run.current = RolloutStatus(phase="Succeeded", outcome="promoted", canary_weight=0)
    widget.refresh()  # the kernel drew the verdict; the press was made before it showed
    widget.buttons["abort"].click()
    assert run.acted == []
    assert "abort not sent" in widget.feedback.value
    assert "already decided (promoted)" in widget.feedback.value


def test_a_press_after_the_run_ended_but_before_any_redraw_is_not_sent() -> None:
    run = SteeredRun()
    widget = RunWidget(run)
    run.current = RolloutStatus(phase="Failed", outcome="rolled_back", canary_weight=0)
    run.done = True  # the engine stopped; the widget has not drawn it yet
    widget.buttons["pause"].click()
    assert run.acted == []
    assert "pause not sent: the rollout was already decided" in widget.feedback.value
