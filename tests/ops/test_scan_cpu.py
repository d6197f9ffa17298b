"""The fused CPU kernels against the reference implementations, forward and backward."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scan_helpers import assert_rel_close, random_scan_inputs

from ssamba.ops import _extension
from ssamba.ops.mamba_branch import conv1d_silu_ref
from ssamba.ops.scan_cpu import conv1d_silu, selective_scan_bld, selective_scan_cpu
from ssamba.ops.scan_ref import selective_scan_ref

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
# (batch, channels, states, length): channel counts that are not multiples of 16 exercise the
# masked tail block, 16 states the register path, other state counts the generic one.
SHAPES = [
    (1, 24, 16, 1),
    (3, 24, 4, 2),
    (1, 40, 1, 17),
    (3, 40, 16, 130),
    (1, 16, 4, 255),
]
# (batch, length, channels, width); lengths past 64 span several forward work items
CONV_SHAPES = [(2, 1, 24, 4), (3, 37, 40, 4), (1, 20, 16, 3), (2, 200, 24, 4), (1, 130, 16, 3)]
# (D, z, delta_bias, softplus) present or not
OPTIONS = [
    (True, True, True, True),
    (False, False, False, False),
    (True, False, True, False),
    (False, True, False, True),
]


def scan_args(inputs: dict, options: tuple[bool, bool, bool, bool]) -> tuple[dict, bool]:
    use_d, use_z, use_bias, softplus = options
    args = dict(inputs)
    for name, used in (("D", use_d), ("z", use_z), ("delta_bias", use_bias)):
        if not used:
            args[name] = None
    if not softplus:  # keep the steps positive, so the states decay instead of blowing up
        args["delta"] = F.softplus(args["delta"])
        if use_bias:
            args["delta_bias"] = args["delta_bias"].abs()
    return args, softplus


def grads_of(fn, args: dict, grad_out: torch.Tensor, **kwargs) -> tuple[torch.Tensor, dict]:
    leaves = {k: v.clone().requires_grad_() for k, v in args.items() if v is not None}
    out = fn(**{**args, **leaves}, **kwargs)
    out.backward(grad_out)
    return out.detach(), {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_and_backward_match_reference(cpu_ops, shape, reverse):
    for i, options in enumerate(OPTIONS):
        args, softplus = scan_args(random_scan_inputs(*shape, seed=i), options)
        grad_out = torch.randn(shape[0], shape[1], shape[3])
        kw = {"delta_softplus": softplus, "reverse": reverse}
        ref, ref_grads = grads_of(selective_scan_ref, args, grad_out, **kw)
        out, grads = grads_of(selective_scan_cpu, args, grad_out, **kw)
        assert_rel_close(out, ref, 2e-5, f"out {options}")
        assert grads.keys() == ref_grads.keys()
        for name, g in grads.items():
            assert_rel_close(g, ref_grads[name], 5e-5, f"grad {name} {options}")


@pytest.mark.parametrize("reverse", [False, True])
def test_long_sequence_matches_reference(cpu_ops, reverse):
    """Many checkpoint chunks, a partial last one, and a tail channel block."""
    args = random_scan_inputs(2, 40, 16, 1000, seed=7)
    grad_out = torch.randn(2, 40, 1000)
    ref, ref_grads = grads_of(selective_scan_ref, args, grad_out, delta_softplus=True, reverse=reverse)
    out, grads = grads_of(selective_scan_cpu, args, grad_out, delta_softplus=True, reverse=reverse)
    assert_rel_close(out, ref, 2e-5)
    for name in NAMES:
        assert_rel_close(grads[name], ref_grads[name], 5e-5, name)


def test_inference_forward_without_grad(cpu_ops):
    args = random_scan_inputs(2, 40, 16, 300)
    with torch.no_grad():
        out = selective_scan_cpu(**args, delta_softplus=True, reverse=True)
    assert_rel_close(out, selective_scan_ref(**args, delta_softplus=True, reverse=True), 2e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_inference_output_may_overwrite_delta_or_accumulate(cpu_ops, reverse):
    args = random_scan_inputs(2, 40, 16, 300, seed=5)
    expected = selective_scan_ref(**args, delta_softplus=True, reverse=reverse).transpose(1, 2)
    bld = {k: v.transpose(1, 2).contiguous() if v.dim() == 3 else v for k, v in args.items()}
    base = torch.randn(expected.shape)
    with torch.no_grad():
        delta = bld["delta"]
        out = selective_scan_bld(**bld, delta_softplus=True, reverse=reverse, out=delta)
        assert out.data_ptr() == delta.data_ptr()
        assert_rel_close(out, expected, 2e-5)
        bld["delta"] = args["delta"].transpose(1, 2).contiguous()
        summed = selective_scan_bld(
            **bld, delta_softplus=True, reverse=reverse, out=base.clone(), accumulate=True
        )
    assert_rel_close(summed, base + expected, 2e-5)


# Ranks around the kernel's register group of 12 weight vectors: below it, one group, a group plus
# a remainder, two groups (SSAMBA-base uses 48), and a remainder after two groups.
@pytest.mark.parametrize("rank", [1, 5, 12, 13, 24, 30])
@pytest.mark.parametrize("reverse", [False, True])
def test_inference_applies_the_low_rank_step_projection(cpu_ops, reverse, rank):
    args = random_scan_inputs(2, 40, 16, 150, seed=6)
    g = torch.Generator().manual_seed(rank)
    low = torch.randn(2, 150, rank, generator=g)
    proj = torch.randn(40, rank, generator=g) * (0.9 / rank**0.5)
    args["delta"] = (low.double() @ proj.double().T).float().transpose(1, 2)
    expected = selective_scan_ref(**args, delta_softplus=True, reverse=reverse).transpose(1, 2)
    bld = {k: v.transpose(1, 2).contiguous() if v.dim() == 3 else v for k, v in args.items()}
    wide = torch.randn(2, 150, rank + 4, generator=g)
    wide[..., 2 : 2 + rank] = low  # a strided view, as the mixer passes its x_proj output
    bld["delta"] = wide[..., 2 : 2 + rank]
    with torch.no_grad():
        out = selective_scan_bld(**bld, delta_softplus=True, reverse=reverse, delta_proj=proj)
        in_place = selective_scan_bld(
            **bld, delta_softplus=True, reverse=reverse, delta_proj=proj, out=bld["u"]
        )
    assert_rel_close(out, expected, 2e-5)
    assert in_place.data_ptr() == bld["u"].data_ptr()
    assert_rel_close(in_place, expected, 2e-5)


def test_output_buffer_refuses_autograd(cpu_ops):
    bld = {
        k: v.transpose(1, 2).contiguous() if v.dim() == 3 else v
        for k, v in random_scan_inputs(1, 16, 4, 10).items()
    }
    bld["u"].requires_grad_()
    with pytest.raises(ValueError, match="inference only"):
        selective_scan_bld(**bld, out=torch.zeros_like(bld["delta"]))
    with pytest.raises(ValueError, match="needs an `out`"):
        selective_scan_bld(**bld, accumulate=True)


def test_single_thread_matches_reference(cpu_ops):
    """One thread: one channel group, so grad_B/grad_C skip the partial-sum reduction."""
    args = random_scan_inputs(1, 40, 16, 200, seed=3)
    grad_out = torch.randn(1, 40, 200)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _, grads = grads_of(selective_scan_cpu, args, grad_out, delta_softplus=True)
    finally:
        torch.set_num_threads(threads)
    _, ref_grads = grads_of(selective_scan_ref, args, grad_out, delta_softplus=True)
    for name in NAMES:
        assert_rel_close(grads[name], ref_grads[name], 5e-5, name)


def test_huge_steps_decay_to_zero_without_nan(cpu_ops):
    """delta * |A| in the thousands: decays underflow to exactly 0, like the reference."""
    args = random_scan_inputs(1, 24, 16, 64)
    args["delta"] = args["delta"].abs() * 500
    grad_out = torch.randn(1, 24, 64)
    ref, ref_grads = grads_of(selective_scan_ref, args, grad_out, delta_softplus=True)
    out, grads = grads_of(selective_scan_cpu, args, grad_out, delta_softplus=True)
    assert_rel_close(out, ref, 2e-5)
    for name in NAMES:
        assert_rel_close(grads[name], ref_grads[name], 5e-5, name)


def test_float64_inputs_come_back_float64(cpu_ops):
    args = random_scan_inputs(1, 24, 4, 33, dtype=torch.float64)
    out = selective_scan_cpu(**args, delta_softplus=True)
    ref = selective_scan_ref(**args, delta_softplus=True)
    assert out.dtype == ref.dtype == torch.float64
    assert_rel_close(out, ref, 2e-5)


def test_token_major_entry_accepts_strided_views(cpu_ops):
    """mamba_branch's layout: x/z halves of one projection, B/C slices of another, no copies."""
    batch, length, dim, nstate, rank = 2, 70, 40, 16, 3
    ref_in = random_scan_inputs(batch, dim, nstate, length, seed=5)
    xz = torch.cat([ref_in["u"], ref_in["z"]], dim=1).transpose(1, 2).contiguous()  # (B, L, 2E)
    proj = torch.cat([torch.randn(batch, rank, length), ref_in["B"], ref_in["C"]], dim=1).transpose(1, 2)
    proj = proj.contiguous()  # (B, L, R + 2N)
    u, z = xz.chunk(2, dim=-1)
    _, b_t, c_t = proj.split([rank, nstate, nstate], dim=-1)
    assert not u.is_contiguous() and not b_t.is_contiguous()
    delta = ref_in["delta"].transpose(1, 2)
    A, D, bias = ref_in["A"], ref_in["D"], ref_in["delta_bias"]
    out = selective_scan_bld(u, delta, A, b_t, c_t, D, z, bias, delta_softplus=True, reverse=True)
    ref = selective_scan_ref(**ref_in, delta_softplus=True, reverse=True)
    assert_rel_close(out, ref.transpose(1, 2), 2e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("batch", "length", "channels", "width"), CONV_SHAPES)
