"""Shared fixtures: the repository and its vendored test data (real CRDs, Flagger examples)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests draw the same examples on every run (derandomize: a seed per test), with no
# per-example deadline: one unlucky draw or a slow example on a loaded CI machine must not fail
# a run that the previous one passed. MODELCANARY_HYPOTHESIS=explore draws fresh examples
# each run (for hunting bugs locally; a find there becomes an @example).
settings.register_profile(
    "modelcanary", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.load_profile(
    "explore" if os.environ.get("MODELCANARY_HYPOTHESIS") == "explore" else "modelcanary"
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"  # vendored, with provenance headers


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """tests/data: the real CRDs (crds/) and Flagger Canary examples (flagger-examples/)."""
    return DATA


@pytest.fixture(scope="session")
def flagger_examples(shared_dir: Path) -> list[Path]:
    files = sorted((shared_dir / "flagger-examples").glob("*.yaml"))
    assert files, "no Flagger examples found"
    return files
