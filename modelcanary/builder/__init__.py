"""Fluent, immutable SDK that builds a ModelRollout spec in a notebook or script.

    import modelcanary as mc
    r = (mc.Rollout("fraud").champion("models:/fraud@champion").challenger("models:/fraud/4")
         .canary(steps=[5, 10, 25, 50], interval="1m")
         .slo(mc.sli.error_rate() < "1%", mc.sli.latency(p=99) < "250ms"))
    spec = r.build()

Layer rule: imports only ``modelcanary.spec`` and ``modelcanary.errors`` (no I/O).
"""

from __future__ import annotations

from . import _sli as sli
from ._html import rollout_html
from ._plans import step
from ._rollout import Rollout
from ._sli import SLI

__all__ = ["SLI", "Rollout", "rollout_html", "sli", "step"]
