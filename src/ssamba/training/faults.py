"""Fault injection for crash-recovery tests: `SSAMBA_FAULT=point@step` kills the process there.

Points: `step_end` (after an optimiser step), `checkpoint_write` (checkpoint written to its
temporary file, not yet renamed), `checkpoint_done` (after the rename). The process gets SIGKILL,
so nothing is flushed or cleaned up, as in a real crash.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "SSAMBA_FAULT"


def fault_point(name: str, step: int) -> None:
    """SIGKILL this process if `SSAMBA_FAULT` names this point and step (no-op otherwise)."""
    spec = os.environ.get(ENV_VAR)
    if spec and spec == f"{name}@{step}":
        os.kill(os.getpid(), signal.SIGKILL)
