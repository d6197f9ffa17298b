"""The s3prl upstream contract, checked without s3prl: shapes, layers, rates, batch independence,
and the exact calls s3prl 0.4.18 makes (`S3PRLUpstream`, the downstream runner)."""

from __future__ import annotations

import importlib

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


def s3prl_upstream(entry, path_or_url=None, refresh=False, extra_conf=None):
    """s3prl 0.4.18 `S3PRLUpstream.__init__` (s3prl/nn/upstream.py): how it builds an upstream."""
    upstream_conf = {"refresh": refresh, **(extra_conf or {})}
    if path_or_url is not None:
        upstream_conf["ckpt"] = path_or_url
    return entry(**upstream_conf)


def s3prl_runner_upstream(entry, ckpt, model_config=None, refresh=False):
    """s3prl 0.4.18 `Runner._get_upstream` (s3prl/downstream/runner.py), `-u entry -k ckpt -g config`."""
    return entry(ckpt=ckpt, model_config=model_config, refresh=refresh)


def s3prl_forward(upstream, wavs):
    """s3prl 0.4.18 `S3PRLUpstream.forward`'s length contract: every layer matched to ceil(len / rate)."""
    rate = upstream.get_downsample_rates("hidden_states")
    hidden = upstream(wavs)["hidden_states"]
    expected_max = len(range(0, max(len(wav) for wav in wavs), rate))
    for state in hidden:
        assert state.shape[1] // expected_max == 1 or expected_max // state.shape[1] == 1  # _match_length
    return hidden, [(len(wav) - 1) // rate + 1 for wav in wavs]


@pytest.mark.parametrize("entry", [ssamba_upstream, ssamba_frame_features, UpstreamExpert])
def test_s3prl_calls_with_its_own_keywords(ssast_dir, entry):
    """s3prl passes `refresh` (and `model_config`) to every upstream: accepted and ignored."""
    torch.manual_seed(2)
    wavs = [torch.randn(16000), torch.randn(27000)]
    for upstream in (
        s3prl_upstream(entry, path_or_url=str(ssast_dir)),
        s3prl_runner_upstream(entry, str(ssast_dir), refresh=True),
        s3prl_upstream(entry, path_or_url=str(ssast_dir), extra_conf={"window_secs": 0.5, "legacy": True}),
    ):
        with torch.no_grad():
            hidden, lengths = s3prl_forward(upstream.eval(), wavs)
        assert len(hidden) == 3 and lengths == [10, 17]
        assert hidden[-1].shape[:2] == (2, 17)


def test_real_s3prl_upstream_and_featurizer(ssast_dir, monkeypatch):
    """With s3prl installed (0.4.18 needs a torchaudio built for the installed torch)."""
    try:
        hub = importlib.import_module("s3prl.hub")
        s3prl_nn = importlib.import_module("s3prl.nn")
    except (ImportError, OSError) as exc:
        pytest.skip(f"s3prl not importable: {exc}")
    monkeypatch.setattr(hub, "ssamba_upstream", ssamba_upstream, raising=False)
    upstream = s3prl_nn.S3PRLUpstream("ssamba_upstream", path_or_url=str(ssast_dir)).eval()
    assert upstream.num_layers == 3 and upstream.downsample_rates == [1600] * 3
    with torch.no_grad():
        hidden, lengths = upstream(torch.randn(2, 32000), torch.LongTensor([16000, 32000]))
        features, feature_lengths = s3prl_nn.Featurizer(upstream)(hidden, lengths)
    assert features.shape == (2, 20, 12 * 192) and feature_lengths.tolist() == [10, 20]


def test_bad_feature_layout_is_rejected(ssast_dir):
    with pytest.raises(ValueError, match="feature must be one of"):
        UpstreamExpert(str(ssast_dir), feature="stack")
