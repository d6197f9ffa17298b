"""Benchmark outputs: results.json / results.csv, machine.json, results.md with ratios, PNG figures."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MIB = 2**20


def write_records(records: list[dict[str, Any]], out: Path) -> None:
    """`results.json` (a list of records) and `results.csv` (one row per record, same order)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    columns = list(dict.fromkeys(key for record in records for key in record))
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(records)


def write_json(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _size(model: str) -> str:
    return model.split("_", 1)[1]


def ratios(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """SSAMBA / SSAST time and memory per (size, tokens, batch, attn) where SSAMBA ran ok.

    Models are paired by size (ssamba_tiny with ssast_tiny); `attn` is SSAST's attention. A ratio
    is None when SSAST did not run ok at that point (its status is kept).
    """
    records = list(records)
    ssamba = {
        (_size(r["model"]), r["tokens"], r["batch"], r["device"], r["dtype"]): r
        for r in records
        if r["model"].startswith("ssamba_") and r["status"] == "ok"
    }
    rows = []
    for ast in records:
        if not ast["model"].startswith("ssast_"):
            continue
        mamba = ssamba.get((_size(ast["model"]), ast["tokens"], ast["batch"], ast["device"], ast["dtype"]))
        if mamba is None:
            continue
        ok = ast["status"] == "ok"
        rows.append(
            {
                "size": _size(ast["model"]),
                "tokens": ast["tokens"],
                "batch": ast["batch"],
                "attn": ast["attn"],
                "ssast_status": ast["status"],
                "time_ratio": mamba["latency_s_median"] / ast["latency_s_median"] if ok else None,
                "mem_ratio": mamba["peak_mem_bytes"] / ast["peak_mem_bytes"] if ok else None,
            }
        )
    return sorted(rows, key=lambda r: (r["size"], r["attn"], r["batch"], r["tokens"]))


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def markdown(records: list[dict[str, Any]], machine: dict[str, Any], command: str) -> str:
    """results.md: how to regenerate, the machine, every record, then the SSAMBA / SSAST ratios."""
    lines = [
        "# Inference efficiency: SSAMBA vs SSAST",
        "",
        "Command of this run (with `--resume`, points already in the directory were kept; each record "
        f"lists its own number of timed `runs`):\n\n```\n{command}\n```",
        "",
        f"Machine: {machine['device_name']} ({machine['device']}), {machine['cores_usable']} usable cores, "
        f"torch {machine['torch']}, {machine['torch_threads']} threads, avx512f={machine['avx512f']}, "
        f"malloc={machine.get('malloc', 'default')}.",
        "Tokens are stride-16 patch tokens (frames = 2 x tokens, 128 mel bins). Latency: median and min of "
        "the timed forwards under `torch.inference_mode`. Memory over the same forwards: CUDA "
        "`max_memory_allocated`, or on CPU the peak resident memory above the level before them plus "
        "the bytes of weights and input (which the CUDA figure also includes). Disturbed runs: runs "
        "during which other processes used more than 5 % of the CPUs.",
        "",
        "| model | attn | batch | tokens | frames | status | median s | min s | peak MiB | tokens/s "
        "| scan | disturbed runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        mem = None if r["peak_mem_bytes"] is None else r["peak_mem_bytes"] / MIB
        lines.append(
            _row(
                r["model"], r["attn"], r["batch"], r["tokens"], r["frames"], r["status"],
                _fmt(r["latency_s_median"], ".4f"), _fmt(r["latency_s_min"], ".4f"), _fmt(mem, ".1f"),
                _fmt(r["throughput_tokens_s"], ".0f"), r["scan_backend"] or "-", r.get("disturbed_runs", "-"),
            )
        )  # fmt: skip
    lines += [
        "",
        "## SSAMBA / SSAST",
        "",
        "Ratios of medians and of peak memory (below 1: SSAMBA is faster / smaller).",
        "",
        "| size | attn (SSAST) | batch | tokens | time ratio | memory ratio | SSAST status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ratios(records):
        lines.append(
            _row(
                row["size"], row["attn"], row["batch"], row["tokens"], _fmt(row["time_ratio"], ".3f"),
                _fmt(row["mem_ratio"], ".3f"), row["ssast_status"],
            )
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """time_b{B}.png and memory_b{B}.png per batch size: one curve per model/attention, log scales."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'ssamba[plot]'): no figures written")
        return []
    ok = [r for r in records if r["status"] == "ok"]
    paths = []
    for batch in sorted({r["batch"] for r in ok}):
        series: dict[str, list[dict[str, Any]]] = {}
        for r in ok:
            if r["batch"] == batch:
                label = r["model"] if r["attn"] == "-" else f"{r['model']} ({r['attn']})"
                series.setdefault(label, []).append(r)
        for key, ylabel, scale, name in (
            ("latency_s_median", "inference time (s)", 1.0, "time"),
            ("peak_mem_bytes", "peak memory (MiB)", 1 / MIB, "memory"),
        ):
            fig, ax = plt.subplots(figsize=(6, 4))
            for label, rows in sorted(series.items()):
                rows = sorted(rows, key=lambda r: r["tokens"])
                ax.plot([r["tokens"] for r in rows], [r[key] * scale for r in rows], marker="o", label=label)
            ax.set(xscale="log", yscale="log", xlabel="input tokens (stride 16)", ylabel=ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]}, batch {batch}, {ok[0]['device']} {ok[0]['dtype']}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            path = out / f"{name}_b{batch}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            paths.append(path)
    return paths


def write_report(records: list[dict[str, Any]], machine: dict[str, Any], command: str, out: Path) -> None:
    """Every output file of a finished (or interrupted) sweep."""
    write_records(records, out)
    write_json(machine, out / "machine.json")
    write_json(ratios(records), out / "ratios.json")
    (out / "results.md").write_text(markdown(records, machine, command), encoding="utf-8")
    plot(records, out)
