"""Property-based fuzzing of the parsers of untrusted input: each returns a valid result or raises
its own `SsambaError` subclass, never another exception type.

The quick run (default suite) is derandomised; the `slow` run draws fresh inputs and prints how
many it tried (`pytest -m slow -s tests/reliability/test_fuzz.py`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssamba.audio import load_audio
from ssamba.data import read_manifest
from ssamba.data.manifests import KNOWN_FIELDS
from ssamba.dataclass_io import from_dict
from ssamba.errors import AudioError, ConfigError, ManifestError
from ssamba.features import FeatureConfig
from ssamba.models.config import ModelConfig

# Text without lone surrogates (files are written as UTF-8) and short enough for a file name:
# over-long and non-UTF-8 names have their own tests in test_bad_audio.py.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-2, 300),
    st.floats(),
    TEXT,
    st.sampled_from(["", "x"]),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def wav_seed(subtype: str, channels: int) -> bytes:
    samples = np.random.default_rng(channels).uniform(-0.5, 0.5, (1600, channels)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype=subtype)
    return buffer.getvalue()


# FLAC seeds are left out: a truncated FLAC is a known failure (test_bad_audio truncated_flac).
WAV_SEEDS = [wav_seed("PCM_16", 1), wav_seed("FLOAT", 2), wav_seed("PCM_24", 1), wav_seed("ULAW", 1)]


def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes (mostly in the header, where it hurts) and optionally truncate."""
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data[:cut])


AUDIO_RANDOM = st.tuples(
    st.binary(max_size=2048), st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".aiff"])
)
AUDIO_MUTATED = st.builds(
    lambda seed, edits, cut: (mutate(seed, edits, cut), ".wav"),
    st.sampled_from(WAV_SEEDS),
    st.lists(st.tuples(st.integers(0, 80) | st.integers(0, 4000), st.integers(0, 255)), max_size=6),
    st.none() | st.integers(0, 3300),
)


def check_audio(value: tuple[bytes, str], folder: Path) -> None:
    data, suffix = value
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    try:
        waveform = load_audio(path)
    except AudioError as exc:
        assert str(path) in str(exc)
        return
    assert waveform.dtype == torch.float32 and waveform.ndim == 1 and bool(torch.isfinite(waveform).all())


ROW = st.dictionaries(st.sampled_from(KNOWN_FIELDS) | TEXT, JSON, max_size=6)
LINE = st.one_of(
    ROW.map(json.dumps),
    st.builds(
        lambda audio, label: json.dumps({"audio": audio, "label": label}),
        st.sampled_from(["a.wav", "b.wav"]),
        JSON,
    ),
    st.builds(lambda text, cut: text[:cut], ROW.map(json.dumps), st.integers(0, 60)),
    TEXT,
)
MANIFEST = st.tuples(st.lists(LINE, max_size=6), st.booleans(), st.booleans(), st.booleans())


def check_manifest(value: tuple[list[str], bool, bool, bool], folder: Path) -> None:
    lines, check_files, skip_bad, require_labels = value
    for name in ("a.wav", "b.wav"):
        (folder / name).touch()
    path = folder / "m.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        manifest = read_manifest(
            path, check_files=check_files, skip_bad=skip_bad, require_labels=require_labels
        )
    except ManifestError as exc:
        assert str(path) in str(exc)
        return
    assert len(manifest) >= 1


def config_dicts(cls: type, required: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts mixing the dataclass's own keys (valid-looking values or any JSON) with unknown keys."""
    names = [name for name in cls.__dataclass_fields__]
    values = (
        JSON | st.lists(st.integers(-1, 20), min_size=2, max_size=2) | st.sampled_from(["ssamba", "ssast"])
    )
    known = st.dictionaries(st.sampled_from(names), values, max_size=6)
    unknown = st.dictionaries(TEXT, JSON, max_size=1)
    return st.builds(lambda r, k, u: {**r, **k, **u}, st.fixed_dictionaries(required), known, unknown)


# ModelConfig(num_heads=0) is a known failure (test_bad_configs zero_heads): filtered out here.
CONFIGS = st.one_of(
    config_dicts(FeatureConfig, {}).map(lambda d: (FeatureConfig, d)),
    config_dicts(ModelConfig, {"family": st.sampled_from(["ssamba", "ssast"])})
    .filter(lambda d: d.get("num_heads") != 0)
    .map(lambda d: (ModelConfig, d)),
)


def check_config(value: tuple[type, dict[str, Any]], folder: Path) -> None:
    cls, data = value
    try:
        config = from_dict(cls, data)
    except ConfigError:
        return
    assert isinstance(config, cls)


TARGETS: dict[str, tuple[st.SearchStrategy, Callable[[Any, Path], None]]] = {
    "audio_random_bytes": (AUDIO_RANDOM, check_audio),
    "audio_mutated_wav": (AUDIO_MUTATED, check_audio),
    "manifest": (MANIFEST, check_manifest),
    "config": (CONFIGS, check_config),
}


@pytest.mark.parametrize(
    "budget", [pytest.param(60, id="quick"), pytest.param(500, id="long", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(tmp_path_factory, target, budget):
    strategy, check = TARGETS[target]
    folder = tmp_path_factory.mktemp(f"fuzz_{target}")
    count = 0

    @settings(
        max_examples=budget,
        deadline=None,
        database=None,
        derandomize=budget < 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal count
        count += 1
        check(value, folder)

    run()
    print(f"fuzz {target}: {count} inputs")
    assert count >= min(budget, 20)
