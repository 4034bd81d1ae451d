"""The engine: ticks rollouts through the ports (observe, ``step``, execute, save status)."""

from .actions import ACTION, ACTION_ID, ACTION_REASON, action_annotations, action_from
from .clock import ManualClock, SystemClock
from .engine import Engine, TickResult
from .filestore import FileStatusStore
from .memory import MemoryStatusStore
from .metrics import EngineMetrics
from .runner import run_until_done

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
