"""The HEAR validator's checks, re-implemented (the official validator needs TensorFlow)."""

from __future__ import annotations

import pytest
import torch

from ssamba import hear


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return hear.load_model("ssast_tiny", depth=2, input_tdim=128)


def test_required_attributes_are_python_ints(model):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in {16000, 22050, 44100, 48000}
    for name in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size"):
        assert type(getattr(model, name)) is int


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0])
def test_timestamp_embeddings_like_the_validator(model, seconds):
    audio = torch.rand(2, int(seconds * model.sample_rate)) * 2 - 1
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.dtype == torch.float32 and timestamps.dtype == torch.float32
    assert embeddings.ndim == 3 and timestamps.ndim == 2
    assert embeddings.shape[:2] == timestamps.shape and embeddings.shape[0] == 2
    assert embeddings.shape[2] == model.timestamp_embedding_size
    hops = timestamps[0, 1:] - timestamps[0, :-1]
    duration_ms = seconds * 1000
    assert (hops - hops.mean()).abs().max() <= 1.0, "irregular hop"
    assert hops.mean() <= 50.0
    assert timestamps[0, 0] <= hops.mean()
    assert timestamps[0, -1] >= duration_ms - hops.mean() and timestamps[0, -1] <= duration_ms
    assert torch.isfinite(embeddings).all()


def test_scene_embeddings_shape_determinism_and_batch_independence(model):
    torch.manual_seed(1)
    audio = torch.rand(4, int(2.74 * 16000)) * 2 - 1
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32 and scene.shape == (4, model.scene_embedding_size)
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model), scene, rtol=0, atol=0)
    alone = hear.get_scene_embeddings(audio[2:3], model)
    torch.testing.assert_close(alone[0], scene[2], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(scene[0], scene[1])


def test_bad_shapes_are_rejected(model):
    with pytest.raises(ValueError, match="n_sounds, n_samples"):
        hear.get_scene_embeddings(torch.zeros(16000), model)
