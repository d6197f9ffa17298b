"""The generic training loop: DDP, gradient accumulation, AMP, clipping, validation, checkpoints, resume.

A recipe (pretraining, fine-tuning) supplies a `TrainTask` (the model to save, an objective module
`forward(batch, seed) -> {"loss": ..., other scalars}` that contains it, a resumable batch stream,
an optional evaluation function, a finaliser and its resume rule) and builds the optimiser and
the lr `Schedule` the `Trainer` steps; the engine knows no recipe keys. Per-step randomness comes from
`derive_seed(seed, step, rank, micro_step)` (objective masks; torch's global RNG is reseeded with it
for dropout), so a run resumed from a checkpoint repeats the uninterrupted run bit for bit on CPU,
its log rows included (the running sums of the current logging window are part of the checkpoint).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ssamba.dataclass_io import to_dict
from ssamba.errors import CheckpointError, ConfigError, TrainingError
from ssamba.training import distributed
from ssamba.training.batches import BatchStream
from ssamba.training.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint, weights_digest
from ssamba.training.config import LoopConfig
from ssamba.training.distributed import DistContext
from ssamba.training.faults import fault_point
from ssamba.training.plots import PANELS, Panels, plot_curves, run_title
from ssamba.training.rng import capture_rng_state, derive_seed, restore_rng_state
from ssamba.training.run_folder import write_run_config
from ssamba.training.schedule import Schedule
from ssamba.training.signals import StopRequest
from ssamba.training.tracker import RunTracker

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass
class TrainTask(Generic[ModelT]):
    """What a task gives the loop.

    Attributes:
        model: the module whose weights are trained and checkpointed.
        objective: module containing `model`; `forward(batch, seed)` returns scalar tensors incl. "loss".
        stream: the resumable micro-batch stream of this rank.
        config: the full run configuration (a dataclass), stored in checkpoints.
        check_resume: `check_resume(saved, current)` raises `ConfigError` when a checkpoint's
            configuration (a dict) cannot be continued under the current one.
        evaluate: `evaluate(model, step) -> {name: value}` on the validation data, the same on every
            rank (an empty dict: nothing to log).
        metric: the validation value that selects `best` and drives the plateau schedule.
        finalize: `finalize(model, folder)` writes the final model (rank 0).
        init: where the initial weights came from (None: random), named when already the first
            step is not finite.
        name: what the run is (e.g. "fine-tune (scratch)"), shown by the progress bar and plot titles.
        panels: the logged metrics `curves.png` plots, with their titles.
    """

    model: ModelT
    objective: nn.Module
    stream: BatchStream
    config: Any
    check_resume: Callable[[dict[str, Any], dict[str, Any]], None]
    evaluate: Callable[[ModelT, int], dict[str, float]] | None = None
    metric: str = "acc"
    finalize: Callable[[ModelT, Path], None] | None = None
    init: str | None = None
    name: str = "train"
    panels: Panels = PANELS


@dataclass
class TrainResult:
    """Outcome of a run: last step, stop signal (None when it ran to the end), best validation
    metric, the weights' digest of every rank, and the recipe's summary (fine-tuning: `results.json`)."""

    step: int
    signum: int | None = None
    best_metric: float | None = None
    rank_digests: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        """Whether a stop signal ended the run early (its last checkpoint resumes it)."""
        return self.signum is not None


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU/GPU, fp16 on GPU only, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision fp16 needs a CUDA device; use bf16 on CPU")
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


class Trainer(Generic[ModelT]):
    """Runs a `TrainTask` under a `LoopConfig` with the caller's optimiser and lr schedule; one
    instance per run. The optimiser may be built before the model moves to `ctx.device`
    (`Module.to` keeps the parameter objects). `grad_clip`: max gradient norm (None: no clipping)."""

    def __init__(
        self,
        task: TrainTask[ModelT],
        loop: LoopConfig,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        out_dir: str | Path,
        ctx: DistContext,
        grad_clip: float | None = None,
    ) -> None:
        self.task, self.loop, self.ctx = task, loop, ctx
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.model = task.model.to(ctx.device)
        task.objective.to(ctx.device)
        self.optimizer = optimizer
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=loop.precision == "fp16")
        autocast_context(loop.precision, ctx.device)  # rejects fp16 on CPU before any work
        self.autocast = lambda: autocast_context(loop.precision, ctx.device)
        self.step = 0
        self.bad_steps = 0  # consecutive optimizer steps skipped for non-finite loss or gradients
        self.saved_step: int | None = None  # step of the newest `last` checkpoint, when one exists
        self.window: dict[str, Any] = {"sums": {}, "steps": 0}  # the logging window so far
        self.best_metric: float | None = None
        self.config_dict = to_dict(task.config)
        self.tracker = RunTracker(self.out_dir, enabled=ctx.is_main, tensorboard=loop.tensorboard)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self, log_window: dict[str, Any]) -> dict[str, Any]:
        """Everything needed to continue exactly (tensors, lists and primitives only).

        `log_window`: the current logging window summed over ranks (`_summed_window`).
        """
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "data": self.task.stream.state_dict(),
            "rng": capture_rng_state(),
            "best_metric": self.best_metric,
            "world_size": self.ctx.world_size,
            "config": self.config_dict,
            "log_window": log_window,
        }

    def _summed_window(self) -> dict[str, Any]:
        """The logging window's sums over every rank (a collective: every rank calls it)."""
        keys = sorted(self.window["sums"])
        summed = distributed.all_reduce_sum([self.window["sums"][k] for k in keys], self.ctx.device)
        return {"sums": dict(zip(keys, summed, strict=True)), "steps": self.window["steps"]}

    def save(self, name: str) -> None:
        """Rank 0 writes `checkpoints/name` atomically; every rank waits for it."""
        distributed.barrier()
        window = self._summed_window()
        if self.ctx.is_main:
            save_checkpoint(self.ckpt_dir / name, self.state_dict(window))
        if name == LAST:
            self.saved_step = self.step
        distributed.barrier()

    def resume(self) -> bool:
        """Load `checkpoints/last.pt` if present; returns whether a checkpoint was loaded."""
        path = self.ckpt_dir / LAST
        if not path.is_file():
            logger.warning("--resume: no checkpoint at %s, starting from scratch", path)
            self.tracker.truncate_after(-1)  # rows of a run that died before its first checkpoint
            return False
        state = load_checkpoint(path)  # on CPU: RNG states must stay there; load_state_dict moves the rest
        self.task.check_resume(state["config"], self.config_dict)
        if int(state["world_size"]) != self.ctx.world_size:
            raise CheckpointError(
                f"{path}: saved with {state['world_size']} process(es), resumed with {self.ctx.world_size}; "
                "the data position is per rank, so resume with the same world size"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.task.stream.load_state_dict(state["data"])
        restore_rng_state(state["rng"])
        self.step, self.best_metric = int(state["step"]), state["best_metric"]
        self.saved_step = self.step
        window = state.get("log_window", {"sums": {}, "steps": 0})  # older checkpoints lack it
        # The saved sums cover every rank: rank 0 carries them, the others start from zero (same keys).
        sums = {k: float(v) if self.ctx.is_main else 0.0 for k, v in window["sums"].items()}
        self.window = {"sums": sums, "steps": int(window["steps"])}
        self.tracker.truncate_after(self.step)
        logger.info("resumed from %s at step %d", path, self.step)
        return True

    # -- loop --------------------------------------------------------------------------------
    def _wrapped(self) -> nn.Module:
        objective = self.task.objective
        if not self.ctx.distributed:
            return objective
        device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(objective, device_ids=device_ids)

    def _micro_steps(self, wrapped: nn.Module, batches, totals: dict[str, float]) -> None:
        """Forward/backward over `grad_accum` micro-batches; gradient sync only on the last one."""
        accum = self.loop.grad_accum
        for micro in range(accum):
            batch = _to_device(next(batches), self.ctx.device)
            seed = derive_seed(self.loop.seed, self.step, self.ctx.rank, micro)
            torch.manual_seed(seed)
            last = micro == accum - 1
            no_sync = wrapped.no_sync() if isinstance(wrapped, DistributedDataParallel) and not last else None
            with no_sync or contextlib.nullcontext():
                with self.autocast():
                    outputs = wrapped(batch, seed)
                self.scaler.scale(outputs["loss"] / accum).backward()
            for key, value in outputs.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach()) / accum

    def _grads_finite(self) -> bool:
        """True when every gradient is finite on every rank (fp16 leaves this to the GradScaler)."""
        if self.scaler.is_enabled():
            return True
        finite = all(
            bool(torch.isfinite(p.grad).all()) for p in self.model.parameters() if p.grad is not None
        )
        return not distributed.any_rank(not finite, self.ctx.device)

    def _skip_bad_step(self) -> None:
        """Drop this step's gradients; stop with a clear error after `max_bad_steps` in a row."""
        self.optimizer.zero_grad(set_to_none=True)
        self.bad_steps += 1
        step = self.step + 1
        logger.warning(
            "step %d: non-finite loss or gradients, optimizer step skipped (%d in a row)",
            step,
            self.bad_steps,
        )
        self.tracker.log("event", step, event="skipped_nonfinite_step", consecutive=self.bad_steps)
        if self.bad_steps >= self.loop.max_bad_steps:
            raise TrainingError(self._nonfinite_advice(step))

    def _nonfinite_advice(self, step: int) -> str:
        """Why the run stops after `max_bad_steps` bad steps, and fixes that can work.

        `--resume` is not one: it repeats the same steps. A streak from step 1 on is not the lr's
        fault (the first loss comes before any update): it points at the initial weights or the data.
        """
        first = step - self.bad_steps + 1
        text = (
            f"{self.bad_steps} consecutive steps had non-finite loss or gradients (steps {first}-{step}); "
            "the weights were not updated by them. "
        )
        if first == 1:
            init = self.task.init
            source = f" (init: {init})" if init not in (None, "scratch") else ""
            text += (
                "Already the first step's loss was not finite, before any update, so the learning rate is "
                f"not the cause: check the initial weights{source} for NaN/Inf or huge values, and the "
                "audio and features (ssamba data validate)"
            )
        else:
            text += (
                "Lower optim.lr or set optim.grad_clip and start again (--overwrite, or another --out); "
                "--resume would repeat the same steps"
            )
        checkpoint = self.ckpt_dir / LAST
        if self.saved_step is not None and checkpoint.is_file():
            return f"{text}. The newest checkpoint is {checkpoint} (step {self.saved_step})"
        return f"{text}. No checkpoint was written (checkpoints/{LAST} does not exist)"

    def _optimizer_step(self) -> float | None:
        grad_norm = None
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return grad_norm

    def _log_train(self, lr: float, timed_steps: int, elapsed: float) -> None:
        """Log the window's means; throughput counts the `timed_steps` this process ran in `elapsed` s."""
        totals, steps = self.window["sums"], self.window["steps"]
        keys = sorted(totals)
        summed = distributed.all_reduce_sum([totals[k] for k in keys], self.ctx.device)
        means = {k: v / (steps * self.ctx.world_size) for k, v in zip(keys, summed, strict=True)}
        samples_per_s = timed_steps * self.loop.batch_size / max(elapsed, 1e-9)
        self.tracker.log("train", self.step, **means, lr=lr, samples_per_s=samples_per_s)

    def validate(self) -> dict[str, float] | None:
        """Run the task's evaluation (every rank), log it, update the schedule and `best`."""
        if self.task.evaluate is None:
            return None
        self.model.eval()
        with torch.no_grad(), self.autocast():
            results = self.task.evaluate(self.model, self.step)
        self.model.train()
        if not results:  # an epoch hook with no validation split: nothing to log or select
            return None
        metric = results[self.task.metric]
        reduced = self.schedule.observe(metric)
        self.tracker.log("val", self.step, **results, lr_reduced=reduced)
        logger.info(
            "step %d validation: %s", self.step, ", ".join(f"{k}={v:.4f}" for k, v in results.items())
        )
        if self.best_metric is None or metric > self.best_metric:
            self.best_metric = metric
            self.save(BEST)
        return results

    def run(self, resume: bool = False) -> TrainResult:
        """Train until `max_steps` or a stop signal; saves `last`, the final model and the curves."""
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        if resume and self.resume():
            self.tracker.log("event", self.step, event="resume")
        else:
            self.tracker.log("event", self.step, event="start", config=self.config_dict)
        if self.ctx.is_main:  # only now: a rejected --resume leaves the run's config.yaml alone
            write_run_config(self.out_dir, self.config_dict)
        loop = self.loop
        wrapped = self._wrapped()
        self.model.train()
        batches = iter(self.task.stream)
        show = self.ctx.is_main and loop.progress
        progress = tqdm(
            total=loop.max_steps,
            initial=self.step,
            desc=self.task.name,
            disable=None if show else True,  # None: shown only when stderr is a terminal
            unit="step",
            dynamic_ncols=True,
        )
        window_start, timed_steps = time.perf_counter(), 0
        with StopRequest() as stop, logging_redirect_tqdm():  # log lines print above the bar
            while self.step < loop.max_steps:
                lr = self.schedule.apply(self.optimizer, self.step)
                self.optimizer.zero_grad(set_to_none=True)
                totals = self.window["sums"]
                self._micro_steps(wrapped, batches, totals)
                grad_norm = None
                if self._grads_finite():
                    grad_norm = self._optimizer_step()
                    self.bad_steps = 0
                else:
                    self._skip_bad_step()
                if grad_norm is not None:
                    totals["grad_norm"] = totals.get("grad_norm", 0.0) + grad_norm
                self.step += 1
                self.window["steps"] += 1
                timed_steps += 1
                progress.set_postfix(_running(totals, self.window["steps"]), refresh=False)
                progress.update(1)
                fault_point("step_end", self.step)
                if self.step % loop.log_every == 0 or self.step == loop.max_steps:
                    self._log_train(lr, timed_steps, time.perf_counter() - window_start)
                    self.window = {"sums": {}, "steps": 0}
                    window_start, timed_steps = time.perf_counter(), 0
                paused = time.perf_counter()  # validation and checkpoints do not count in samples/s
                if self.step % loop.val_every == 0 or self.step == loop.max_steps:
                    self.validate()
                stopping = distributed.any_rank(stop.requested, self.ctx.device)
                if self.step % loop.ckpt_every == 0 or self.step == loop.max_steps or stopping:
                    self.save(LAST)
                window_start += time.perf_counter() - paused
                if stopping:
                    break
        progress.close()
        return self._finish(stop.signum if self.step < loop.max_steps else None)

    def _finish(self, signum: int | None) -> TrainResult:
        digests = distributed.gather_strings(weights_digest(self.model))
        if self.ctx.is_main:
            if signum is None and self.task.finalize is not None:
                self.task.finalize(self.model, self.out_dir / "final")
            self.tracker.log(
                "event",
                self.step,
                event="interrupted" if signum is not None else "end",
                rank_digests=digests,
                best_metric=self.best_metric,
            )
            if self.loop.plot:
                title = run_title(self.task.name, self.out_dir)
                plot_curves(self.tracker.path, self.out_dir / "curves.png", title, self.task.panels)
        self.tracker.close()
        distributed.barrier()
        return TrainResult(self.step, signum, self.best_metric, digests)


def _running(totals: dict[str, float], steps: int) -> dict[str, str]:
    """This rank's mean loss (and accuracy) over the current logging window, for the progress bar."""
    return {k: f"{totals[k] / steps:.4g}" for k in ("loss", "acc") if k in totals}


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(item, device) for item in batch)
    return batch
