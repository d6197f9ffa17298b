"""SSAMBA's layer pairs in training mode (stochastic depth on) against a naive, flip-based rewrite of
the official Vim loop (spec 1.4.2-1.4.4): forward, per-pair hidden states and gradients.

The model never flips a tensor (its second layer of a pair scans backwards), computes a shared
residual once and defers the doubling of the residual stream; the naive loop below does none of
that. Both draw one Bernoulli mask per sample and per drop-path layer from the global generator
in the official order (layer 2k, layer 2k+1, then the final add), so a seed gives both the same
dropped paths.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ssamba.models.config import ModelConfig
from ssamba.models.mamba_mixer import BiMambaMixer, MambaBlock
from ssamba.models.ssamba import SSAMBAEncoder

DEPTH = 6
DROP_PATH_RATE = 0.9  # high, so that many samples are dropped
# Spec 1.4.3: layer i uses ([0] + linspace(0, rate, depth))[i]; the final add uses the full rate.
LAYER_RATES = [0.0, *torch.linspace(0, DROP_PATH_RATE, DEPTH).tolist()][:DEPTH]
BATCH, TOKENS, DIM = 6, 7, 16


def naive_drop_path(x: Tensor, prob: float, masks: list[Tensor]) -> Tensor:
    """timm's per-sample stochastic depth: keep a sample with probability 1 - p, scaled by 1/(1 - p)."""
    if prob == 0.0:
        return x
    keep = torch.empty(x.shape[0], 1, 1).bernoulli_(1.0 - prob)
    masks.append(keep.flatten())
    return x * keep / (1.0 - prob)


def naive_branch(mixer: BiMambaMixer, x: Tensor, z: Tensor, suffix: str) -> Tensor:
    """One SSM direction scanning from the first token (spec 1.4.2), step by step."""
    conv = getattr(mixer, "conv1d" + suffix)
    weight, width = conv.weight[:, 0], conv.weight.shape[-1]  # (E, K)
    length = x.shape[1]
    padded = F.pad(x, (0, 0, width - 1, 0))  # causal: x[t < 0] = 0
    conv_out = conv.bias + sum(weight[:, k] * padded[:, k : k + length] for k in range(width))
    xc = F.silu(conv_out)
    rank, state = mixer.dt_rank, mixer.d_state
    dt_low, b, c = (xc @ getattr(mixer, "x_proj" + suffix).weight.T).split([rank, state, state], dim=-1)
    dt_proj = getattr(mixer, "dt_proj" + suffix)
    delta = F.softplus(dt_low @ dt_proj.weight.T + dt_proj.bias)
    a = -torch.exp(mixer.A_b_log if suffix else mixer.A_log)
    d = getattr(mixer, "D" + suffix)
    h = x.new_zeros(x.shape[0], mixer.d_inner, state)
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, t, :, None] * a) * h + (delta[:, t] * xc[:, t])[:, :, None] * b[:, t, None, :]
        ys.append((h @ c[:, t, :, None])[..., 0] + d * xc[:, t])
    return torch.stack(ys, dim=1) * F.silu(z)


def naive_mixer(mixer: BiMambaMixer, u: Tensor) -> Tensor:
    """Bimamba v2: the backward branch runs on the flipped x and z and is flipped back; mean, out_proj."""
    x, z = (u @ mixer.in_proj.weight.T).chunk(2, dim=-1)
    forward = naive_branch(mixer, x, z, "")
    backward = naive_branch(mixer, x.flip(1), z.flip(1), "_b").flip(1)
    return ((forward + backward) / 2) @ mixer.out_proj.weight.T


def naive_block(
    block: MambaBlock, rate: float, h: Tensor, r: Tensor | None, masks: list[Tensor]
) -> tuple[Tensor, Tensor]:
    """Vim's Block: r = h (first) or r + DropPath(h); h = mixer(LayerNorm(r))."""
    r = h if r is None else r + naive_drop_path(h, rate, masks)
    normed = F.layer_norm(r, (r.shape[-1],), block.norm.weight, block.norm.bias, eps=1e-5)
    return naive_mixer(block.mixer, normed), r


