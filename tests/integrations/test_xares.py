"""The X-ARES encoder wrapper: the real `check_audio_encoder`, 10-minute clips, values per patch column."""

from __future__ import annotations

import pytest
import torch

import ssamba
from ssamba.features import compute_fbank, normalize
from ssamba.integrations.xares import SsambaEncoder
from ssamba.models.pretrained import load_feature_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("xares_model")
    ssamba.create_model("ssamba_tiny", input_tdim=512, depth=2, patch_stride=(16, 16)).save_pretrained(
        directory
    )
    return directory


def test_the_real_xares_checker_accepts_the_module_as_xares_loads_it(model_dir, monkeypatch):
    checker = pytest.importorskip("xares.audio_encoder_checker")
    utils = pytest.importorskip("xares.utils")
    monkeypatch.setenv("SSAMBA_XARES_MODEL", str(model_dir))
    encoder_class = utils.attr_from_py_path("ssamba/integrations/xares.py", endswith="Encoder")
    encoder = encoder_class()  # X-ARES builds the encoder without arguments
    assert encoder_class is SsambaEncoder and checker.check_audio_encoder(encoder)
    assert (encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms) == (16000, 192, 40.0)
    assert encoder(torch.randn(2, 50000)).shape == (2, 1 + 3125 // 40, 192)  # the checker's input


def test_ten_minutes_are_embedded_a_few_windows_at_a_time(model_dir):
    encoder = SsambaEncoder(str(model_dir), batch_size=8)
    forward = encoder.model.forward_features
    batches = []
    encoder.model.forward_features = lambda fbank: batches.append(tuple(fbank.shape)) or forward(fbank)
    samples = 16000 * 600
    output = encoder(torch.randn(1, samples))
    frames = 1 + (samples - 400) // 160  # 25 ms windows every 10 ms
    windows = len(range(0, frames - 512, 256)) + 1  # half-overlapping 512-frame windows, last flush
    assert sum(shape[0] for shape in batches) == windows
    assert all(shape[0] <= 8 and shape[1:] == (512, 128) for shape in batches)
    assert output.shape == (1, 600_000 // 40 + 1, 192) and torch.isfinite(output).all()


def test_frames_are_the_patch_column_means_of_the_model_tokens(tmp_path):
    torch.manual_seed(1)
    model = ssamba.create_model("ssamba_tiny", input_tdim=128, depth=2).eval()  # stride 10: 12 x 12 patches
    model.save_pretrained(tmp_path)
    encoder = SsambaEncoder(str(tmp_path), hop_size_in_ms=12.5)
    audio = torch.randn(1, 127 * 160 + 400)  # exactly one window of 128 frames
    output = encoder(audio)
    features = load_feature_config(tmp_path)
    fbank = normalize(compute_fbank(audio[0], features), features.mean, features.std)
    with torch.no_grad():
        tokens = model.forward_features(fbank.unsqueeze(0))[0, 1:]  # drop the cls token
    columns = tokens.reshape(12, 12, 192).mean(dim=0)
    # column k covers frames 10k..10k+15: centre 10 * (10k + 7.5) + 12.5 ms = 12.5 * (8k + 7)
    torch.testing.assert_close(output[0, 7::8][:12], columns, rtol=1e-5, atol=1e-5)
