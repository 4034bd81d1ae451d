"""Run ``operator/argocd/health.lua`` as Argo CD does: a real Lua interpreter (lupa), the live
object as the global ``obj``, the returned table's ``status`` and ``message``.

Argo CD embeds gopher-lua, a Lua 5.1 implementation: :data:`LUA51` is the reference runtime;
the tests run Lua 5.4 too, so the script uses nothing that differs between the two.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from lupa import lua51, lua54

REPO = Path(__file__).resolve().parents[2]
SCRIPT_PATH = REPO / "operator" / "argocd" / "health.lua"
LUA51: ModuleType = lua51
LUA54: ModuleType = lua54
ARGO_HEALTH = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
"""Argo CD's health statuses (gitops-engine ``health.HealthStatusCode``)."""


def health(
    obj: dict[str, Any], script: str | None = None, runtime: ModuleType = LUA51
) -> tuple[str, str]:
    """(status, message) of the health check for the live object ``obj``."""
    lua = runtime.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script if script is not None else SCRIPT_PATH.read_text(encoding="utf-8"))
    status, message = result["status"], result["message"]
    assert isinstance(status, str) and isinstance(message, str), (status, message)
    return status, message
