"""Fixtures of the local-runtime tests (defined in runtime_fixtures: a unique module name)."""

from runtime_fixtures import models

__all__ = ["models"]
