"""`selective_scan`: one entry point over the available backends, never switching silently.

Backends: "reference" (readable loop), "cuda" (mamba_ssm's kernel, optional `cuda` extra) and
any registered by other modules (the fused CPU kernel). "auto" picks by device; the environment
variable `SSAMBA_SCAN_BACKEND` forces one. The backend in use is logged once per choice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from torch import Tensor

from ssamba.ops.scan_ref import selective_scan_ref

logger = logging.getLogger(__name__)

ScanFn = Callable[..., Tensor]
ENV_VAR = "SSAMBA_SCAN_BACKEND"

_BACKENDS: dict[str, ScanFn] = {"reference": selective_scan_ref}
_announced: set[str] = set()


def register_backend(name: str, fn: ScanFn) -> None:
    """Make `fn` (same signature as `selective_scan_ref`) selectable as `backend=name`."""
    _BACKENDS[name] = fn


def _mamba_ssm_scan() -> ScanFn | None:
    """mamba_ssm's CUDA selective scan adapted to our `reverse` flag, or None if not importable."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None

    def scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, reverse=False):
        if not reverse:
            return selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        flip = [t.flip(-1) if t is not None else None for t in (u, delta, B, C, z)]
        out = selective_scan_fn(flip[0], flip[1], A, flip[2], flip[3], D, flip[4], delta_bias, delta_softplus)
        return out.flip(-1)

    return scan


def _announce(name: str, why: str, warn: bool = False) -> None:
    key = f"{name}:{why}"
    if key not in _announced:
        _announced.add(key)
        (logger.warning if warn else logger.info)("selective scan backend: %s (%s)", name, why)


def resolve_backend(backend: str, is_cuda: bool) -> ScanFn:
    """The scan function for `backend` ("auto" or a name), honouring `SSAMBA_SCAN_BACKEND`."""
    forced = os.environ.get(ENV_VAR)
    if forced:
        backend = forced
    if backend == "cuda":
        fn = _mamba_ssm_scan()
        if fn is None:
            raise RuntimeError("backend 'cuda' needs mamba_ssm; install it with: pip install 'ssamba[cuda]'")
        _announce("cuda", "requested")
        return fn
    if backend != "auto":
        if backend not in _BACKENDS:
            raise ValueError(
                f"unknown selective scan backend {backend!r}; choose from "
                f"{sorted([*_BACKENDS, 'cuda', 'auto'])}"
            )
        _announce(backend, f"set by {ENV_VAR}" if forced else "requested")
        return _BACKENDS[backend]
    if is_cuda:
        fn = _mamba_ssm_scan()
        if fn is not None:
            _announce("cuda", "auto: CUDA tensors and mamba_ssm installed")
            return fn
        _announce("reference", "auto: CUDA tensors but mamba_ssm is not installed", warn=True)
        return selective_scan_ref
    cpu = _BACKENDS.get("cpu")
    if cpu is not None:
        _announce("cpu", "auto: CPU tensors")
        return cpu
    _announce("reference", "auto: no fused CPU kernel available", warn=True)
    return selective_scan_ref


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    reverse: bool = False,
    backend: str = "auto",
) -> Tensor:
    """Selective scan with mamba_ssm's layouts (u/delta/z (B, D, L), B/C (B, N, L), A (D, N)).

    See `selective_scan_ref` for the math; `reverse=True` scans from the end of the sequence.
    """
    fn = resolve_backend(backend, u.is_cuda)
    return fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
