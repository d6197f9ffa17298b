"""The compiled-kernel cache: keyed by the whole build command, complete entries only, retried after
a failed or interrupted build. The compiler is replaced by a fake here (a real build takes ~30 s)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

from ssamba.ops import _extension

MODULE = b"\x7fELF fake module"


class FakeCompiler:
    """Stands in for `cpp_extension.load`: writes a build folder like torch's, then fails with
    `outcome`, or writes and loads the module."""

    def __init__(self) -> None:
        self.builds: list[Path] = []
        self.outcome: BaseException | None = None
        self.seconds = 0.0

    def __call__(self, name: str, build_directory: str, **_: object) -> str:
        folder = Path(build_directory)
        self.builds.append(folder)
        (folder / "build.ninja").write_text("include paths of this torch\n")
        (folder / "scan.o").write_bytes(b"half an object file")
        time.sleep(self.seconds)
        if self.outcome is not None:
            raise self.outcome
        library = folder / f"{name}{cpp_extension.LIB_EXT}"
        library.write_bytes(MODULE)
        torch.ops.load_library(str(library))  # as torch does, before the folder is renamed
        return str(library)


@pytest.fixture
def compiler(tmp_path, monkeypatch) -> FakeCompiler:
    """A fake compiler, an empty cache in `tmp_path` and a process that has loaded nothing yet."""
    fake = FakeCompiler()
    monkeypatch.setenv("SSAMBA_CACHE", str(tmp_path))
    monkeypatch.setattr(_extension, "_ops", None)
    monkeypatch.setattr(_extension, "_error", None)
    monkeypatch.setattr(cpp_extension, "load", fake)
    return fake


@pytest.fixture
def loaded(monkeypatch) -> list[Path]:
    """Paths given to `torch.ops.load_library` (a file that is not `MODULE` fails like a bad ELF)."""
    paths: list[Path] = []

    def load_library(path: str) -> None:
        if Path(path).read_bytes() != MODULE:
            raise OSError(f"{path}: invalid ELF header")
        paths.append(Path(path))

    monkeypatch.setattr(torch.ops, "load_library", load_library)
    return paths


def entries(cache: Path) -> list[str]:
    """Names in the extension cache folder, lock files left out."""
    return sorted(p.name for p in (cache / "extensions").iterdir() if p.suffix != ".lock")


def new_process(monkeypatch) -> None:
    """Forget what this process loaded or remembered, as a fresh process would."""
    monkeypatch.setattr(_extension, "_ops", None)
    monkeypatch.setattr(_extension, "_error", None)


def test_key_covers_torch_install_and_include_paths(monkeypatch):
    key = _extension.build_key()
    monkeypatch.setattr(cpp_extension, "include_paths", lambda *a, **k: ["/venv-a/torch/include"])
    venv_a = _extension.build_key()
    monkeypatch.setattr(cpp_extension, "include_paths", lambda *a, **k: ["/venv-b/torch/include"])
    venv_b = _extension.build_key()
    assert len({key, venv_a, venv_b}) == 3
    monkeypatch.setattr(torch, "__file__", "/venv-c/lib/python3/site-packages/torch/__init__.py")
    assert _extension.build_key() != venv_b
    assert _extension.build_key() == _extension.build_key()


@pytest.mark.parametrize(
    ("module", "name", "value"),
    [
        (sys, "executable", "/other-venv/bin/python"),
        (cpp_extension, "library_paths", lambda *a, **k: ["/other-venv/torch/lib"]),
    ],
    ids=["python", "torch_lib"],
)
def test_key_covers_python_and_torch_libraries(monkeypatch, module, name, value):
    key = _extension.build_key()
    monkeypatch.setattr(module, name, value)
    assert _extension.build_key() != key


def test_key_covers_the_compiler(monkeypatch):
    key = _extension.build_key()
    monkeypatch.setenv("CXX", "/opt/another-compiler/bin/g++")
    assert _extension.build_key() != key


def test_build_lands_complete_and_is_then_loaded_without_building(compiler, loaded, tmp_path, monkeypatch):
    _extension.load_extension()
    key = _extension.build_key()
    library = tmp_path / "extensions" / key / f"ssamba_cpu_ops_{key}{cpp_extension.LIB_EXT}"
    assert entries(tmp_path) == [key] and library.read_bytes() == MODULE
    assert len(compiler.builds) == 1 and compiler.builds[0].parent == tmp_path / "extensions"
    new_process(monkeypatch)
    _extension.load_extension()
    assert len(compiler.builds) == 1 and loaded[-1] == library and len(loaded) == 2


@pytest.mark.parametrize(
    "outcome",
    [
        RuntimeError("Error building extension 'ssamba_cpu_ops': scan.cpp:1: error: boom"),
        KeyboardInterrupt(),
    ],
    ids=["failed", "interrupted"],
)
def test_failed_or_interrupted_build_leaves_no_entry_and_is_retried(
    compiler, loaded, tmp_path, monkeypatch, outcome
):
    compiler.outcome = outcome
    with pytest.raises((_extension.ExtensionBuildError, KeyboardInterrupt)):
        _extension.load_extension()
    assert entries(tmp_path) == []  # neither an entry nor the half-built staging folder
    compiler.outcome = None
    new_process(monkeypatch)
    _extension.load_extension()
    assert len(compiler.builds) == 2 and entries(tmp_path) == [_extension.build_key()]


def test_signal_reaching_ninja_is_retried_in_the_same_process(compiler, loaded, tmp_path):
    """The run must not fall back to the slow scan for good because ninja got a Ctrl-C once."""
    output = b"ninja: build stopped: interrupted by user.\n"
    ninja = subprocess.CalledProcessError(2, ["ninja"], output=output)
    try:
        raise RuntimeError(f"Error building extension 'ssamba_cpu_ops': {ninja.output.decode()}") from ninja
    except RuntimeError as exc:
        compiler.outcome = exc
    with pytest.raises(_extension.ExtensionBuildError, match="interrupted"):
        _extension.load_extension()
    compiler.outcome = None
    _extension.load_extension()
    assert len(compiler.builds) == 2 and entries(tmp_path) == [_extension.build_key()]


def test_compile_error_is_remembered_for_the_process(compiler, loaded):
    compiler.outcome = RuntimeError("Error building extension: scan.cpp:1:1: error: boom")
    for _ in range(2):
        with pytest.raises(_extension.ExtensionBuildError, match="boom"):
            _extension.load_extension()
    assert len(compiler.builds) == 1


def test_damaged_or_partial_entries_are_rebuilt(compiler, loaded, tmp_path):
    key = _extension.build_key()
    root = tmp_path / "extensions"
    (root / key).mkdir(parents=True)
    (root / key / f"ssamba_cpu_ops_{key}{cpp_extension.LIB_EXT}").write_bytes(b"truncated")
    (root / f"{key}.12345.tmp").mkdir()  # staging folder of a killed build
    _extension.load_extension()
    assert len(compiler.builds) == 1 and entries(tmp_path) == [key] and len(loaded) == 1
    assert (root / key / f"ssamba_cpu_ops_{key}{cpp_extension.LIB_EXT}").read_bytes() == MODULE


def test_concurrent_builders_build_once(compiler, loaded, tmp_path):
    compiler.seconds = 0.3
    errors: list[BaseException] = []

    def build() -> None:
        try:
            _extension._build()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(compiler.builds) == 1
    key = _extension.build_key()
    assert entries(tmp_path) == [key] and len(loaded) == 3
    assert [p.parent for p in loaded[1:]] == [tmp_path / "extensions" / key] * 2
