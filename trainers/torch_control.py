"""trainwatch control for a plain PyTorch loop: a few lines in any training script.

    from trainers.torch_control import TorchControl
    control = TorchControl(optimizer, scheduler, save=lambda path: torch.save(state(), path))
    control.start(config=vars(args))
    for epoch in ...:
        for batch in ...:
            ...
            optimizer.step()
            if control.poll(step, epoch):   # applies LR / checkpoint / stop commands
                break
        control.log.metrics(step=step, epoch=epoch, loss=..., val_loss=..., lr=control.lr)
    control.finish()

An LR change scales every param group *and* the scheduler's base LRs, so the change survives the
schedule (StepLR, cosine, LambdaLR, OneCycleLR, warm restarts) instead of being overwritten at the
next ``scheduler.step()``. torch itself is never imported here: the optimizer is duck-typed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainers.session import TrainwatchSession

# Scheduler attributes that hold LRs (one per param group) and move with an LR change.
_SCHEDULER_LR_LISTS = ("base_lrs", "min_lrs", "eta_min_list")
# Param-group keys some schedulers keep next to "lr" (OneCycleLR, CyclicLR, and every scheduler's initial_lr).
_GROUP_LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "base_lr")


def current_lr(optimizer: Any) -> float:
    return float(optimizer.param_groups[0]["lr"])


def scale_lr(optimizer: Any, schedulers: list[Any], factor: float) -> None:
    """Multiply the LR of every param group, and what the schedulers will derive it from, by ``factor``."""
    for group in optimizer.param_groups:
        for key in _GROUP_LR_KEYS:
            if isinstance(group.get(key), (int, float)):
                group[key] = group[key] * factor
    for scheduler in schedulers:
        if scheduler is None:
            continue
        for name in _SCHEDULER_LR_LISTS:
            values = getattr(scheduler, name, None)
            if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values):
                setattr(scheduler, name, [value * factor for value in values])
        if isinstance(getattr(scheduler, "eta_min", None), (int, float)) and scheduler.eta_min:
            scheduler.eta_min = scheduler.eta_min * factor
        last = getattr(scheduler, "_last_lr", None)
        if isinstance(last, list):
            scheduler._last_lr = [float(group["lr"]) for group in optimizer.param_groups]


def set_lr(optimizer: Any, schedulers: list[Any], new_lr: float) -> None:
    """Set the first group's LR to ``new_lr``; other groups keep their ratio to it."""
    old = current_lr(optimizer)
    if old > 0:
        scale_lr(optimizer, schedulers, new_lr / old)
    else:  # a zero LR cannot be scaled: set it outright
        for group in optimizer.param_groups:
            group["lr"] = new_lr


class TorchControl:
    """Connects an optimizer (and its LR schedulers) to trainwatch's event log and control channel."""

    def __init__(self, optimizer: Any, scheduler: Any = None, save: Callable[[str], None] | None = None,
                 run_dir: str | None = None, session: TrainwatchSession | None = None) -> None:
        self.optimizer = optimizer
        self.schedulers = list(scheduler) if isinstance(scheduler, (list, tuple)) else [scheduler]
        self.save = save
        self.session = session or TrainwatchSession(run_dir)

    @property
    def log(self):
        """The run's event log on rank 0; on the other ranks of a multi-process run, one that writes nothing."""
        return self.session.log

    @property
    def lr(self) -> float:
        return current_lr(self.optimizer)

    @property
    def stop_requested(self) -> bool:
        return self.session.stop_requested

    def start(self, **fields: Any) -> None:
        """Log the run start (``config``, ``dataset_sizes``, ``resumed_from``, ``start_epoch``, ...)."""
        self.session.start(**fields)

    def _save(self, tag: str) -> str | None:
        if self.save is None:
            return None
        path = self.session.checkpoint_path(f"{tag}.pt")
        self.save(path)
        return path

    def _set_lr(self, new_lr: float) -> str | None:
        set_lr(self.optimizer, self.schedulers, new_lr)
        return None

    def poll(self, step: int | None = None, epoch: float | None = None) -> bool:
        """Apply pending commands; True when training should stop now (a checkpoint is already saved)."""
        return self.session.handle_commands(get_lr=lambda: self.lr, set_lr=self._set_lr,
                                            save_checkpoint=self._save, step=step, epoch=epoch)

    def finish(self, state: str | None = None, exit_code: int | None = 0, message: str = "") -> None:
        self.session.finish(state, exit_code, message)
