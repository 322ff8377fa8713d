"""trainwatch for PyTorch Lightning: ``Trainer(callbacks=[TrainwatchLightningCallback()])``.

Logs the trainer's ``callback_metrics`` each epoch (``val_`` names as logged, ``lr`` added), and
between batches applies LR changes (every optimizer's param groups and its schedulers' base LRs, so
the change survives the schedule), checkpoints (``trainer.save_checkpoint``) and graceful stops
(checkpoint, then ``trainer.should_stop``). Importing this module imports Lightning.
"""
from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl

from trainers.session import TrainwatchSession
from trainers.torch_control import current_lr, set_lr


class TrainwatchLightningCallback(pl.Callback):
    def __init__(self, run_dir: str | None = None, config: dict[str, Any] | None = None,
                 dataset_sizes: dict[str, int] | None = None) -> None:
        super().__init__()
        self.session = TrainwatchSession(run_dir)
        self.config = dict(config or {})
        self.dataset_sizes = dataset_sizes
        self._epoch_lr: float | None = None  # the LR the epoch's latest batch trained with

    def _schedulers(self, trainer: Any) -> list[Any]:
        return [config.scheduler for config in getattr(trainer, "lr_scheduler_configs", [])]

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        config = {"max_epochs": trainer.max_epochs, **self.config}
        self.session.start(config=config, dataset_sizes=self.dataset_sizes, start_epoch=trainer.current_epoch,
                           start_step=trainer.global_step)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch_lr = None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        # Read before each batch (a float from a dict): a per-step schedule has moved on by the
        # epoch's end, to the next epoch's LR when it changes at epoch boundaries.
        if trainer.optimizers:
            self._epoch_lr = current_lr(trainer.optimizers[0])

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        optimizers = trainer.optimizers

        def apply_lr(value: float) -> str | None:
            for optimizer in optimizers:
                set_lr(optimizer, self._schedulers(trainer), value)
            return None

        def save(tag: str) -> str:
            path = self.session.checkpoint_path(f"{tag}.ckpt")
            trainer.save_checkpoint(path)
            return path

        if self.session.handle_commands(get_lr=lambda: current_lr(optimizers[0]) if optimizers else None,
                                        set_lr=apply_lr, save_checkpoint=save, step=trainer.global_step,
                                        epoch=trainer.current_epoch + (batch_idx + 1) / max(1, trainer.num_training_batches),
                                        save_on_every_rank=True):  # save_checkpoint is DDP-aware: writes once
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        values = {}
        for name, value in trainer.callback_metrics.items():
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                continue
        if trainer.optimizers:
            # The LR the epoch's last batch trained with, not one a scheduler has set for the next.
            values["lr"] = self._epoch_lr if self._epoch_lr is not None else current_lr(trainer.optimizers[0])
        self.session.log.metrics(step=trainer.global_step, epoch=trainer.current_epoch + 1, **values)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.session.finish()
