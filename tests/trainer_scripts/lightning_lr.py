"""Lightning with a per-step LambdaLR that halves the LR at each epoch boundary (counted in steps),
so at the end of an epoch the optimizer already holds the next epoch's LR. Writes, per epoch, the
LRs its batches trained with to argv[1]."""
import json
import sys

import lightning.pytorch as pl
import torch
from torch import nn

from trainers.lightning_callback import TrainwatchLightningCallback

STEPS_PER_EPOCH = 4


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, index):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** (step // STEPS_PER_EPOCH))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class TrainedWith(pl.Callback):
    def __init__(self, path):
        self.path, self.seen = path, {}

    def on_train_batch_start(self, trainer, module, batch, index):
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.seen.setdefault(trainer.current_epoch + 1, set()).add(lr)

    def on_train_end(self, trainer, module):
        with open(self.path, "w") as handle:
            json.dump({epoch: sorted(rates) for epoch, rates in self.seen.items()}, handle)


if __name__ == "__main__":
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=16)
    trainer = pl.Trainer(max_epochs=4, callbacks=[TrainwatchLightningCallback(), TrainedWith(sys.argv[1])],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    trainer.fit(Tiny(), data)
