"""Fixture access for the model tests: the official golden tensors in ../shared/fixtures/official."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file


@pytest.fixture(scope="session")
def official_file(fixtures_dir: Path):
    """Path of a file in the official fixture folder (asserted to exist)."""

    def fixture_path(name: str) -> Path:
        path = fixtures_dir / "official" / name
        assert path.is_file(), f"missing official fixture {path}"
        return path

    return fixture_path


@pytest.fixture(scope="session")
def official_manifest(official_file) -> dict:
    return json.loads(official_file("manifest.json").read_text())


@pytest.fixture(scope="session")
def load_fixture(official_file):
    cache: dict[str, dict] = {}

    def load(name: str) -> dict:
        if name not in cache:
            cache[name] = load_file(str(official_file(name)))
        return cache[name]

    return load


@pytest.fixture(scope="session")
def tolerance(official_manifest):
    """atol of (file, key) from the fixture manifest (exact for integer tensors)."""
    table = {
        (entry["file"], tensor["key"]): tensor.get("atol")
        for entry in official_manifest["files"]
        for tensor in entry.get("tensors", [])
    }

    def atol(file: str, key: str) -> float:
        value = table[(file, key)]
        return float(value) if isinstance(value, (int, float)) else 0.0

    return atol
