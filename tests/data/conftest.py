"""Fixtures for the data tests: the FSDD manifest, a small subset of it and a front end."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssamba.data import Manifest, build_manifest, preset_options
from ssamba.features import FeatureConfig


@pytest.fixture(scope="session")
def fsdd_manifest(fsdd_dir: Path) -> Manifest:
    return build_manifest(fsdd_dir / "recordings", **preset_options("fsdd"))


@pytest.fixture(scope="session")
def small_manifest(fsdd_manifest: Manifest) -> Manifest:
    """20 clips spread over every digit and speaker (for tests that compute features)."""
    return Manifest(fsdd_manifest.entries[7::150])


@pytest.fixture(scope="session")
def feature_config() -> FeatureConfig:
    return FeatureConfig(target_length=128, mean=-6.0, std=5.0)
