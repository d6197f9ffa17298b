"""Front-end throughput on FSDD: audio loading + soxr resampling, then Kaldi fbank, timed apart.

Usage: python benchmarks/feature_throughput.py [--limit N] [--threads T] [--fsdd-dir DIR]
Writes benchmarks/results/feature_throughput.{json,md} and prints clips/s and real-time factors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from ssamba.audio import load_audio
from ssamba.features import kaldi_fbank

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = REPO_ROOT.parent / "shared" / "datasets" / "fsdd"
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
SAMPLE_RATE = 16000


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (or the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """What the numbers depend on: CPU, usable cores, library versions, thread count."""
    return {
        "cpu": cpu_model(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cores_total": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other work sharing the CPU
    }


def stage(seconds: float, clips: int, audio_seconds: float) -> dict[str, float]:
    """Throughput figures of one timed stage."""
    return {
        "seconds": round(seconds, 4),
        "clips_per_s": round(clips / seconds, 1),
        "real_time_factor": round(seconds / audio_seconds, 6),
        "x_real_time": round(audio_seconds / seconds, 1),
    }


def run(files: list[Path]) -> dict[str, object]:
    """Time loading (decode + 8 -> 16 kHz soxr HQ) and fbank (SSAST preset) over `files`."""
    start = time.perf_counter()
    waves = [load_audio(path, sample_rate=SAMPLE_RATE) for path in files]
    load_s = time.perf_counter() - start
    audio_seconds = sum(len(w) for w in waves) / SAMPLE_RATE
    kaldi_fbank(waves[0] - waves[0].mean())  # build the cached window and mel banks
    start = time.perf_counter()
    frames = sum(kaldi_fbank(w - w.mean()).shape[0] for w in waves)
    fbank_s = time.perf_counter() - start
    return {
        "clips": len(files),
        "audio_seconds": round(audio_seconds, 2),
        "fbank_frames": frames,
        "load_resample": stage(load_s, len(files), audio_seconds),
        "fbank": stage(fbank_s, len(files), audio_seconds),
        "total": stage(load_s + fbank_s, len(files), audio_seconds),
    }


def markdown(result: dict, info: dict) -> str:
    """The results as a short Markdown report."""
    lines = [
        "# Feature front-end throughput (FSDD)",
        "",
        f"{result['clips']} clips, {result['audio_seconds']} s of audio (8 kHz WAV, resampled to 16 kHz "
        "with soxr HQ), fbank = SSAST preset (128 bins, 25/10 ms, hanning), one clip at a time.",
        "",
        "| stage | seconds | clips/s | real-time factor | x real time |",
        "|---|---|---|---|---|",
    ]
    for name in ("load_resample", "fbank", "total"):
        s = result[name]
        lines.append(
            f"| {name} | {s['seconds']} | {s['clips_per_s']} | {s['real_time_factor']} | {s['x_real_time']} |"
        )
    lines += ["", "Machine:", ""] + [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd-dir", type=Path, default=DEFAULT_FSDD)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    files = sorted((args.fsdd_dir / "recordings").glob("*.wav"))[: args.limit]
    if not files:
        parser.error(f"no .wav files under {args.fsdd_dir / 'recordings'}")
    info = machine()
    result = run(files)
    for name in ("load_resample", "fbank", "total"):
        s = result[name]
        print(f"{name:14s} {s['clips_per_s']:9.1f} clips/s   {s['x_real_time']:8.1f}x real time")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "feature_throughput.json").write_text(
        json.dumps({"result": result, "machine": info}, indent=2) + "\n"
    )
    (args.out_dir / "feature_throughput.md").write_text(markdown(result, info))


if __name__ == "__main__":
    main()
