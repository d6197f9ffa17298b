"""Real transformers reads our SSAST folders (AutoConfig, ASTFeatureExtractor) and runs exported weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import ssamba
from ssamba.data.labels import LabelMap
from ssamba.features import FeatureConfig
from ssamba.models.pretrained import load_feature_config

transformers = pytest.importorskip("transformers", reason="transformers is not installed (dev extra)")


@pytest.fixture
def ssast_classifier():
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", num_classes=3, input_tdim=64, depth=2, pooling="cls").eval()
    model.label_map = LabelMap(("dog", "cat", "bird"))
    return model


def test_auto_config_reads_an_ssast_folder(tmp_path, ssast_classifier):
    ssast_classifier.save_pretrained(tmp_path)
    config = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(config).__name__ == "ASTConfig"
    ours = ssast_classifier.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (192, 2, 3)
    assert (config.intermediate_size, config.patch_size) == (4 * 192, ours.patch_shape[0])
    assert (config.frequency_stride, config.time_stride) == tuple(ours.patch_stride)
    assert (config.max_length, config.num_mel_bins, config.layer_norm_eps) == (64, 128, 1e-6)
    assert config.id2label == {0: "dog", 1: "cat", 2: "bird"} and config.label2id["bird"] == 2
    assert config.num_labels == 3 and config.problem_type == "single_label_classification"


def test_ssamba_folders_name_their_own_model_type(tmp_path):
    ssamba.create_model("ssamba_tiny", input_tdim=64, depth=2).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "ssamba"
    with pytest.raises(ValueError, match="ssamba"):  # transformers has no SSAMBA: refused, not misread
        transformers.AutoConfig.from_pretrained(tmp_path)


def test_ast_feature_extractor_reads_our_front_end(tmp_path, ssast_classifier):
    ssast_classifier.save_pretrained(tmp_path, FeatureConfig(target_length=64, mean=-5.5, std=3.5))
    extractor = transformers.ASTFeatureExtractor.from_pretrained(tmp_path)
    assert (extractor.sampling_rate, extractor.max_length, extractor.num_mel_bins) == (16000, 64, 128)
    assert (extractor.mean, extractor.std, extractor.do_normalize) == (-5.5, 3.5, True)
    torch.manual_seed(1)
    time = torch.arange(8000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * time) + 0.05 * torch.randn(8000)
    theirs = extractor(wave.numpy(), sampling_rate=16000, return_tensors="pt").input_values[0]
    torch.testing.assert_close(theirs, load_feature_config(tmp_path)(wave), rtol=0, atol=5e-4)


def test_exported_ast_reproduces_tokens_and_logits(tmp_path, ssast_classifier):
    state, config = ssamba.models.export_hf_ast(ssast_classifier)
    transformers.ASTConfig(**config).save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"))
    hf_model = transformers.ASTForAudioClassification.from_pretrained(tmp_path).eval()
    fbank = torch.randn(2, 64, 128)
    with torch.no_grad():
        tokens = hf_model.audio_spectrogram_transformer(fbank).last_hidden_state
        logits = hf_model(fbank).logits
        torch.testing.assert_close(tokens, ssast_classifier.forward_features(fbank), rtol=0, atol=1e-6)
        # the head's LayerNorm eps is 1e-5 here, config.layer_norm_eps (1e-6) in transformers
        torch.testing.assert_close(logits, ssast_classifier(fbank), rtol=0, atol=1e-4)


def test_export_warns_when_pooling_differs_from_ast():
    model = ssamba.create_model("ssast_tiny", num_classes=2, input_tdim=64, depth=1, pooling="mean")
    with pytest.warns(UserWarning, match="pools 'mean'.*cls \\+ dist"):
        ssamba.models.export_hf_ast(model)
