"""Own format round trip, strict official loading with listed errors, unsafe files, HF AST export."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

import ssamba
from ssamba.errors import CheckpointError
from ssamba.models.hf_ast import export_hf_ast


@pytest.mark.parametrize("name", ["ssamba_tiny", "ssast_tiny_frame"])
@pytest.mark.parametrize("task", ["finetune", "pretrain"])
def test_save_pretrained_round_trip(tmp_path, name, task):
    torch.manual_seed(0)
    kwargs = {"num_classes": 4} if task == "finetune" else {}
    model = ssamba.create_model(name, task=task, input_tdim=64, depth=2, **kwargs).eval()
    model.save_pretrained(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    }
    preprocessor = json.loads((tmp_path / "m" / "preprocessor_config.json").read_text())
    assert preprocessor["max_length"] == 64 and preprocessor["sampling_rate"] == 16000
    loaded = ssamba.from_pretrained(tmp_path / "m").eval()
    assert type(loaded) is type(model) and loaded.config == model.config
    fbank = torch.randn(2, 64, 128)
    with torch.no_grad():
        if task == "finetune":
            torch.testing.assert_close(loaded(fbank), model(fbank), rtol=0, atol=0)
        else:
            mask = model.draw_masks(2, 5)
            torch.testing.assert_close(
                loaded.mspm_loss(fbank, mask, mask)["loss"], model.mspm_loss(fbank, mask, mask)["loss"]
            )


def test_from_pretrained_errors_name_the_problem(tmp_path):
    with pytest.raises(CheckpointError, match="not a model folder"):
        ssamba.from_pretrained(tmp_path / "missing" / "deeper")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        ssamba.from_pretrained(tmp_path / "empty")


def test_official_pretrained_to_own_format_and_back(tmp_path, official_file):
    model = ssamba.load_official(
        official_file("ssamba_official_pretrain.pth"), input_tdim=128, num_classes=3
    ).eval()
    model.save_pretrained(tmp_path)
    loaded = ssamba.from_pretrained(tmp_path).eval()
    fbank = torch.randn(1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded(fbank), model(fbank), rtol=0, atol=0)


def _official_state(official_file, name):
    return torch.load(official_file(name), weights_only=True)


def test_missing_and_unexpected_keys_are_listed(official_file):
    state = _official_state(official_file, "ssamba_official_finetuned.pth")
    del state["module.v.layers.1.mixer.D_b"]
    state["module.v.layers.1.mixer.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        ssamba.load_official(state)
    message = str(info.value)
    assert "missing keys (1): encoder.layers.1.mixer.D_b" in message
    assert "unexpected keys (1): encoder.layers.1.mixer.extra" in message


def test_unprefixed_state_dicts_load_too(official_file):
    state = _official_state(official_file, "ssast_official_finetuned.pth")
    plain = {k.removeprefix("module."): v for k, v in state.items()}
    a, b = ssamba.load_official(state).eval(), ssamba.load_official(plain).eval()
    fbank = torch.randn(1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(a(fbank), b(fbank), rtol=0, atol=0)


def test_wrong_shapes_and_families_are_refused(official_file):
    state = _official_state(official_file, "ssast_official_finetuned.pth")
    with pytest.raises(CheckpointError, match="fstride"):
        ssamba.load_official(state, fstride=12)
    bad = dict(state, **{"module.v.blocks.0.norm1.weight": torch.zeros(5)})
    with pytest.raises(CheckpointError, match=r"wrong shapes \(1\): encoder.blocks.0.norm1.weight"):
        ssamba.load_official(bad)
    with pytest.raises(CheckpointError, match="cannot tell the model family"):
        ssamba.load_official(
            {
                "module.v.pos_embed": torch.zeros(1, 3, 8),
                "module.v.patch_embed.proj.weight": torch.zeros(8, 1, 16, 16),
            }
        )
    with pytest.raises(CheckpointError, match="not an official"):
        ssamba.load_official({"weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="no pretraining heads"):
        ssamba.load_official(state, task="pretrain")


def test_truncated_and_pickled_code_checkpoints_are_refused(tmp_path, official_file):
    data = official_file("ssamba_official_finetuned.pth").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        ssamba.load_official(truncated)

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    malicious = tmp_path / "malicious.pth"
    torch.save(
        {"module.v.pos_embed": torch.zeros(1), "payload": Exploit()},
        malicious,
        pickle_protocol=pickle.DEFAULT_PROTOCOL,
    )
    with pytest.raises(CheckpointError, match="refused to load"):
        ssamba.load_official(malicious)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError, match="not found"):
        ssamba.load_official(tmp_path / "nope.pth")


def test_hf_ast_export_maps_every_tensor(official_file):
    model = ssamba.load_official(official_file("ssast_official_finetuned.pth"))
    with pytest.warns(UserWarning, match="pools 'mean'"):  # ASTModel pools (cls + dist) / 2
        state, config = export_hf_ast(model)
    prefix = "audio_spectrogram_transformer."
    dim = 192
    assert config["layer_norm_eps"] == 1e-6 and config["num_labels"] == 10 and config["max_length"] == 126
    qkv = model.encoder.blocks[1].attn.qkv.weight
    rebuilt = torch.cat(
        [state[f"{prefix}encoder.layer.1.attention.attention.{n}.weight"] for n in ("query", "key", "value")]
    )
    torch.testing.assert_close(rebuilt, qkv.detach())
    assert state[f"{prefix}encoder.layer.0.attention.attention.value.bias"].shape == (dim,)
    torch.testing.assert_close(state["classifier.dense.weight"], model.head.fc.weight.detach())
    torch.testing.assert_close(
        state[f"{prefix}embeddings.distillation_token"], model.encoder.dist_token.detach()
    )
    # every encoder tensor is exported exactly once (qkv split in three)
    exported = sum(v.numel() for k, v in state.items() if k.startswith(prefix))
    assert exported == sum(p.numel() for p in model.encoder.parameters())
    with pytest.raises(CheckpointError, match="square patches"):
        export_hf_ast(ssamba.create_model("ssast_tiny_frame", input_tdim=32, depth=1))
