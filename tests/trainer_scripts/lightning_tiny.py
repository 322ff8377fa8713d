"""A tiny Lightning regression model built here (no downloads), slowed so a test can steer it."""
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


if __name__ == "__main__":
    trainer = pl.Trainer(max_epochs=200, callbacks=[TrainwatchLightningCallback(config={"lr": 0.05})],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data(256, 1), batch_size=32),
                torch.utils.data.DataLoader(data(64, 2), batch_size=64))
