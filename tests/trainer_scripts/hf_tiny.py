"""A tiny Hugging Face model built from a config here (no downloads), trained by the Trainer.

``hf_tiny.py OUTPUT_DIR [TRACE_DIR]``; under ``torchrun`` it trains data-parallel (gloo). With a
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
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    arguments = TrainingArguments(output_dir=sys.argv[1], num_train_epochs=100, per_device_train_batch_size=16,
                                  learning_rate=1e-3, logging_steps=5, eval_strategy="epoch", save_strategy="no",
                                  report_to=[], use_cpu=True, disable_tqdm=True,
                                  # under torchrun (gloo on CPU); alone, naming a backend asks for a group
                                  **({"ddp_backend": "gloo"} if int(os.environ.get("WORLD_SIZE", 1)) > 1 else {}))
    trace = [Trace(sys.argv[2])] if len(sys.argv) > 2 else []
    torch.manual_seed(0)
    trainer = Trainer(model=BertForSequenceClassification(config), args=arguments, train_dataset=Data(128, 1),
                      eval_dataset=Data(32, 2), callbacks=[TrainwatchHFCallback(), Slow(), *trace])
    trainer.train()
