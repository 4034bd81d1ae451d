"""Shared fixtures: the repository and ../shared (real CRDs, Flagger examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"{SHARED} is missing: tests need ../shared beside the repository"
    return SHARED


@pytest.fixture(scope="session")
def flagger_examples(shared_dir: Path) -> list[Path]:
    files = sorted((shared_dir / "flagger-examples").glob("*.yaml"))
    assert files, "no Flagger examples found"
    return files
