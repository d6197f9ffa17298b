"""Shared test helpers: where the read-only project data (`../shared`) lives."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT.parent / "shared").resolve()
FIXTURES_DIR = SHARED_DIR / "fixtures"
FSDD_DIR = SHARED_DIR / "datasets" / "fsdd"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED_DIR.is_dir(), f"expected the shared data beside the repo at {SHARED_DIR}"
    return SHARED_DIR


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    assert (FSDD_DIR / "recordings").is_dir(), f"FSDD not found at {FSDD_DIR}"
    return FSDD_DIR
