"""What benchmark numbers depend on: CPU, cores, SIMD flags, library versions, accelerator."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch


def _cpuinfo() -> dict[str, str]:
    """The first processor's `model name` and `flags` from /proc/cpuinfo (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "flags") and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    return info


def machine_info(device: str) -> dict[str, Any]:
    """A JSON-ready description of this machine and of `device` ("cpu" or "cuda[:i]")."""
    cpuinfo = _cpuinfo()
    flags = set(cpuinfo.get("flags", "").split())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpuinfo.get("model name") or platform.processor() or "unknown",
        "cores_usable": usable,
        "cores_total": os.cpu_count(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "device_name": cpuinfo.get("model name", "cpu"),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info
