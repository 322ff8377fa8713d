"""Keras model.fit with ReduceLROnPlateau cutting the LR after every epoch, the trainwatch callback
placed first or last (``first``/``last`` as argv[1]), best checkpoint on val_accuracy. Writes, per
epoch, the LR the epoch really trained with (read at each batch) to argv[2]."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402

from trainers.keras_callback import TrainwatchCallback  # noqa: E402


class TrainedWith(keras.callbacks.Callback):
    """The truth: the LR at every batch of each epoch."""

    def __init__(self, path):
        super().__init__()
        self.path, self.seen = path, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.setdefault(self.epoch + 1, set()).add(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_train_end(self, logs=None):
        with open(self.path, "w") as handle:
            json.dump({epoch: sorted(rates) for epoch, rates in self.seen.items()}, handle)


if __name__ == "__main__":
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours = TrainwatchCallback(best_metric="val_accuracy")
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0, min_delta=10.0)
    others = [plateau, TrainedWith(sys.argv[2])]
    callbacks = [ours, *others] if sys.argv[1] == "first" else [*others, ours]
    model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=6, batch_size=32, callbacks=callbacks,
              verbose=0)
