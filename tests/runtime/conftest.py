"""Fixtures of the local-runtime tests (defined in runtime_fixtures: a unique module name)."""

from runtime_fixtures import models, servers_before_test

__all__ = ["models", "servers_before_test"]
