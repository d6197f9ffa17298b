"""Inference-only fast paths: may buffers be reused in place, and projections through oneDNN on CPU.

PyTorch's CPU `F.linear` runs MKL's sgemm; oneDNN (bundled with PyTorch, kernels chosen by
instruction set) was measured 10-40 % faster on the mixer's skinny projections (22k x 384 -> 44
or 192) on an AVX-512 AMD EPYC (`benchmarks/README.md`). Same float32 arithmetic, summed in
another order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def inference_only(*tensors: Tensor | None) -> bool:
    """Whether nothing here is recorded for autograd or traced (so buffers may be reused in place)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
        return False
    return not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors))


def inference_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)`, through oneDNN for contiguous float32 CPU tensors without autograd."""
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if (
        ONEDNN_LINEAR
        and x.device.type == "cpu"
        and all(t.dtype == torch.float32 and t.is_contiguous() for t in tensors)
        and inference_only(*tensors)
    ):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def apply_linear(module: nn.Module, x: Tensor, scale: float = 1.0) -> Tensor:
    """`scale * module(x)`; a plain `nn.Linear` without hooks goes through `inference_linear` with
    its weight and bias scaled (the same numbers when `scale` is a power of two).

    Wrapped or hooked projections (LoRA adapters, quantised layers, forward hooks) are called as
    modules, so they keep working.
    """
    if type(module) is nn.Linear and not (module._forward_hooks or module._forward_pre_hooks):
        if scale == 1.0:
            return inference_linear(x, module.weight, module.bias)
        bias = None if module.bias is None else module.bias * scale
        return inference_linear(x, module.weight * scale, bias)
    out = module(x)
    return out if scale == 1.0 else out * scale
