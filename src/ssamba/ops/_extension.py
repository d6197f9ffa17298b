"""Lazy, cached build of the fused CPU kernels in `csrc/` with `torch.utils.cpp_extension.load`.

Nothing compiles at import. The first `load_extension()` builds into
`<cache>/extensions/<key>` (cache: `$SSAMBA_CACHE`, else `$XDG_CACHE_HOME/ssamba`, else
`~/.cache/ssamba`). The key hashes everything the build command depends on: the sources, the
flags, torch's version, install path, include and library paths and C++ ABI, the Python
interpreter and ABI, the compiler's path and version, and the CPU (the build uses
`-march=native`, see `cflags`). So virtualenvs sharing a cache each get their own entry, and a
binary is only reused where it can run.
A build runs in a fresh `<key>.*.tmp` folder that is renamed to `<key>` only once the module
has built and loaded: an entry is always complete, and a failed or interrupted build leaves
none (a later call builds again). An entry is loaded directly, without running ninja.
Concurrent processes (DDP ranks, test workers) serialise on an `flock` on `<key>.lock`: one
builds, the others then load its result. A failed build is remembered for the process, an
interrupted one (a signal reaching the compiler) is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
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
    """The C++ compiler torch will call (`$CXX`, else c++): its resolved path and version line."""
    compiler = os.environ.get("CXX", "c++")
    found = shutil.which(compiler)
    where = os.path.realpath(found) if found else "not on PATH"
    try:
        result = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return f"{compiler} ({where}): unavailable"
    return f"{compiler} ({where}): {result.stdout.splitlines()[0] if result.stdout else 'unknown'}"


def _torch_id() -> str:
    """Which torch the module is built against and links to: version, install path, include and
    library paths (absolute in the build command), C++ ABI."""
    from torch.utils import cpp_extension

    parts = [
        torch.__version__,
        str(Path(torch.__file__).resolve().parent),
        *cpp_extension.include_paths(),
        *cpp_extension.library_paths(),
        f"cxx11_abi={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
    ]
    return "\n".join(parts)


def _python_id() -> str:
    """The interpreter (its include folder is in the build command) and its ABI."""
    return "\n".join(
        [
            sys.version,
            os.path.realpath(sys.executable),
            sysconfig.get_paths()["include"],
            str(sysconfig.get_config_var("EXT_SUFFIX")),
        ]
    )


def _cpu_id() -> str:
    """The CPU's model and feature flags, which decide what -march=native emits."""
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        fields = {"model name", "flags", "Features"}
        keep = [ln for ln in info.splitlines() if ln.split(":")[0].strip() in fields]
        return "\n".join(sorted(set(keep)))
    return f"{platform.machine()} {platform.processor()}"


def build_key() -> str:
    """Hash of everything the compiled module and its build command depend on."""
    digest = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        digest.update(name.encode() + b"\0" + (CSRC / name).read_bytes())
    for part in (" ".join(cflags() + LDFLAGS), _torch_id(), _python_id(), _compiler_id(), _cpu_id()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on the file `path` (released by the OS even if the holder dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: torch's own lock file is all we have
        yield
        return
    with open(path, "w") as handle:
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
    """Load the cached module for this build key, building (and caching) it first if needed."""
    from torch.utils import cpp_extension

    key = build_key()
    root = cache_dir() / "extensions"
    final = root / key
    name = f"ssamba_cpu_ops_{key}"
    library = final / f"{name}{cpp_extension.LIB_EXT}"
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        if library.is_file():
            try:
                torch.ops.load_library(str(library))
                return
            except OSError:  # a damaged entry (e.g. by a disk error) is built again
                pass
        # Inside our lock nobody else builds this key: an entry without a loadable module (or an
        # older ssamba's build folder) and any staging folder are left by dead or older builds.
        shutil.rmtree(final, ignore_errors=True)
        for stale in root.glob(f"{key}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=root))
        try:
            built = cpp_extension.load(
                name=name,
                sources=[str(CSRC / source) for source in SOURCES],
                extra_cflags=list(cflags()),
                extra_ldflags=list(LDFLAGS),
                build_directory=str(staging),
                is_python_module=False,  # registers the operators in torch.ops.ssamba_cpu
                verbose=False,
            )
            os.replace(built, staging / library.name)  # torch names a rebuild in one process `<name>_v1`
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _interrupted(exc: BaseException) -> bool:
    """True when the build failed because ninja or the compiler was stopped by a signal."""
    cause = exc.__cause__
    if not isinstance(cause, subprocess.CalledProcessError):
        return False
    output = cause.output if isinstance(cause.output, bytes) else str(cause.output or "").encode()
    return cause.returncode < 0 or b"interrupted by user" in output


def load_extension() -> Any:
    """The kernels' operator namespace (`torch.ops.ssamba_cpu`), built on first use.

    Raises `ExtensionBuildError` if they can't be built: every time once a build has failed, but
    an interrupted build (a signal reaching ninja) is retried by the next call.
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
            error = ExtensionBuildError(summary, str(exc))
            if not _interrupted(exc):
                _error = error
            raise error from exc
        return _ops
