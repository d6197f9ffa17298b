"""`selective_scan`: one entry point over the available backends, never switching silently.

Backends: "cpu" (fused C++ kernel with a hand-written backward, built on first use), "chunked"
(overflow-safe pure PyTorch), "reference" (readable loop), "export" (ONNX-exportable scan operator),
"cuda" (mamba_ssm's kernel, optional `cuda` extra) and any registered with `register_backend`. "auto"
picks by device: CUDA tensors -> "cuda" if mamba_ssm is installed, else "chunked" (pure PyTorch, ~3
sqrt(L) sequential steps) with a warning; CPU tensors -> "cpu" if the kernel builds, else "chunked" with
a warning that says why. The environment variable `SSAMBA_SCAN_BACKEND` forces a backend (a forced "cpu"
that cannot be built is an error). Each choice is logged once.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable

from torch import Tensor

from ssamba.ops._extension import ExtensionBuildError, load_extension
from ssamba.ops.scan_chunked import selective_scan_chunked
from ssamba.ops.scan_cpu import selective_scan_cpu
from ssamba.ops.scan_ref import selective_scan_ref

logger = logging.getLogger(__name__)

ScanFn = Callable[..., Tensor]
ENV_VAR = "SSAMBA_SCAN_BACKEND"


def _export_scan(*args, **kwargs) -> Tensor:
    """The export backend, imported on first use (it pulls in torch's scan operator)."""
    from ssamba.ops.scan_export import selective_scan_export

    return selective_scan_export(*args, **kwargs)


_BACKENDS: dict[str, ScanFn] = {
    "cpu": selective_scan_cpu,
    "chunked": selective_scan_chunked,
    "reference": selective_scan_ref,
    "export": _export_scan,
}
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
    """Log the backend choice once; a fallback to a slower backend is a (one-time) warning."""
    key = f"{name}:{why}"
    if key in _announced:
        return
    _announced.add(key)
    if warn:
        warnings.warn(f"selective scan backend: {name} ({why})", RuntimeWarning, stacklevel=4)
    else:
        logger.info("selective scan backend: %s (%s)", name, why)


def resolve_backend_name(backend: str, is_cuda: bool) -> str:
    """The backend `backend` ("auto" or a name) means for CPU/CUDA inputs, honouring `SSAMBA_SCAN_BACKEND`.

    May build the fused CPU kernel (the first time "cpu" is chosen or considered).
    """
    forced = os.environ.get(ENV_VAR)
    if forced:
        backend = forced.strip()
    source = f"set by {ENV_VAR}" if forced else "requested"
    if backend == "cuda":
        if _mamba_ssm_scan() is None:
            raise RuntimeError("backend 'cuda' needs mamba_ssm; install it with: pip install 'ssamba[cuda]'")
        _announce("cuda", source)
        return "cuda"
    if backend != "auto":
        if backend not in _BACKENDS:
            choices = sorted([*_BACKENDS, "cuda", "auto"])
            raise ValueError(f"unknown selective scan backend {backend!r}; choose from {choices}")
        if _BACKENDS[backend] is selective_scan_cpu:
            try:
                load_extension()
            except ExtensionBuildError as exc:
                raise RuntimeError(f"selective scan backend 'cpu' was {source}, but {exc}") from exc
        _announce(backend, source)
        return backend
    if is_cuda:
        if _mamba_ssm_scan() is not None:
            _announce("cuda", "auto: CUDA tensors and mamba_ssm installed")
            return "cuda"
        _announce(
            "chunked",
            "auto: CUDA tensors but mamba_ssm is not installed; using the pure-PyTorch chunked scan "
            "(slower than mamba_ssm's kernel: pip install 'ssamba[cuda]')",
            warn=True,
        )
        return "chunked"
    try:
        load_extension()
    except ExtensionBuildError as exc:
        _announce(
            "chunked",
            f"auto: {exc.summary}; using the slower pure-PyTorch chunked scan instead. Fix the C++ "
            f"toolchain (a C++17 compiler with OpenMP, and ninja) or set {ENV_VAR}=chunked",
            warn=True,
        )
        return "chunked"
    _announce("cpu", "auto: CPU tensors, fused kernel")
    return "cpu"


def resolve_backend(backend: str, is_cuda: bool) -> ScanFn:
    """The scan function for `backend` ("auto" or a name), honouring `SSAMBA_SCAN_BACKEND`."""
    name = resolve_backend_name(backend, is_cuda)
    if name == "cuda":
        fn = _mamba_ssm_scan()
        assert fn is not None  # checked by resolve_backend_name
        return fn
    return _BACKENDS[name]


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
