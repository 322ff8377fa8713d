"""A tiny Hugging Face model built from a config here (no downloads), trained by the Trainer.

``hf_tiny.py OUTPUT_DIR [TRACE_DIR] [--epochs E --save_steps N --save_total_limit K]``; under ``torchrun`` it trains data-parallel (gloo). With a
trace directory each rank writes the LR it trained each step with, and at the end its weights' hash."""
import hashlib
import json
import os
import sys
import time

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

from trainers.hf_callback import TrainwatchHFCallback


class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.03)


class Trace(TrainerCallback):
    def __init__(self, directory):
        self.path = os.path.join(directory, f"rank{int(os.environ.get('RANK', 0))}.jsonl")

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": state.global_step + 1, "lr": optimizer.param_groups[0]["lr"]}) + "\n")

    def on_train_end(self, args, state, control, model=None, **kwargs):
        weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"sha256": hashlib.sha256(weights.numpy().tobytes()).hexdigest()}) + "\n")


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
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("trace", nargs="?")
    parser.add_argument("--epochs", type=float, default=100)
    parser.add_argument("--save_steps", type=int, default=0, help="save every N steps (0: never)")
    parser.add_argument("--save_total_limit", type=int, default=None)
    options = parser.parse_args()
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    saving = ({"save_strategy": "steps", "save_steps": options.save_steps, "save_total_limit": options.save_total_limit}
              if options.save_steps else {"save_strategy": "no"})
    arguments = TrainingArguments(output_dir=options.output_dir, num_train_epochs=options.epochs,
                                  per_device_train_batch_size=16, learning_rate=1e-3, logging_steps=5,
                                  eval_strategy="epoch", report_to=[], use_cpu=True, disable_tqdm=True, **saving,
                                  # under torchrun (gloo on CPU); alone, naming a backend asks for a group
                                  **({"ddp_backend": "gloo"} if int(os.environ.get("WORLD_SIZE", 1)) > 1 else {}))
    trace = [Trace(options.trace)] if options.trace else []
    torch.manual_seed(0)
    trainer = Trainer(model=BertForSequenceClassification(config), args=arguments, train_dataset=Data(128, 1),
                      eval_dataset=Data(32, 2), callbacks=[TrainwatchHFCallback(), Slow(), *trace])
    trainer.train()
