"""Training-curve figure from a run's JSONL log (matplotlib, imported only when plotting)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ssamba.training.tracker import read_log

logger = logging.getLogger(__name__)

Panels = tuple[tuple[str, str], ...]

# (log key, panel title): fine-tuning logs classification accuracy, MSPM masked-patch accuracy.
PANELS: Panels = (("loss", "loss"), ("acc", "accuracy"), ("lr", "learning rate"))
MSPM_PANELS: Panels = (
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


def run_title(name: str, out_dir: str | Path) -> str:
    """A figure title naming the run: its kind and the last two parts of its folder."""
    parts = Path(out_dir).parts[-2:]
    return f"{name}: {'/'.join(parts)}"


def curves_figure(plt: Any, rows: list[dict[str, Any]], title: str, panels: Panels = PANELS) -> Any | None:
    """One panel per metric of `panels` present in the log rows (train lines, val points); None if none."""
    shown = [(key, label) for key, label in panels if any(key in row for row in rows)]
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.4), squeeze=False)
    for axis, (key, label) in zip(axes[0], shown, strict=True):
        for kind, style in (("train", "-"), ("val", "o-")):
            points = [(row["step"], row[key]) for row in rows if row.get("kind") == kind and key in row]
            if points:
                steps, values = zip(*points, strict=True)
                axis.plot(steps, values, style, label=kind, markersize=3)
        axis.set_title(label)
        axis.set_xlabel("step")
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(
    log_path: str | Path, out_path: str | Path, title: str = "", panels: Panels = PANELS
) -> Path | None:
    """Save the curves of a run log as PNG (`title` also in its metadata); None without matplotlib."""
    plt = pyplot(out_path)
    if plt is None:
        return None
    fig = curves_figure(plt, read_log(log_path), title, panels)
    if fig is None:
        return None
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100, metadata={"Title": title})
    plt.close(fig)
    return out_path
