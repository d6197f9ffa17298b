"""ESC-50 5-fold cross-validation with the official reporting (spec 3.1).

Each fold k is held out once (training on the other four, validating every epoch on fold k);
the per-epoch accuracies are averaged over the folds and the epoch with the best average is
reported, with its accuracy per fold. Writes OUT/cv_results.json and OUT/cv_curve.png; each
fold's run (checkpoints, logs, `--resume`-able) is in OUT/fold_K.

Usage:
    python recipes/finetune/esc50_cv.py --config recipes/finetune/esc50.yaml --out runs/esc50_cv \
        [--init PRETRAINED] [--set KEY=VALUE ...] [--folds 1,2,3,4,5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ssamba.dataclass_io import load_config
from ssamba.training.finetune import run_finetune
from ssamba.training.finetune_config import FinetuneConfig
from ssamba.training.plots import pyplot
from ssamba.training.tracker import read_log

FOLDS = ("1", "2", "3", "4", "5")


def fold_overrides(fold: str, folds: tuple[str, ...]) -> list[str]:
    """`--set` overrides that hold `fold` out: train on the others, validate and test on it."""
    others = json.dumps([f for f in folds if f != fold])
    return [f"data.train_split={others}", f'data.valid_split=["{fold}"]', f'data.test_split=["{fold}"]']


def epoch_curve(run_dir: Path) -> dict[int, float]:
    """Validation accuracy by epoch from a fine-tuning run's log."""
    return {int(row["epoch"]): row["acc"] for row in read_log(run_dir / "log.jsonl") if row["kind"] == "val"}


def fold_average(curves: dict[str, dict[int, float]]) -> dict[str, Any]:
    """The fold-averaged curve over the epochs every fold has, and its best epoch (official report)."""
    epochs = sorted(set.intersection(*(set(c) for c in curves.values())))
    if not epochs:
        raise ValueError("the folds share no validated epoch")
    mean = {e: sum(c[e] for c in curves.values()) / len(curves) for e in epochs}
    best = max(epochs, key=lambda e: (mean[e], -e))
    return {
        "best_epoch": best,
        "accuracy": mean[best],
        "fold_accuracy": {fold: curve[best] for fold, curve in curves.items()},
        "mean_curve": {str(e): mean[e] for e in epochs},
    }


def plot_curves(curves: dict[str, dict[int, float]], report: dict[str, Any], path: Path) -> None:
    """Per-fold and averaged validation accuracy against epochs."""
    plt = pyplot(path)
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for fold, curve in curves.items():
        ax.plot(list(curve), [100 * v for v in curve.values()], alpha=0.4, label=f"fold {fold}")
    mean = {int(e): v for e, v in report["mean_curve"].items()}
    ax.plot(list(mean), [100 * v for v in mean.values()], color="black", linewidth=2, label="mean")
    ax.axvline(report["best_epoch"], color="gray", linestyle=":")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"ESC-50 CV: {100 * report['accuracy']:.1f} %")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="fine-tuning recipe (esc50.yaml)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init", help="pretrained model (official .pth, folder) or 'scratch'")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--folds", default=",".join(FOLDS), help="comma-separated fold values")
    parser.add_argument("--resume", action="store_true", help="continue interrupted folds")
    args = parser.parse_args(argv)
    folds = tuple(f.strip() for f in args.folds.split(",") if f.strip())
    base = list(args.overrides) + ([f"init={args.init}"] if args.init else [])
    curves = {}
    for fold in folds:
        run_dir = args.out / f"fold_{fold}"
        done = (run_dir / "results.json").is_file()
        if not done:
            config = load_config(FinetuneConfig, args.config, base + fold_overrides(fold, folds))
            result = run_finetune(config, run_dir, resume=args.resume and (run_dir / "checkpoints").is_dir())
            if result.stopped:
                raise SystemExit(f"fold {fold} stopped at step {result.step}; rerun with --resume")
        curves[fold] = epoch_curve(run_dir)
    report = fold_average(curves)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cv_results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_curves(curves, report, args.out / "cv_curve.png")
    print(f"best epoch {report['best_epoch']}: {100 * report['accuracy']:.2f} % (mean of {len(folds)} folds)")
    return report


if __name__ == "__main__":
    main()
