"""The run folder (`--out`) of a training run: one run at a time, no silent reuse, no stale temporaries.

`RunFolder` takes an exclusive lock on `OUT/.lock` (holding the pid) for the whole run, refuses a
fresh run into a folder that holds an earlier run's outputs unless asked to overwrite them (or
to `--resume` them), and removes temporary files left by writes that a crash interrupted.
The lock is a POSIX record lock (`fcntl.lockf`): it belongs to this process only, so DataLoader
workers forked from it never keep it alive after the run dies, and the kernel drops it on exit.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ssamba.errors import RunFolderError
from ssamba.utils_io import atomic_write_text

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"
CONFIG_NAME = "config.yaml"
# What training runs write into their folder; an earlier run is recognised by any of these but
# the config, and `overwrite` deletes exactly these (never anything else in the folder).
RUN_OUTPUTS = (
    "checkpoints",
    "log.jsonl",
    "final",
    "epochs",
    "tensorboard",
    "curves.png",
    "results.json",
    "test_metrics.json",
    "confusion.png",
    CONFIG_NAME,
)
# Folders where interrupted atomic writes (`utils_io.atomic_path`: `.NAME.XXXX.tmp`) may remain.
TEMP_FOLDERS = (".", "checkpoints", "final")

_held: set[Path] = set()  # folders this process holds (a POSIX lock taken twice would not conflict)


class RunFolder:
    """Context manager: lock `path` for one run and check (or clear) what an earlier run left there.

    With `enabled=False` (DDP ranks other than 0) it does nothing: rank 0 alone owns the folder.
    """

    def __init__(self, path: str | Path, *, resume: bool, overwrite: bool, enabled: bool = True) -> None:
        if resume and overwrite:  # the CLI makes them exclusive; this guards library calls
            raise RunFolderError(
                "--resume continues the run in the folder, --overwrite replaces it: pick one"
            )
        self.path = Path(path)
        self.resume = resume
        self.overwrite = overwrite
        self.enabled = enabled
        self._fd: int | None = None

    def __enter__(self) -> RunFolder:
        if not self.enabled:
            return self
        self._lock()
        try:
            self._check_earlier_run()
            remove_stale_temporaries(self.path)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._unlock()

    def _lock(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        if key in _held:
            raise RunFolderError(f"{self.path}: this process already runs a training run in this folder")
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(
                f"{self.path} is in use by another run (pid {holder}); wait for it to finish or stop it, "
                "or give this run another --out"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        _held.add(key)

    def _unlock(self) -> None:
        if self._fd is None:
            return
        _held.discard(self.path.resolve())
        os.close(self._fd)  # releases the lock; the file (with a stale pid) stays, harmless
        self._fd = None

    def _check_earlier_run(self) -> None:
        found = earlier_run_outputs(self.path)
        if not found or self.resume:
            return
        if not self.overwrite:
            raise RunFolderError(
                f"{self.path} holds an earlier run ({', '.join(found)}); continue it with --resume, "
                "replace it with --overwrite, or give this run another --out"
            )
        logger.warning("--overwrite: removing the earlier run in %s (%s)", self.path, ", ".join(found))
        for name in RUN_OUTPUTS:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()


def earlier_run_outputs(folder: Path) -> list[str]:
    """The outputs of an earlier run present in `folder` (its config alone does not count)."""
    found = []
    for name in RUN_OUTPUTS:
        target = folder / name
        if name == CONFIG_NAME or not (target.exists() or target.is_symlink()):
            continue
        if target.is_dir() and not any(target.iterdir()):
            continue
        found.append(name + ("/" if target.is_dir() else ""))
    return found


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the `.NAME.XXXX.tmp` files interrupted writes left (only safe while holding the lock)."""
    removed = []
    for sub in TEMP_FOLDERS:
        for tmp in sorted((folder / sub).glob(".*.tmp")):
            if tmp.is_file():
                tmp.unlink()
                removed.append(tmp)
    if removed:
        logger.warning(
            "removed %d temporary file(s) left by an interrupted write: %s",
            len(removed),
            ", ".join(str(p) for p in removed),
        )
    return removed


def write_run_config(folder: Path, config: dict[str, Any]) -> None:
    """`OUT/config.yaml`: the accepted run's full configuration (written once the run is accepted)."""
    import yaml

    atomic_write_text(folder / CONFIG_NAME, yaml.safe_dump(config, sort_keys=False))