def test_conv_silu_matches_reference(cpu_ops, batch, length, channels, width, reverse):
    x = torch.randn(batch, length, 2 * channels)[..., :channels]  # strided, like the mixer's x half
    weight, bias = torch.randn(channels, width), torch.randn(channels)
    grad_out = torch.randn(batch, length, channels)
    results = []
    for fn in (conv1d_silu, conv1d_silu_ref):
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        out = fn(*leaves, reverse=reverse)
        out.backward(grad_out)
        results.append([out.detach(), *(t.grad for t in leaves)])
    for name, got, want in zip(("out", "x", "weight", "bias"), *results, strict=True):
        assert_rel_close(got, want, 2e-6, name)


def test_conv_silu_without_bias(cpu_ops):
    x, weight = torch.randn(2, 9, 24), torch.randn(24, 4).requires_grad_()
    conv1d_silu(x, weight, None).sum().backward()
    expected = torch.autograd.grad(conv1d_silu_ref(x, weight, None).sum(), weight)[0]
    assert_rel_close(weight.grad, expected, 2e-6)


@pytest.mark.parametrize(
    ("which", "reference", "tol"),
    [
        ("exp", torch.exp, 3e-7),
        ("softplus", F.softplus, 3e-7),
        ("softplus_slope", torch.sigmoid, 3e-7),
        ("silu", F.silu, 5e-7),
    ],
)
def test_vectorised_functions_are_accurate(cpu_ops, which, reference, tol):
    x = torch.cat([torch.linspace(-87, 88, 100_003), torch.randn(1000) * 3, torch.tensor([0.0, -0.0])])
    if which != "exp":
        x = x.clamp(-60, 60)
    got = cpu_ops.elementwise(x, which).double()
    want = reference(x.double())
    rel = ((got - want).abs() / want.abs().clamp_min(1e-30)).max().item()
    assert rel < tol, f"{which}: max relative error {rel:.3g}"


