"""Run the Argo CD resource actions (``operator/argocd/actions/``) as Argo CD does.

``discovery.lua`` gets the live object as ``obj`` and returns ``{name = {disabled = bool}}``;
each action's ``action.lua`` (the one script with ``ACTION`` replaced by the action's name, as
docs/argocd.md lists it) gets ``obj`` and returns the object to apply. A real Lua 5.1 (lupa),
as Argo CD's gopher-lua.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import yaml
from argocd_lua import LUA51, REPO

ACTIONS_DIR = REPO / "operator" / "argocd" / "actions"
NAMES = ("approve", "pause", "resume", "abort", "promote", "retry")
"""The actions, in the order the Argo CD UI lists them."""


def action_script(name: str) -> str:
    """``action.lua`` for action ``name``."""
    return (ACTIONS_DIR / "action.lua").read_text(encoding="utf-8").replace("ACTION", name)


def _plain(value: Any) -> Any:
    """A Lua table back to dicts and lists (an empty table is a dict)."""
    if hasattr(value, "items") and not isinstance(value, dict):
        items = dict(value.items())
        if items and all(isinstance(k, int) for k in items):
            return [_plain(items[i]) for i in sorted(items)]
        return {k: _plain(v) for k, v in items.items()}
    return value


def discover(obj: dict[str, Any], runtime: ModuleType = LUA51) -> dict[str, bool]:
    """action name -> enabled, for the live object ``obj``."""
    lua = runtime.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = _plain(lua.execute((ACTIONS_DIR / "discovery.lua").read_text(encoding="utf-8")))
    return {name: not entry["disabled"] for name, entry in result.items()}


def run_action(name: str, obj: dict[str, Any], runtime: ModuleType = LUA51) -> dict[str, Any]:
    """The object Argo CD applies after action ``name`` on ``obj``."""
    lua = runtime.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result: dict[str, Any] = _plain(lua.execute(action_script(name)))
    return result


def argocd_cm_value() -> dict[str, Any]:
    """The ``resource.customizations.actions.modelcanary.io_ModelRollout`` value, parsed."""
    return {
        "discovery.lua": (ACTIONS_DIR / "discovery.lua").read_text(encoding="utf-8"),
        "definitions": [{"name": n, "action.lua": action_script(n)} for n in NAMES],
    }


class _Literal(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, as people write Lua into a ConfigMap."""


_Literal.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def render_argocd_cm_value() -> str:
    """That value as the YAML text docs/argocd.md shows."""
    return yaml.dump(argocd_cm_value(), Dumper=_Literal, sort_keys=False, width=1000)
