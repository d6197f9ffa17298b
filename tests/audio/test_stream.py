"""iter_audio_blocks: seamless blocks whose concatenation is the one-shot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ssamba.audio import iter_audio_blocks, load_audio
from ssamba.errors import AudioError


@pytest.fixture(scope="module")
def stereo_44k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7.3 s of stereo noise plus a tone at 44.1 kHz, stored as float."""
    rate, frames = 44100, 44100 * 7 + 13_000
    rng = np.random.default_rng(0)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(frames) / rate)
    data = (rng.normal(0, 0.05, (frames, 2)) + tone[:, None]).astype(np.float32)
    path = tmp_path_factory.mktemp("stream") / "stereo.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    return path


@pytest.mark.parametrize("block_seconds", [0.05, 0.37, 1.0, 30.0])
def test_blocks_join_into_the_full_resample(stereo_44k: Path, block_seconds: float) -> None:
    blocks = list(iter_audio_blocks(stereo_44k, block_seconds))
    assert all(b.dtype == torch.float32 and b.dim() == 1 for b in blocks)
    joined = torch.cat(blocks)
    full = load_audio(stereo_44k)
    assert joined.shape == full.shape
    torch.testing.assert_close(joined, full, atol=1e-5, rtol=0)
    # Memory stays bounded: no block is much longer than block_seconds of output.
    assert max(len(b) for b in blocks) <= block_seconds * 16000 + 2000


def test_partial_span(stereo_44k: Path) -> None:
    joined = torch.cat(list(iter_audio_blocks(stereo_44k, 0.5, offset=1.5, duration=2.0)))
    expected = load_audio(stereo_44k, offset=1.5, duration=2.0)
    torch.testing.assert_close(joined, expected, atol=1e-5, rtol=0)


def test_native_rate_blocks_are_exact_slices(stereo_44k: Path) -> None:
    blocks = list(iter_audio_blocks(stereo_44k, 1.0, sample_rate=None))
    assert [len(b) for b in blocks] == [44100] * 7 + [13_000]
    full = load_audio(stereo_44k, sample_rate=None, mono=False)
    torch.testing.assert_close(torch.cat(blocks), full.mean(0), atol=1e-7, rtol=0)


def test_nan_in_a_late_block(tmp_path: Path) -> None:
    data = np.zeros(16000 * 3, dtype=np.float32)
    data[40_000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    blocks = iter_audio_blocks(path, 1.0)
    assert len(next(blocks)) == 16000
    with pytest.raises(AudioError, match=r"nan.wav: 1 NaN/Inf sample\(s\), the first at 2.500 s"):
        list(blocks)


def test_bad_arguments_and_files(tmp_path: Path, stereo_44k: Path) -> None:
    with pytest.raises(ValueError, match="block_seconds"):
        next(iter_audio_blocks(stereo_44k, 0.0))
    with pytest.raises(AudioError, match="not found"):
        next(iter_audio_blocks(tmp_path / "missing.flac", 1.0))
    with pytest.raises(AudioError, match="25 ms"):
        next(iter_audio_blocks(stereo_44k, 1.0, duration=0.01))
