"""A tiny Lightning regression model built here (no downloads), slowed so a test can steer it.

``--devices N``: DDP over N CPU processes (Lightning launches them); ``--trace DIR``: each rank
writes the LR it trained each batch with, and at the end the SHA-256 of its weights."""
import argparse
import hashlib
import json
import os
import time

import lightning.pytorch as pl
import torch
from torch import nn

from trainers.lightning_callback import TrainwatchLightningCallback


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))

    def training_step(self, batch, index):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        time.sleep(0.02)
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.05)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 50, 0.9)}


def data(n, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))


class Trace(pl.Callback):
    """Per rank: the LR of every batch, then the final weights' hash."""

    def __init__(self, directory):
        self.directory = directory

    def _file(self, trainer):
        return open(os.path.join(self.directory, f"rank{trainer.global_rank}.jsonl"), "a")

    def on_train_batch_start(self, trainer, module, batch, index):
        with self._file(trainer) as handle:
            handle.write(json.dumps({"step": trainer.global_step + 1,
                                     "lr": trainer.optimizers[0].param_groups[0]["lr"]}) + "\n")

    def on_train_end(self, trainer, module):
        weights = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
        with self._file(trainer) as handle:
            handle.write(json.dumps({"sha256": hashlib.sha256(weights.numpy().tobytes()).hexdigest()}) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--trace")
    args = parser.parse_args()
    callbacks = [TrainwatchLightningCallback(config={"lr": 0.05})] + ([Trace(args.trace)] if args.trace else [])
    parallel = {"strategy": "ddp", "devices": args.devices} if args.devices > 1 else {}
    trainer = pl.Trainer(max_epochs=200, callbacks=callbacks, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, accelerator="cpu", **parallel)
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data(256, 1), batch_size=32),
                torch.utils.data.DataLoader(data(64, 2), batch_size=64))
