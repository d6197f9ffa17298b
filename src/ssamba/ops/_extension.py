"""Lazy, cached build of the fused CPU kernels in `csrc/` with `torch.utils.cpp_extension.load`.

Nothing compiles at import. The first `load_extension()` builds into
`<cache>/extensions/<key>` (cache: `$SSAMBA_CACHE`, else `$XDG_CACHE_HOME/ssamba`, else
`~/.cache/ssamba`). The key hashes the sources, the torch and Python versions, the flags, the
compiler and the CPU: the build uses `-march=native` (see `cflags`), so a binary is only reused
where it can run.
Concurrent processes (DDP ranks, test workers) serialise on an `flock` in that directory: one
builds, the others then load its result. A failed build is remembered for the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("scan.cpp", "conv.cpp", "bindings.cpp")
HEADERS = ("kernels.h", "simd.h")
LDFLAGS = ("-fopenmp",)
MARCH_ENV = "SSAMBA_CPU_MARCH"

_ops: Any = None
_error: ExtensionBuildError | None = None
_lock = threading.Lock()


class ExtensionBuildError(RuntimeError):
    """The fused kernels could not be compiled or loaded; `summary` is a one-line reason."""

    def __init__(self, summary: str, details: str) -> None:
        super().__init__(f"{summary}\n{details}" if details else summary)
        self.summary = summary


def cache_dir() -> Path:
    """Root of ssamba's cache (the same as the CLI's `SSAMBA_CACHE`)."""
    if os.environ.get("SSAMBA_CACHE"):
        return Path(os.environ["SSAMBA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssamba"


def cflags() -> tuple[str, ...]:
    """Compiler flags: -march from `$SSAMBA_CPU_MARCH` (default "native"; e.g. "x86-64-v3" for a
    cache shared by machines with different CPUs)."""
    return ("-O3", f"-march={os.environ.get(MARCH_ENV) or 'native'}", "-fopenmp")


def _compiler_id() -> str:
    compiler = os.environ.get("CXX", "c++")
    try:
        result = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return f"{compiler}: unavailable"
    return f"{compiler}: {result.stdout.splitlines()[0] if result.stdout else 'unknown'}"


def _cpu_id() -> str:
    """The CPU's model and feature flags, which decide what -march=native emits."""
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        fields = {"model name", "flags", "Features"}
        keep = [ln for ln in info.splitlines() if ln.split(":")[0].strip() in fields]
        return "\n".join(sorted(set(keep)))
    return f"{platform.machine()} {platform.processor()}"


def build_key() -> str:
    """Hash of everything the compiled module depends on."""
    digest = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        digest.update(name.encode() + b"\0" + (CSRC / name).read_bytes())
    for part in (torch.__version__, sys.version, " ".join(cflags() + LDFLAGS), _compiler_id(), _cpu_id()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Exclusive inter-process lock on `directory` (released by the OS even if the holder dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: torch's own lock file is all we have
        yield
        return
    with open(directory / "ssamba.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _summarize(message: str) -> str:
    """The first compiler error line of a failed build log (or its first line)."""
    for line in message.splitlines():
        if re.search(r"\berror\b", line, re.IGNORECASE) and "Error building extension" not in line:
            return line.strip()[:300]
    return (message.strip().splitlines() or ["unknown error"])[0][:300]


def _build() -> None:
    from torch.utils import cpp_extension

    key = build_key()
    directory = cache_dir() / "extensions" / key
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        # Inside our lock nobody else builds here, so torch's lock file can only be stale
        # (left by a killed build), and would make torch wait forever.
        (directory / "lock").unlink(missing_ok=True)
        cpp_extension.load(
            name=f"ssamba_cpu_ops_{key}",
            sources=[str(CSRC / name) for name in SOURCES],
            extra_cflags=list(cflags()),
            extra_ldflags=list(LDFLAGS),
            build_directory=str(directory),
            is_python_module=False,  # registers the operators in torch.ops.ssamba_cpu
            verbose=False,
        )


def load_extension() -> Any:
    """The kernels' operator namespace (`torch.ops.ssamba_cpu`), built on first use.

    Raises `ExtensionBuildError` (every time, once it has failed) if they can't be built.
    """
    global _ops, _error
    if _ops is not None:
        return _ops
    with _lock:
        if _ops is not None:
            return _ops
        if _error is not None:
            raise _error
        try:
            _build()
            _ops = torch.ops.ssamba_cpu
        except Exception as exc:  # compiler, ninja, linker or import failure: all mean "no fused kernels"
            summary = f"building the fused CPU kernels failed: {_summarize(str(exc))}"
            _error = ExtensionBuildError(summary, str(exc))
            raise _error from exc
        return _ops
