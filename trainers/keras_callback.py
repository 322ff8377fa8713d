"""trainwatch for Keras ``model.fit``: one callback writes the event log and obeys the control channel.

    from trainers.keras_callback import TrainwatchCallback
    model.fit(x, y, validation_data=..., epochs=30, callbacks=[TrainwatchCallback(config=vars(args))])

Epoch metrics go to the event log under Keras's own names (``loss``, ``val_loss``, ``accuracy``,
...) with the current ``lr``. Between batches it applies LR changes (``optimizer.learning_rate``),
saves a checkpoint on request, and on a stop saves ``last.keras`` then ends ``fit`` cleanly.
Importing this module imports Keras; ``import trainers`` does not.
"""
from __future__ import annotations

from typing import Any

import keras

from trainers.session import TrainwatchSession


class TrainwatchCallback(keras.callbacks.Callback):
    def __init__(self, run_dir: str | None = None, config: dict[str, Any] | None = None,
                 dataset_sizes: dict[str, int] | None = None, resumed_from: str | None = None,
                 initial_epoch: int = 0, best_metric: str = "val_loss", best_mode: str = "auto") -> None:
        super().__init__()
        self.session = TrainwatchSession(run_dir)
        self.config = dict(config or {})
        self.dataset_sizes = dataset_sizes
        self.resumed_from = resumed_from
        self.initial_epoch = initial_epoch
        self.best_metric = best_metric
        # "min" or "max"; "auto" as Keras's ModelCheckpoint: higher is better for accuracies and the like.
        self.best_mode = best_mode if best_mode != "auto" else best_direction(best_metric)
        self._epoch_lr: float | None = None  # the LR this epoch trains with, read at its first batch
        self._best: float | None = None
        self._epoch = initial_epoch
        self._step = 0

    @property
    def log(self):
        """The run's event log on rank 0; on the other ranks of a multi-process run, one that writes nothing."""
        return self.session.log

    # The optimizer's LR: a variable we can assign, unless the user passed a schedule object.
    def _get_lr(self) -> float | None:
        rate = self.model.optimizer.learning_rate
        try:
            return float(keras.ops.convert_to_numpy(rate))
        except (TypeError, ValueError):
            return None

    def _set_lr(self, value: float) -> str | None:
        rate = self.model.optimizer.learning_rate
        if not hasattr(rate, "assign"):
            return "the LR is a schedule object; set it from the schedule instead"
        rate.assign(value)
        self._epoch_lr = value  # the rest of this epoch trains with it
        return None

    def _save(self, tag: str) -> str:
        path = self.session.checkpoint_path(f"{tag}.keras")
        self.model.save(path)
        return path

    def on_train_begin(self, logs: dict | None = None) -> None:
        config = {"epochs": self.params.get("epochs"), **self.config}
        self.session.start(config=config, dataset_sizes=self.dataset_sizes, resumed_from=self.resumed_from,
                           start_epoch=self.initial_epoch)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._epoch_lr is None:
            # After every callback's on_epoch_begin (a LearningRateScheduler placed after this one).
            self._epoch_lr = self._get_lr()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._step += 1
        steps = self.params.get("steps") or 0
        epoch = self._epoch + (batch + 1) / steps if steps else self._epoch
        if self.session.handle_commands(get_lr=self._get_lr, set_lr=self._set_lr, save_checkpoint=self._save,
                                        step=self._step, epoch=epoch):
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._epoch_lr = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = {name: float(value) for name, value in (logs or {}).items() if _is_number(value)}
        # The LR the epoch trained with: not what ReduceLROnPlateau, placed before this callback,
        # has just set for the next one (Keras's own logs carry that next value as learning_rate).
        lr = self._epoch_lr if self._epoch_lr is not None else self._get_lr()
        if lr is not None:
            values["lr"] = lr
        values.pop("learning_rate", None)
        self.log.metrics(step=self._step, epoch=epoch + 1, **values)
        current = values.get(self.best_metric)
        better = (lambda new, old: new > old) if self.best_mode == "max" else (lambda new, old: new < old)
        if current is not None and (self._best is None or better(current, self._best)):
            self._best = current
            self.log.checkpoint(self._save("best"), step=self._step, epoch=epoch + 1, tag="best")
        self.log.checkpoint(self._save("last"), step=self._step, epoch=epoch + 1, tag="last")

    def on_train_end(self, logs: dict | None = None) -> None:
        self.session.finish()


# Names whose higher values are better, as Keras's ModelCheckpoint(mode="auto") tells them.
_HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "f1", "fbeta", "precision", "recall", "iou", "map", "top_k")


def best_direction(metric: str) -> str:
    """"max" for an accuracy-like metric (``val_accuracy``, ``val_auc``), else "min" (losses, errors)."""
    base = metric[4:] if metric.startswith("val_") else metric
    return "max" if any(base == name or base.startswith(name) or base.endswith("_" + name) for name in _HIGHER_IS_BETTER) \
        else "min"


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
