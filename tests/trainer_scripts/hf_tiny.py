"""A tiny Hugging Face model built from a config here (no downloads), trained by the Trainer."""
import sys
import time

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

from trainers.hf_callback import TrainwatchHFCallback


class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.03)


class Data(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 60, (n, 8), generator=generator)
        self.labels = (self.ids[:, 0] > 30).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


if __name__ == "__main__":
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    arguments = TrainingArguments(output_dir=sys.argv[1], num_train_epochs=100, per_device_train_batch_size=16,
                                  learning_rate=1e-3, logging_steps=5, eval_strategy="epoch", save_strategy="no",
                                  report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=BertForSequenceClassification(config), args=arguments, train_dataset=Data(128, 1),
                      eval_dataset=Data(32, 2), callbacks=[TrainwatchHFCallback(), Slow()])
    trainer.train()
