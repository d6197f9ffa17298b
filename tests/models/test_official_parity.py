"""The models reproduce every official golden tensor (fixtures made by the official code)."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from ssamba.models.loading import load_official
from ssamba.models.mamba_mixer import BiMambaMixer
from ssamba.models.masking import draw_masks

FT_SETTINGS = {
    # fixture file -> (family file prefix, fstride, tstride)
    "ssamba_ft_T128_f10_t10.safetensors": ("ssamba", 10, 10),
    "ssamba_ft_T1024_f10_t10.safetensors": ("ssamba", 10, 10),
    "ssast_ft_T128_f10_t10.safetensors": ("ssast", 10, 10),
    "ssast_ft_T1024_f10_t10.safetensors": ("ssast", 10, 10),
    "ssast_frame_ft_T128_f128_t1.safetensors": ("ssast_frame", 128, 1),
    "ssast_frame_ft_T1024_f128_t2.safetensors": ("ssast_frame", 128, 2),
}


def recorder(store: dict, key):
    """A forward hook that keeps the first output under `key` (and returns None: output unchanged)."""

    def hook(module, inputs, output):
        store.setdefault(key, output)

    return hook


def block_recorder(store: dict, index: int):
    """A hook keeping a Mamba block's (mixer output, residual input) in the official layout: the
    second block of each pair runs on the token-reversed sequence there."""

    def hook(module, inputs, output):
        residual = inputs[0]
        if index % 2:
            output, residual = output.flip(1), residual.flip(1)
        store.setdefault(index, (output, residual))

    return hook


def check(actual: torch.Tensor, file: str, key: str, fixture: dict, tolerance) -> None:
    expected = fixture[key]
    assert actual.shape == expected.shape, f"{key}: shape {tuple(actual.shape)} vs {tuple(expected.shape)}"
    error = (actual.detach().float() - expected.float()).abs().max().item()
    assert error <= tolerance(file, key), f"{file}:{key} differs by {error:.3g} > {tolerance(file, key)}"


def test_bimamba_v2_mixer_unit(load_fixture, tolerance):
    file = "ssamba_mixer_unit.safetensors"
    fx = load_fixture(file)
    mixer = BiMambaMixer(192, d_state=16, d_conv=4, expand=2)
    mixer.load_state_dict({k.removeprefix("state."): v for k, v in fx.items() if k.startswith("state.")})
    with torch.no_grad():
        check(mixer(fx["input"]), file, "output", fx, tolerance)
        x, z = F.linear(fx["input"], mixer.in_proj.weight).chunk(2, dim=-1)
        forward = mixer._branch(x, z, backward_weights=False, reverse=False)
        check(forward.transpose(1, 2), file, "out_z_fwd", fx, tolerance)
        backward = mixer._branch(x, z, backward_weights=True, reverse=True).flip(
            1
        )  # the official branch runs on flipped tokens
        check(backward.transpose(1, 2), file, "out_z_bwd_flipped", fx, tolerance)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_flipped_mixer_equals_mixer_on_reversed_tokens(backend):
    """`flipped=True` replaces the official flip -> mixer -> flip, forward and backward."""
    torch.manual_seed(0)
    mixer = BiMambaMixer(16, d_state=8, scan_backend=backend)
    hidden = torch.randn(2, 23, 16, requires_grad=True)
    grad_out = torch.randn(2, 23, 16)
    flipped = mixer(hidden, flipped=True)
    (grad_flipped,) = torch.autograd.grad(flipped, hidden, grad_out)
    reference = mixer(hidden.flip(1)).flip(1)
    (grad_reference,) = torch.autograd.grad(reference, hidden, grad_out)
    torch.testing.assert_close(flipped, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_flipped, grad_reference, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(mixer(hidden, flipped=True), flipped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("file", sorted(FT_SETTINGS))
def test_finetune_adaptation_and_outputs(file, load_fixture, tolerance, official_file):
    family, fstride, tstride = FT_SETTINGS[file]
    fx = load_fixture(file)
    input_tdim = fx["input_fbank"].shape[1]
    model = load_official(
        official_file(f"{family}_official_pretrain.pth"),
        fstride=fstride,
        tstride=tstride,
        input_tdim=input_tdim,
        num_classes=10,
    ).eval()
    check(model.encoder.pos_embed, file, "pos_embed_ft", fx, tolerance)
    captured = {}
    hooks = [model.encoder.register_forward_hook(recorder(captured, "tokens"))]
    embed = model.encoder.embed
    model.encoder.embed = lambda *a, **k: captured.setdefault("tokens_in", embed(*a, **k))
    if family == "ssamba":
        for index, layer in enumerate(model.encoder.layers):
            hooks.append(layer.register_forward_hook(block_recorder(captured, index)))
        norm_outputs = []
        hooks.append(model.encoder.norm_f.register_forward_hook(lambda m, i, o: norm_outputs.append(o)))
    with torch.no_grad():
        tokens, hidden = model.forward_features(fx["input_fbank"], return_hidden_states=True)
        pooled = model.forward_head(tokens, pre_logits=True)
        model.reset_classifier(10, pooling="cls")
        pooled_cls = model.forward_head(tokens, pre_logits=True)
    for hook in hooks:
        hook.remove()
    check(tokens, file, "tokens_final", fx, tolerance)
    check(pooled, file, "pooled", fx, tolerance)
    check(pooled_cls, file, "pooled_ftcls", fx, tolerance)
    if "tokens_in" not in fx:
        return
    check(captured["tokens_in"], file, "tokens_in", fx, tolerance)
    if family == "ssamba":
        for index in range(len(model.encoder.layers)):
            mixer_out, residual_out = captured[index]
            check(mixer_out, file, f"layer{index}.mixer_out", fx, tolerance)
            check(residual_out, file, f"layer{index}.residual_out", fx, tolerance)
        for pair, state in enumerate(hidden):
            expected = fx[f"pair{pair}.hidden"] + fx[f"pair{pair}.residual"]
            assert (state - expected).abs().max() <= 2e-4
        check(norm_outputs[0], file, "tokens_norm_once", fx, tolerance)
    else:
        for index, block_out in enumerate(hidden):
            check(block_out, file, f"block{index}.out", fx, tolerance)


@pytest.mark.parametrize("family", ["ssamba", "ssast", "ssast_frame"])
def test_pretraining_losses_and_predictions(family, load_fixture, tolerance, official_file):
    file = f"{family}_pretrain_outputs.safetensors"
    fx = load_fixture(file)
    model = load_official(official_file(f"{family}_official_pretrain.pth"), task="pretrain").eval()
    predictions = {}
    model.disc_head.register_forward_hook(recorder(predictions, "mpc.pred"))
    model.gen_head.register_forward_hook(recorder(predictions, "mpg.pred"))
    model.encoder.register_forward_hook(recorder(predictions, "mpc.tokens_final"))
    with torch.no_grad():
        out = model.mspm_loss(fx["input_fbank"], fx["mpc.mask_index"], fx["mpg.mask_index"])
    check(out["nce"], file, "mpc.nce", fx, tolerance)
    check(out["mse"], file, "mpg.mse", fx, tolerance)
    check(out["loss"], file, "joint_loss", fx, tolerance)
    batch, masked = fx["mpc.mask_index"].shape
    allowed = 0.0 if family == "ssamba" else 1.0 / (batch * masked)
    assert abs(out["acc"].item() - fx["mpc.acc"].item()) <= allowed + 1e-7
    check(predictions["mpc.pred"], file, "mpc.pred", fx, tolerance)
    check(predictions["mpg.pred"], file, "mpg.pred", fx, tolerance)
    if "mpc.tokens_final" in fx:
        check(predictions["mpc.tokens_final"].last_hidden_state, file, "mpc.tokens_final", fx, tolerance)


@pytest.mark.parametrize("family", ["ssamba", "ssast", "ssast_frame"])
def test_official_mask_order_reproduces_stored_masks(family, load_fixture):
    fx = load_fixture(f"{family}_pretrain_outputs.safetensors")
    batch, masked = fx["mpc.mask_index"].shape
    grid = (1, 512) if family == "ssast_frame" else (8, 64)
    rng = random.Random(100)  # the official order: disc masks of each clip, then gen masks
    cluster = family != "ssast_frame"
    disc = draw_masks(rng, batch, grid, masked, cluster=cluster, official_order=True)
    gen = draw_masks(rng, batch, grid, masked, cluster=cluster, official_order=True)
    assert torch.equal(disc, fx["mpc.mask_index"])
    assert torch.equal(gen, fx["mpg.mask_index"])


@pytest.mark.parametrize("family", ["ssamba", "ssast"])
def test_finetuned_checkpoint_logits(family, load_fixture, tolerance, official_file):
    file = f"{family}_finetuned_outputs.safetensors"
    fx = load_fixture(file)
    model = load_official(official_file(f"{family}_official_finetuned.pth")).eval()
    assert model.config.num_classes == 10
    assert model.encoder.grid == (12, 12)
    with torch.no_grad():
        logits = model(fx["input_fbank"])
    check(logits, file, "logits", fx, tolerance)
    # The stored checkpoint is the model after one optimizer step on these labels: its loss is lower.
    loss_after = F.binary_cross_entropy_with_logits(logits, fx["labels"])
    assert loss_after < fx["loss_before_step"]
