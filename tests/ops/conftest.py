"""The compiled kernels as a fixture: tests that need them skip (saying why) if they can't be built."""

from __future__ import annotations

import pytest

from ssamba.ops import _extension


@pytest.fixture(scope="session")
def cpu_ops():
    """The fused kernels (built on first use); the tests that need them skip if they can't be built."""
    try:
        return _extension.load_extension()
    except _extension.ExtensionBuildError as exc:
        pytest.skip(f"fused CPU kernels unavailable: {exc.summary}")
