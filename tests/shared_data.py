"""Where the read-only project data lives (`../shared`: fixtures, FSDD) and how tests skip without it.

A plain clone has no `../shared`: every test that needs it is skipped with `SHARED_MISSING` (through
the `shared_dir`, `fixtures_dir` and `fsdd_dir` fixtures of conftest.py, or `requires_shared` where a
module reads the fixtures while it is collected). `SSAMBA_TEST_SHARED_DIR` points the tests at
another copy (or at a missing folder, to check that a clone's test run passes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_ENV = "SSAMBA_TEST_SHARED_DIR"
SHARED_DIR = Path(
    os.environ.get(SHARED_ENV) or Path(__file__).resolve().parents[1].parent / "shared"
).resolve()
FIXTURES_DIR = SHARED_DIR / "fixtures"
FSDD_DIR = SHARED_DIR / "datasets" / "fsdd"
HAVE_SHARED = SHARED_DIR.is_dir()
SHARED_MISSING = "../shared (fixtures, FSDD) not found beside the repository"

requires_shared = pytest.mark.skipif(not HAVE_SHARED, reason=SHARED_MISSING)
