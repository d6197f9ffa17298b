"""`set_grad_checkpointing`: blocks are recomputed in the backward pass, gradients unchanged."""

from __future__ import annotations

import copy

import pytest
import torch

import ssamba


def _loss_and_grads(model: torch.nn.Module, fbank: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(5)  # stochastic depth draws the same paths in both models
    loss = model(fbank).square().sum()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["ssamba_tiny", "ssast_tiny"])
def test_checkpointed_blocks_run_twice_and_give_the_same_gradients(name):
    torch.manual_seed(0)
    plain = ssamba.create_model(name, num_classes=3, input_tdim=64, depth=4, drop_path_rate=0.3).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.set_grad_checkpointing()
    blocks = checkpointed.encoder.layers if name.startswith("ssamba") else checkpointed.encoder.blocks
    calls = []
    for block in blocks:
        block.register_forward_pre_hook(lambda *_: calls.append(1))
    fbank = torch.randn(2, 64, 128)

    loss, grads = _loss_and_grads(plain, fbank)
    loss_ckpt, grads_ckpt = _loss_and_grads(checkpointed, fbank)

    assert len(calls) == 2 * len(blocks)  # forward, then the recomputation in backward
    assert torch.equal(loss, loss_ckpt)
    for grad, grad_ckpt in zip(grads, grads_ckpt, strict=True):
        torch.testing.assert_close(grad_ckpt, grad, rtol=0, atol=0)


def test_no_recomputation_without_autograd():
    model = ssamba.create_model("ssamba_tiny", input_tdim=64, depth=2).eval()
    model.set_grad_checkpointing()
    calls = []
    model.encoder.layers[0].register_forward_pre_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model(torch.randn(1, 64, 128))
    assert len(calls) == 1
