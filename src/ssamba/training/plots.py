"""Training-curve figure from a run's JSONL log (matplotlib, imported only when plotting)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ssamba.training.tracker import read_log

logger = logging.getLogger(__name__)

PANELS = (
    ("loss", "loss"),
    ("acc", "masked accuracy"),
    ("mse", "reconstruction MSE"),
    ("lr", "learning rate"),
)


def pyplot(out_path: str | Path) -> Any | None:
    """matplotlib.pyplot on the Agg backend, or None (logged, naming `out_path`) when not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed (pip install 'ssamba[plot]'); skipping %s", out_path)
        return None
    return plt


def plot_curves(log_path: str | Path, out_path: str | Path) -> Path | None:
    """Plot train/val curves of every panel metric present in the log; None when matplotlib is missing."""
    plt = pyplot(out_path)
    if plt is None:
        return None
    rows = read_log(log_path)
    panels = [(key, title) for key, title in PANELS if any(key in row for row in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, (key, title) in zip(axes[0], panels, strict=True):
        for kind, style in (("train", "-"), ("val", "o-")):
            points = [(row["step"], row[key]) for row in rows if row.get("kind") == kind and key in row]
            if points:
                steps, values = zip(*points, strict=True)
                axis.plot(steps, values, style, label=kind, markersize=3)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.legend()
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
