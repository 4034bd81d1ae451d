"""Shared fixtures: the repository and its vendored test data (real CRDs, Flagger examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
