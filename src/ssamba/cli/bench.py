"""`ssamba bench`: the SSAMBA vs SSAST inference efficiency sweep (time and peak memory vs tokens)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from ssamba.cli.arg_types import csv_of, non_negative_int, positive_float, positive_int
from ssamba.errors import ConfigError

# Options the sweep itself sets per point; overriding them would mislabel the points.
_RESERVED = {"patch_stride", "input_tdim", "attn_impl", "num_classes"}


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` model options (values parsed as YAML scalars: `depth=2`, `norm=rmsnorm`)."""
    import yaml

    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        if key in _RESERVED:
            raise ConfigError(f"--set {key} is chosen by the benchmark per point; it cannot be overridden")
        result[key] = yaml.safe_load(value)
    return result


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return name


def command_line(config: Any, out: Path, threads: int) -> str:
    """The explicit `ssamba bench` command that reproduces `config` into `out`."""

    def joined(values: tuple) -> str:
        return ",".join(str(v) for v in values)

    words = ["ssamba", "bench", "--models", joined(config.models), "--tokens", joined(config.tokens)]
    words += ["--batch", joined(config.batches), "--attn", joined(config.attns), "--device", config.device]
    words += ["--dtype", config.dtype, "--repeats", str(config.repeats), "--warmup", str(config.warmup)]
    words += ["--retries", str(config.retries), "--malloc", config.malloc]
    words += ["--time-budget", f"{config.time_budget_s:g}", "--threads", str(threads), "--out", str(out)]
    for key, value in config.overrides.items():
        words += ["--set", f"{key}={value}"]
    return shlex.join(words)


def _previous(out: Path) -> dict[tuple, dict[str, Any]]:
    """Records of an earlier run into `out`, by point, for `--resume`."""
    import json

    from ssamba.bench.efficiency import record_key

    path = out / "results.json"
    if not path.exists():
        return {}
    return {record_key(record): record for record in json.loads(path.read_text(encoding="utf-8"))}


def _config(args: argparse.Namespace) -> Any:
    """The `BenchConfig` of the command line: the preset, then the options given explicitly."""
    from ssamba.bench.efficiency import BenchConfig, with_preset
    from ssamba.models import list_models

    config = with_preset(
        BenchConfig(),
        args.preset,
        models=args.models,
        tokens=args.tokens,
        batches=args.batch,
        attns=args.attn,
        dtype=args.dtype,
        repeats=args.repeats,
        warmup=args.warmup,
        retries=args.retries,
        time_budget_s=args.time_budget,
        malloc=args.malloc,
        device=_device(args.device),
        overrides=_overrides(args.set),
    )
    unknown = sorted(set(config.models) - set(list_models()))
    if unknown:
        raise ConfigError(f"unknown model(s) {unknown}; available: {', '.join(list_models())}")
    return config


def _run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ssamba.bench.efficiency import base_record, iter_series, record_key, run_series
    from ssamba.bench.machine import machine_info
    from ssamba.bench.report import write_records, write_report
    from ssamba.ops import keep_large_allocations_in_heap

    config = _config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    heap = config.device == "cpu" and config.malloc == "heap" and keep_large_allocations_in_heap()
    out = Path(args.out)
    series = list(iter_series(config))
    previous = _previous(out) if args.resume else {}
    planned = {record_key(base_record(point, config)) for points in series for point in points}
    # Points of an earlier run that this one does not plan are kept in the outputs.
    records: list[dict[str, Any]] = [r for key, r in previous.items() if key not in planned]
    with tqdm(total=sum(map(len, series)), desc="bench", unit="point") as bar:

        def on_record(record: dict[str, Any]) -> None:
            records.append(record)
            write_records(records, out)
            median = record["latency_s_median"]
            shown = "-" if median is None else f"{median:.4f} s"
            bar.write(f"{record['model']} {record['attn']} b{record['batch']} {record['tokens']} tokens: "
                      f"{record['status']} {shown}")  # fmt: skip
            bar.update(1)

        for points in series:
            run_series(points, config, on_record, previous)
    command = command_line(config, out, torch.get_num_threads()) + (" --resume" if args.resume else "")
    machine = {**machine_info(config.device), "malloc": "heap" if heap else "default"}
    write_report(records, machine, command, out)
    print(f"wrote {out}/results.{{csv,json,md}}, machine.json, ratios.json and figures")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ssamba bench` to the top-level parser."""
    parser = subparsers.add_parser(
        "bench",
        help="SSAMBA vs SSAST inference time and peak memory against input tokens",
        description="Sweep input sizes (stride-16 patch tokens, frames = 2 x tokens) and record median/min "
        "inference latency and peak memory per model, batch and attention implementation. Options "
        "left out take the preset's value (--preset paper: the paper's protocol, spec 4.3), else "
        "the defaults shown.",
    )
    parser.add_argument("--preset", choices=["paper"], help="the paper's protocol (spec 4.3)")
    parser.add_argument("--models", type=csv_of(str), help="comma-separated (default ssamba_tiny,ssast_tiny)")
    parser.add_argument(
        "--tokens", type=csv_of(positive_int), help="patch tokens, multiples of 8 (default 512..22000)"
    )
    parser.add_argument("--batch", type=csv_of(positive_int), help="batch sizes (default 1)")
    parser.add_argument("--attn", type=csv_of(str), help="SSAST attention: sdpa,eager (default both)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], help="default fp32")
    parser.add_argument("--repeats", type=positive_int, help="timed runs per point (default 5)")
    parser.add_argument("--warmup", type=non_negative_int, help="untimed runs per point (default 1)")
    parser.add_argument(
        "--retries", type=non_negative_int, help="extra runs to replace disturbed ones (default 3)"
    )
    parser.add_argument("--time-budget", type=positive_float, help="max seconds per point (default 600)")
    parser.add_argument(
        "--threads", type=positive_int, help="torch intra-op threads (default: torch's choice)"
    )
    parser.add_argument(
        "--malloc",
        choices=["heap", "default"],
        help="CPU: 'heap' (default) keeps large tensors in glibc's heap for the whole sweep, both models "
        "(no page faults on fresh buffers); 'default' leaves glibc's mmap threshold alone",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model option")
    parser.add_argument("--resume", action="store_true", help="reuse the points already in --out")
    parser.add_argument("--out", default="bench_results", help="output directory (default bench_results)")
    parser.set_defaults(handler=_run)
