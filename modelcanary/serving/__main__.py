"""``python -m modelcanary.serving MODEL_URI [--port N] ...``: the lean server entry point."""

from __future__ import annotations

from ._run import main

raise SystemExit(main())
