"""Run logs: JSON Lines always (`OUT/log.jsonl`), TensorBoard scalars when installed; rank 0 only.

Each row has a `kind` (`train`, `val`, `event`) and a `step`. On resume, rows past the resumed
step (written by the interrupted run after its last checkpoint) are dropped so curves stay clean.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from ssamba.errors import MissingExtraError, require_extra
from ssamba.utils_io import atomic_write_text

logger = logging.getLogger(__name__)

LOG_NAME = "log.jsonl"


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL log (a torn last line from a crash is skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunTracker:
    """Writes log rows and TensorBoard scalars; a disabled tracker (ranks > 0) does nothing."""

    def __init__(self, out_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / LOG_NAME
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                module = require_extra("torch.utils.tensorboard", "log")
                self.writer = module.SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except MissingExtraError as exc:
                logger.info("TensorBoard logging off: %s", exc)

    def truncate_after(self, step: int) -> None:
        """Drop rows with `step` greater than the resumed step."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [row for row in read_log(self.path) if int(row.get("step", 0)) <= step]
        atomic_write_text(self.path, "".join(json.dumps(row) + "\n" for row in kept))

    def log(self, kind: str, step: int, **values: Any) -> None:
        """Append one row; numeric values also go to TensorBoard as `kind/key`."""
        if not self.enabled:
            return
        row = {"kind": kind, "step": step, **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.writer.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
