"""Reference trainer 2: a TensorFlow/Keras classifier trained with ``model.fit``, the trainwatch
callback and Keras's own CSVLogger, on synthetic data made here.

The data: points in ``--features`` dimensions whose class is decided by a fixed random two-layer
"teacher" network, plus label noise. Learnable with enough data; with ``--train_size 200
--dropout 0 --hidden 512`` it overfits (val loss climbs while train loss falls).

    python -m trainers.keras_reference --epochs 20 --lr 1e-3 --dropout 0.2 --weight_decay 1e-4
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from trainers.flag_config import parse_flags
from trainers.session import TrainwatchSession, resume_from_env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainers.keras_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML file whose keys are flag names (flags on the command line win)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--weight_decay", type=float, default=1e-4, help="L2 penalty on the dense kernels")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--train_size", type=int, default=4000)
    parser.add_argument("--val_size", type=int, default=1000)
    parser.add_argument("--label_noise", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resume", default=resume_from_env(), help="a .keras checkpoint to resume from")
    parser.add_argument("--run_dir", help="where to log when not launched by trainwatch")
    parser.add_argument("--batch_sleep", type=float, default=0.0, help="pause per batch (demos, tests)")
    return parse_flags(parser, argv)


def make_data(args: argparse.Namespace):
    import numpy as np

    teacher = np.random.default_rng(12345)  # the task is the same for every seed
    w1 = teacher.normal(size=(args.features, 32))
    w2 = teacher.normal(size=(32, args.classes))

    def draw(size: int, seed: int):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(size, args.features)).astype("float32")
        y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
        flip = rng.random(size) < args.label_noise
        y[flip] = rng.integers(0, args.classes, flip.sum())
        return x, y.astype("int64")

    return draw(args.train_size, 1000 + args.seed), draw(args.val_size, 99)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from trainers.keras_callback import TrainwatchCallback

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val) = make_data(args)
    initial_epoch = 0
    if args.resume:
        model = keras.models.load_model(args.resume)
        model.optimizer.learning_rate.assign(args.lr)  # the new run's flags decide the LR
        initial_epoch = int(getattr(model.optimizer, "iterations", 0) // max(1, -(-args.train_size // args.batch_size)))
    else:
        regularizer = keras.regularizers.l2(args.weight_decay) if args.weight_decay else None
        model = keras.Sequential([
            keras.Input((args.features,)),
            keras.layers.Dense(args.hidden, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dropout(args.dropout),
            keras.layers.Dense(args.hidden, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dropout(args.dropout),
            keras.layers.Dense(args.classes),
        ])
        model.compile(optimizer=keras.optimizers.Adam(args.lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callback = TrainwatchCallback(run_dir=args.run_dir, config={k: v for k, v in vars(args).items()
                                                                if k not in ("resume", "run_dir")},
                                  dataset_sizes={"train": args.train_size, "val": args.val_size},
                                  resumed_from=args.resume, initial_epoch=initial_epoch)
    callbacks = [callback, keras.callbacks.CSVLogger(os.path.join(callback.session.run_dir, "training_log.csv"),
                                                     append=True)]
    if args.batch_sleep:
        callbacks.append(keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(args.batch_sleep)))
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=args.batch_size,
              initial_epoch=initial_epoch, callbacks=callbacks, verbose=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