def naive_encoder(encoder: SSAMBAEncoder, tokens: Tensor, masks: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """The official pair loop with explicit flips, the final DropPath and the double final norm."""
    h, r, pair_states = tokens, None, []
    layers = encoder.layers
    for k in range(len(layers) // 2):
        first, second = 2 * k, 2 * k + 1
        hf, rf = naive_block(layers[first], LAYER_RATES[first], h, r, masks)
        flipped_r = None if r is None else r.flip(1)
        hb, rb = naive_block(layers[second], LAYER_RATES[second], h.flip(1), flipped_r, masks)
        h, r = hf + hb.flip(1), rf + rb.flip(1)
        pair_states.append(r + h)
    r = r + naive_drop_path(h, DROP_PATH_RATE, masks)
    norm = encoder.norm_f
    once = F.layer_norm(r, (DIM,), norm.weight, norm.bias, eps=1e-5)
    return F.layer_norm(once, (DIM,), norm.weight, norm.bias, eps=1e-5), pair_states


def gradients(encoder: SSAMBAEncoder, tokens: Tensor, out: Tensor, probe: Tensor) -> dict[str, Tensor]:
    names = ["tokens", *(name for name, _ in encoder.layers.named_parameters()), "norm_f.weight"]
    inputs = [tokens, *encoder.layers.parameters(), encoder.norm_f.weight]
    return dict(zip(names, torch.autograd.grad((out * probe).sum(), inputs), strict=True))


@pytest.mark.parametrize(
    ("backend", "checkpointing"),
    [("cpu", False), ("cpu", True), ("reference", False)],
    ids=["cpu", "cpu_grad_checkpointing", "reference"],
)
def test_training_forward_and_gradients_match_the_naive_flip_loop(backend: str, checkpointing: bool) -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        family="ssamba",
        embed_dim=DIM,
        depth=DEPTH,
        patch_shape=(4, 4),
        patch_stride=(4, 4),
        num_mel_bins=8,
        input_tdim=12,
        d_state=4,
        drop_path_rate=DROP_PATH_RATE,
        scan_backend=backend,
    )
    encoder = SSAMBAEncoder(config.encoder_config()).train()
    encoder.set_grad_checkpointing(checkpointing)
    with torch.no_grad():  # non-trivial LayerNorm affines and backward dt biases
        for module in encoder.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
            if isinstance(module, BiMambaMixer):
                module.dt_proj_b.bias.normal_(-2, 0.5)
    tokens = torch.randn(BATCH, TOKENS, DIM, requires_grad=True)
    probe = torch.randn(BATCH, TOKENS, DIM)

    torch.manual_seed(1234)
    output = encoder.forward_tokens(tokens, return_hidden_states=True)
    torch.manual_seed(1234)
    masks: list[Tensor] = []
    expected, expected_states = naive_encoder(encoder, tokens, masks)

    dropped = torch.stack(masks) == 0
    assert len(masks) == DEPTH - 2 + 1  # layers 0 and 1 have rate 0; plus the final add
    assert dropped.any() and not dropped.all()  # some paths dropped, some kept
    torch.testing.assert_close(output.last_hidden_state, expected, rtol=1e-4, atol=1e-4)
    for actual, wanted in zip(output.hidden_states, expected_states, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=1e-4, atol=1e-3 * wanted.abs().max().item())
    actual_grads = gradients(encoder, tokens, output.last_hidden_state, probe)
    expected_grads = gradients(encoder, tokens, expected, probe)
    for name, grad in expected_grads.items():
        scale = grad.abs().max().item()
        torch.testing.assert_close(actual_grads[name], grad, rtol=1e-3, atol=1e-4 * scale, msg=name)
