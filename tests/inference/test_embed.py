"""Windowed embeddings: agreement with a direct forward pass, timestamps, long files, bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

import ssamba
from ssamba.features import FeatureConfig, extract_features
from ssamba.inference import Embedder
from ssamba.inference.embed import interpolate_rows


@pytest.fixture(scope="module")
def embedder():
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", input_tdim=128, depth=2).eval()
    return Embedder(model, FeatureConfig(target_length=128), hop_ms=50.0)


def test_interpolation_hits_knots_and_midpoints():
    times = torch.tensor([0.0, 10.0, 30.0], dtype=torch.float64)
    values = torch.tensor([[0.0], [1.0], [5.0]], dtype=torch.float64)
    out = interpolate_rows(
        times, values, torch.tensor([-5.0, 0.0, 5.0, 10.0, 20.0, 40.0], dtype=torch.float64)
    )
    torch.testing.assert_close(out[:, 0], torch.tensor([0.0, 0.0, 0.5, 1.0, 3.0, 5.0], dtype=torch.float64))


def test_single_window_columns_equal_a_direct_forward(embedder):
    torch.manual_seed(2)
    waveform = torch.randn(16000) * 0.1
    clip = embedder.embed_waveform(waveform)
    with torch.no_grad():
        tokens = embedder.model.forward_features(extract_features(waveform, embedder.features)[None])
    columns = tokens[0, 2:].reshape(12, 12, -1).mean(0)  # grid (12 freq, 12 time) at stride 10
    # column j is centred on frame 10 j + 7.5 -> 10 * (10 j + 7.5) + 12.5 ms = 100 j + 87.5 ms
    index = torch.nonzero(clip.timestamps_ms == 287.5 - 37.5).flatten()  # 250 ms: between columns 1 and 2
    expected = columns[1] * (37.5 / 100) + columns[2] * (62.5 / 100)
    torch.testing.assert_close(clip.embeddings[index[0]], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(clip.scene, clip.embeddings.mean(0))


@pytest.mark.parametrize("seconds", [0.1, 0.5, 3.3, 12.0])
def test_timestamps_cover_the_clip_on_a_regular_grid(embedder, seconds):
    clip = embedder.embed_waveform(torch.randn(int(seconds * 16000)) * 0.1)
    expected = torch.arange(0, seconds * 1000 + 1e-6, 50.0, dtype=torch.float64)
    torch.testing.assert_close(clip.timestamps_ms, expected)
    assert clip.embeddings.shape == (expected.shape[0], 192)
    assert torch.isfinite(clip.embeddings).all()


def test_windows_overlap_by_half_and_the_last_one_ends_flush(embedder):
    waveform = torch.randn(16000 * 4) * 0.1
    starts = embedder.window_starts(embedder.num_frames(waveform.shape[0]))
    assert starts[0] == 0 and starts[1] == 64 and starts[-1] == embedder.num_frames(waveform.shape[0]) - 128


def test_file_streaming_equals_in_memory(tmp_path, embedder):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000 * 25) * 0.1).astype(np.float32)
    path = tmp_path / "clip.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    from_file = embedder.embed_file(path, block_seconds=3.0)
    in_memory = embedder.embed_waveform(torch.from_numpy(audio))
    torch.testing.assert_close(from_file.embeddings, in_memory.embeddings, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_file.timestamps_ms, in_memory.timestamps_ms)


LONG_FILE_SCRIPT = textwrap.dedent(
    """
    import resource, sys, torch, ssamba
    from ssamba.features import FeatureConfig
    from ssamba.inference import Embedder
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", input_tdim=1024, depth=1, embed_dim=64, num_heads=1).eval()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    embedder = Embedder(model, FeatureConfig(), hop_ms=50.0, batch_size=4)
    clip = embedder.embed_file(sys.argv[1], block_seconds=60)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(clip.timestamps_ms[0].item(), clip.timestamps_ms[-1].item(), clip.embeddings.shape[0], before, peak)
    """
)


@pytest.mark.slow
def test_one_hour_file_has_bounded_memory_and_full_coverage(tmp_path):
    path = tmp_path / "hour.flac"
    rate, seconds = 16000, 3600
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        rng = np.random.default_rng(0)
        for _ in range(seconds // 60):
            handle.write((rng.standard_normal(rate * 60) * 0.05).astype(np.float32))
    out = subprocess.run(
        [sys.executable, "-c", LONG_FILE_SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    first, last, count, before_kb, peak_kb = out.stdout.split()
    assert float(first) == 0.0 and float(last) == pytest.approx(seconds * 1000)
    assert int(count) == seconds * 20 + 1
    # the whole file would be 230 MB as float32 samples; the stream keeps about two 60 s blocks
    print(f"peak RSS growth while embedding one hour: {(int(peak_kb) - int(before_kb)) / 1024:.0f} MiB")
    assert (int(peak_kb) - int(before_kb)) * 1024 < 150 * 2**20