def test_exp_underflows_to_zero_and_overflows_to_inf(cpu_ops):
    got = cpu_ops.elementwise(torch.tensor([-1e4, -200.0, 100.0, 1e4, float("nan")]), "exp")
    assert got[:2].eq(0).all() and torch.isinf(got[2:4]).all() and torch.isnan(got[4])


def test_importing_builds_nothing(tmp_path):
    code = textwrap.dedent(
        """
        import ssamba, ssamba.ops, ssamba.ops.mamba_branch, ssamba.models
        from ssamba.ops import _extension
        assert _extension._ops is None and _extension._error is None
        """
    )
    env = {**os.environ, "SSAMBA_CACHE": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert not any(tmp_path.iterdir())


def test_build_key_tracks_the_sources(tmp_path, monkeypatch):
    key = _extension.build_key()
    assert key == _extension.build_key()
    shutil.copytree(_extension.CSRC, tmp_path / "csrc")
    with open(tmp_path / "csrc" / "scan.cpp", "a") as handle:
        handle.write("\n// changed\n")
    monkeypatch.setattr(_extension, "CSRC", tmp_path / "csrc")
    assert _extension.build_key() != key


def test_build_errors_are_summarised_by_their_first_compiler_error():
    log = "Error building extension 'x': [1/3] c++ ... \nscan.cpp:12:3: error: 'foo' was not declared\nmore"
    assert _extension._summarize(log) == "scan.cpp:12:3: error: 'foo' was not declared"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_malloc_tuning_applies_on_glibc():
    code = "from ssamba.ops.malloc_tuning import keep_large_allocations_in_heap as keep; assert keep()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)  # own process: it's process-wide


@pytest.mark.slow
def test_concurrent_first_builds_share_one_cache(tmp_path):
    """Two processes building into an empty cache at once (like DDP ranks) both get working kernels."""
    code = textwrap.dedent(
        """
        import torch
        from ssamba.ops.scan_cpu import selective_scan_bld
        x = torch.randn(1, 8, 16)
        out = selective_scan_bld(x, x, -torch.ones(16, 4), torch.randn(1, 8, 4), torch.randn(1, 8, 4))
        assert torch.isfinite(out).all()
        """
    )
    env = {**os.environ, "SSAMBA_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(2)]
    assert [p.wait(timeout=900) for p in procs] == [0, 0]
    builds = [p for p in Path(tmp_path, "extensions").iterdir() if p.is_dir()]  # no staging folder left
    assert len(builds) == 1 and list(builds[0].glob("*.so"))


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an AVX2-only x86 build")
def test_portable_vector_path_matches_reference(tmp_path):
    """The non-AVX-512 code (generic vectors), built for AVX2 (x86-64-v3), in its own process."""
    code = textwrap.dedent(
        """
        import sys, torch
        sys.path.insert(0, sys.argv[1])
        from scan_helpers import assert_rel_close, random_scan_inputs
        from ssamba.ops._extension import load_extension
        from ssamba.ops.mamba_branch import conv1d_silu_ref
        from ssamba.ops.scan_cpu import conv1d_silu, selective_scan_cpu
        from ssamba.ops.scan_ref import selective_scan_ref
        assert load_extension().simd_target() == "portable"
        for nstate in (16, 4):
            args = random_scan_inputs(2, 40, nstate, 150)
            grads = []
            for fn in (selective_scan_cpu, selective_scan_ref):
                leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
                fn(**leaves, delta_softplus=True, reverse=True).square().sum().backward()
                grads.append({k: v.grad for k, v in leaves.items()})
            for name in args:
                assert_rel_close(grads[0][name], grads[1][name], 5e-5, name)
        x, w, b = torch.randn(2, 30, 40), torch.randn(40, 4), torch.randn(40)
        assert_rel_close(conv1d_silu(x, w, b, True), conv1d_silu_ref(x, w, b, True), 2e-6)
        exp = load_extension().elementwise(torch.tensor([-1e4, -200.0, 0.0, 1e4]), "exp")
        assert exp.tolist() == [0.0, 0.0, 1.0, float("inf")]
        """
    )
    env = {**os.environ, _extension.MARCH_ENV: "x86-64-v3"}
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], check=True, env=env, timeout=900)
