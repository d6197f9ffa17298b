"""The s3prl upstream contract, checked without s3prl: shapes, layers, rates, batch independence."""

from __future__ import annotations

import pytest
import torch

import ssamba
from ssamba.integrations.s3prl import UpstreamExpert, ssamba_frame_features, ssamba_upstream


@pytest.fixture(scope="module")
def ssast_dir(tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("ssast")
    ssamba.create_model("ssast_tiny", input_tdim=100, depth=2).save_pretrained(directory)
    return directory


def test_every_layer_same_shape_and_trimmed_to_the_audio(ssast_dir):
    upstream = ssamba_upstream(str(ssast_dir)).eval()
    assert upstream.get_downsample_rates("hidden_states") == 1600
    wavs = [torch.randn(16000), torch.randn(40000), torch.randn(3000)]
    with torch.no_grad():
        out = upstream(wavs)
    assert len(out["hidden_states"]) == 3  # 2 blocks + final norm
    expected_frames = round(40000 / 1600)
    for state in out["hidden_states"]:
        assert state.shape == (3, expected_frames, 12 * 192)
    torch.testing.assert_close(out["last_hidden_state"], out["hidden_states"][-1])


def test_batch_independence_and_mean_layout(ssast_dir):
    concat = UpstreamExpert(str(ssast_dir)).eval()
    mean = ssamba_frame_features(str(ssast_dir)).eval()
    torch.manual_seed(1)
    wavs = [torch.randn(20000), torch.randn(9000)]
    with torch.no_grad():
        together = concat(wavs)["hidden_states"][1]
        alone = concat([wavs[1]])["hidden_states"][1]
        averaged = mean([wavs[1]])["hidden_states"][1]
    frames = round(9000 / 1600)
    torch.testing.assert_close(together[1, :frames], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(averaged[0], alone[0].reshape(frames, 12, 192).mean(1), rtol=1e-4, atol=1e-5)


def test_ssamba_upstream_normalises_pair_states():
    torch.manual_seed(0)
    upstream = UpstreamExpert("ssamba_tiny", depth=4, input_tdim=64, feature="mean").eval()
    with torch.no_grad():
        out = upstream([torch.randn(12000)])
    assert len(out["hidden_states"]) == 3  # 2 layer pairs + final
    for state in out["hidden_states"]:
        assert state.shape[-1] == 192 and state.abs().max() < 50


def test_bad_feature_layout_is_rejected(ssast_dir):
    with pytest.raises(ValueError, match="feature must be one of"):
        UpstreamExpert(str(ssast_dir), feature="stack")
