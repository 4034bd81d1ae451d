"""The engine: ticks rollouts through the ports (observe, ``step``, execute, save status)."""

from ._actions import ACTION, ACTION_ID, ACTION_REASON, action_annotations, action_from
from ._clock import ManualClock, SystemClock
from ._engine import Engine, TickResult
from ._filestore import FileStatusStore
from ._memory import MemoryStatusStore
from ._runner import run_until_done
from ._self_metrics import EngineMetrics

__all__ = [
    "ACTION",
    "ACTION_ID",
    "ACTION_REASON",
    "Engine",
    "EngineMetrics",
    "FileStatusStore",
    "ManualClock",
    "MemoryStatusStore",
    "SystemClock",
    "TickResult",
    "action_annotations",
    "action_from",
    "run_until_done",
]
