"""trainwatch for the Hugging Face ``Trainer``: ``Trainer(..., callbacks=[TrainwatchHFCallback()])``.

Every ``on_log`` goes to the event log in Keras-style names (``loss``, ``eval_loss`` -> ``val_loss``,
``learning_rate`` -> ``lr``). Between steps it applies LR changes to the optimizer *and* the LR
scheduler's base LRs (so the change survives the schedule), checkpoints through the Trainer's own
saving (``control.should_save``), and stops gracefully (save, then ``should_training_stop``).
Importing this module imports transformers.
"""
from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback

from trainers.session import TrainwatchSession
from trainers.torch_control import current_lr, set_lr

_RENAMES = {"learning_rate": "lr", "grad_norm": "grad_norm"}


class TrainwatchHFCallback(TrainerCallback):
    def __init__(self, run_dir: str | None = None, config: dict[str, Any] | None = None,
                 dataset_sizes: dict[str, int] | None = None) -> None:
        self.session = TrainwatchSession(run_dir)
        self.config = dict(config or {})
        self.dataset_sizes = dataset_sizes
        self._lr_changed_at: int | None = None  # the step an LR change was applied at

    @property
    def log(self):
        """The run's event log on rank 0; on the other ranks of a multi-process run, one that writes nothing."""
        return self.session.log

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        config = {"num_train_epochs": args.num_train_epochs, "max_steps": args.max_steps,
                  "learning_rate": args.learning_rate, **self.config}
        self.session.start(config=config, dataset_sizes=self.dataset_sizes, start_step=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, lr_scheduler: Any = None,
                    **kwargs: Any) -> None:
        def apply_lr(value: float) -> str | None:
            if optimizer is None:
                return "the Trainer did not pass its optimizer"
            set_lr(optimizer, [lr_scheduler], value)
            self._lr_changed_at = state.global_step
            return None

        def save(tag: str) -> str:
            # The Trainer saves right after this callback returns, into output_dir/checkpoint-<step>.
            control.should_save = True
            return os.path.join(args.output_dir, f"checkpoint-{state.global_step}")

        if self.session.handle_commands(get_lr=lambda: current_lr(optimizer) if optimizer is not None else None,
                                        set_lr=apply_lr, save_checkpoint=save, step=state.global_step,
                                        epoch=state.epoch, save_on_every_rank=True):  # the Trainer saves once
            control.should_training_stop = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "train_runtime" in logs:
            return  # the closing summary: its train_loss is the whole run's average, not a point
        values = {}
        for name, value in (logs or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = _RENAMES.get(name, name)
            if name.startswith("eval_"):
                name = "val_" + name[len("eval_"):]
            if name.endswith(("_runtime", "_samples_per_second", "_steps_per_second")) or name in ("total_flos", "epoch"):
                continue
            values[name] = float(value)
        if self._lr_changed_at == state.global_step:
            # The Trainer read this step's LR before the callback changed it: the change, logged at
            # this step already, is the LR from here on.
            values.pop("lr", None)
        if values:
            self.log.metrics(step=state.global_step, epoch=state.epoch, **values)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.session.finish()
