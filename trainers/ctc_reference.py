"""Reference trainer 1: a PyTorch CTC sequence model (conv front-end + BiGRU) on synthetic speech.

The data is made here, never downloaded: sentences of words over a small alphabet are "spoken" as
frames of noisy feature vectors, each symbol held for a few frames, each utterance by a "speaker"
who distorts every symbol's sound a little differently. The task is genuinely learnable (default
settings reach a val WER well under 50% within a few CPU minutes) and can be pushed into the
failure modes trainwatch flags:

- overfitting: ``--train_size 64 --dropout 0 --weight_decay 0 --hidden 192``
- blank collapse: ``--lr 0.05`` (a bad LR) or ``--frames_per_symbol 1 --subsample 2`` (too few frames)

Run ``python -m trainers.ctc_reference --help``. Under ``trainwatch run`` it logs to the run
directory trainwatch hands over and obeys LR change, checkpoint and graceful stop; on its own it logs
to ``--run_dir`` (default ``runs/manual``). Hyperparameters come from flags, or from ``--config
FILE.yaml`` whose keys are the flag names (flags given on the command line win).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from trainers.flag_config import parse_flags
from trainers.session import resume_from_env
from trainers.torch_control import TorchControl

ALPHABET = "abcdefghijkl"
SPACE = " "
SYMBOLS = ALPHABET + SPACE
BLANK = 0  # CTC blank is class 0; symbol i is class i + 1
FEATURES = 24


# Data -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Utterance:
    frames: torch.Tensor  # (time, FEATURES)
    labels: list[int]
    text: str


class SyntheticSpeech:
    """A fixed "language" (vocabulary and symbol sounds) from which utterances are drawn.

    The language comes from ``language_seed`` so the train and val sets share it; each split draws
    its own sentences and speakers.
    """

    def __init__(self, language_seed: int = 7, vocabulary: int = 40, noise: float = 0.9,
                 speaker_spread: float = 0.35, frames_per_symbol: int = 3) -> None:
        rng = random.Random(language_seed)
        gen = torch.Generator().manual_seed(language_seed)
        self.words = sorted({"".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 4)))
                             for _ in range(vocabulary * 2)})[:vocabulary]
        self.sounds = torch.randn(len(SYMBOLS), FEATURES, generator=gen)
        self.noise = noise
        self.speaker_spread = speaker_spread
        self.frames_per_symbol = frames_per_symbol

    def utterance(self, rng: random.Random, gen: torch.Generator) -> Utterance:
        text = SPACE.join(rng.choice(self.words) for _ in range(rng.randint(2, 4)))
        labels = [SYMBOLS.index(ch) + 1 for ch in text]
        speaker = torch.eye(FEATURES) + self.speaker_spread * torch.randn(FEATURES, FEATURES, generator=gen) \
            / math.sqrt(FEATURES)
        pieces = []
        for ch in text:
            hold = max(1, self.frames_per_symbol + rng.choice((-1, 0, 0, 1)))
            pieces.append(self.sounds[SYMBOLS.index(ch)].expand(hold, FEATURES))
        clean = torch.cat(pieces) @ speaker
        frames = clean + self.noise * torch.randn(clean.shape, generator=gen)
        return Utterance(frames, labels, text)

    def split(self, size: int, seed: int) -> list[Utterance]:
        rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        return [self.utterance(rng, gen) for _ in range(size)]


def batches(data: list[Utterance], batch_size: int, shuffle: bool, rng: random.Random):
    order = list(range(len(data)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = [data[i] for i in order[start:start + batch_size]]
        lengths = torch.tensor([u.frames.shape[0] for u in chunk])
        frames = nn.utils.rnn.pad_sequence([u.frames for u in chunk], batch_first=True)
        targets = torch.tensor([label for u in chunk for label in u.labels])
        target_lengths = torch.tensor([len(u.labels) for u in chunk])
        yield frames, lengths, targets, target_lengths, chunk


# Model ------------------------------------------------------------------------------------------

class CtcModel(nn.Module):
    def __init__(self, hidden: int, layers: int, dropout: float, context: int, subsample: int) -> None:
        super().__init__()
        self.subsample = subsample
        # Dropout on the input features too: on a small train set it is what stops the model from
        # memorising each training speaker (the regularize preset's dropout 0.5 then visibly helps).
        self.front = nn.Sequential(
            nn.Dropout(dropout),
            nn.Conv1d(FEATURES, hidden, kernel_size=context, stride=subsample, padding=context // 2),
            nn.ReLU(), nn.Dropout(dropout))
        self.rnn = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, len(SYMBOLS) + 1)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        conv = self.front[1]
        kernel, padding = conv.kernel_size[0], conv.padding[0]
        return (lengths + 2 * padding - kernel) // self.subsample + 1

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        hidden = self.front(frames.transpose(1, 2)).transpose(1, 2)
        hidden, _ = self.rnn(hidden)
        return self.out(self.drop(hidden)).log_softmax(-1)  # (batch, time, classes)


def greedy_decode(log_probs: torch.Tensor, length: int) -> tuple[str, float]:
    """Best path, repeats merged, blanks dropped; also the share of frames that were blank."""
    best = log_probs[:length].argmax(-1).tolist()
    text, previous = [], BLANK
    for label in best:
        if label != previous and label != BLANK:
            text.append(SYMBOLS[label - 1])
        previous = label
    blank_ratio = best.count(BLANK) / max(1, len(best))
    return "".join(text).strip(), blank_ratio


def edit_distance(a: list, b: list) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


# Training ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainers.ctc_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML file whose keys are flag names (flags on the command line win)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=1e-4)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--context", type=int, default=5, help="conv front-end width in frames (odd)")
    parser.add_argument("--subsample", type=int, default=1, help="time stride of the front-end")
    parser.add_argument("--frames_per_symbol", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.9, help="feature noise (harder with more)")
    parser.add_argument("--speaker_spread", type=float, default=0.35,
                        help="how differently each utterance's speaker sounds (more: harder to generalise)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--train_size", type=int, default=1200)
    parser.add_argument("--val_size", type=int, default=200)
    parser.add_argument("--schedule", choices=("none", "cosine", "step"), default="none")
    parser.add_argument("--warmup", type=int, default=0, help="epochs of linear LR warm-up")
    parser.add_argument("--freeze", type=int, default=0, help="1: freeze the conv front-end (fine-tuning)")
    parser.add_argument("--clip", type=float, default=5.0, help="gradient norm clip (0: off)")
    parser.add_argument("--decodes", type=int, default=4, help="sample decodes logged per epoch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resume", default=resume_from_env(), help="checkpoint to resume from")
    parser.add_argument("--run_dir", help="where to log when not launched by trainwatch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--epoch_sleep", type=float, default=0.0, help="pause after each epoch (demos, tests)")
    return parse_flags(parser, argv)


def evaluate(model: CtcModel, data: list[Utterance], batch_size: int, device: torch.device,
             ctc: nn.CTCLoss, decodes_wanted: int = 0):
    model.eval()
    total_loss, words, word_errors, chars, char_errors, samples = 0.0, 0, 0, 0, 0, []
    with torch.no_grad():
        for frames, lengths, targets, target_lengths, chunk in batches(data, batch_size, False, random.Random(0)):
            log_probs = model(frames.to(device))
            out_lengths = model.output_lengths(lengths)
            loss = ctc(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
            total_loss += loss.item() * len(chunk)
            for index, utterance in enumerate(chunk):
                hypothesis, blank_ratio = greedy_decode(log_probs[index].cpu(), int(out_lengths[index]))
                words += len(utterance.text.split())
                word_errors += edit_distance(utterance.text.split(), hypothesis.split())
                chars += len(utterance.text)
                char_errors += edit_distance(list(utterance.text), list(hypothesis))
                if len(samples) < decodes_wanted:
                    samples.append((utterance.text, hypothesis, blank_ratio))
    model.train()
    return total_loss / len(data), 100.0 * word_errors / words, 100.0 * char_errors / chars, samples


def lr_factor_for_epoch(args: argparse.Namespace, epoch: int) -> float:
    """Warm-up, then the schedule; multiplies the base LR (a scheduler's base_lrs)."""
    factor = 1.0
    if args.warmup and epoch < args.warmup:
        factor = (epoch + 1) / (args.warmup + 1)
    if args.schedule == "cosine":
        factor *= 0.5 * (1 + math.cos(math.pi * epoch / max(1, args.epochs)))
    elif args.schedule == "step":
        factor *= 0.3 ** (epoch // max(1, args.epochs // 3))
    return factor


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.context % 2 == 0:
        args.context += 1  # keep the output as long as the input (symmetric padding)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(args.seed)
    language = SyntheticSpeech(noise=args.noise, speaker_spread=args.speaker_spread,
                               frames_per_symbol=args.frames_per_symbol)
    train = language.split(args.train_size, seed=1000 + args.seed)
    val = language.split(args.val_size, seed=99)  # the same val set whatever the seed: runs compare

    model = CtcModel(args.hidden, args.layers, args.dropout, args.context, args.subsample).to(device)
    if args.freeze:
        for parameter in model.front.parameters():
            parameter.requires_grad = False
    # Adam with L2 in the gradient (not AdamW): weight decay then fights memorisation noticeably.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                  weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor_for_epoch(args, epoch))
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    state = {"epoch": 0, "step": 0, "best_wer": float("inf")}

    def checkpoint(path: str) -> None:
        temporary = path + ".tmp"
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "state": dict(state), "args": vars(args)}, temporary)
        os.replace(temporary, path)  # a reader never sees half a checkpoint

    control = TorchControl(optimizer, scheduler, save=checkpoint, run_dir=args.run_dir)
    log = control.log
    if args.resume:
        saved = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        if not args.freeze:  # a frozen fine-tune starts its own optimizer
            optimizer.load_state_dict(saved["optimizer"])
            for group in optimizer.param_groups:  # the new run's flags decide the LR
                group["lr"] = group["initial_lr"] = args.lr
        state.update(saved["state"])
        scheduler.base_lrs = [args.lr for _ in optimizer.param_groups]
        scheduler.last_epoch = state["epoch"] - 1
        scheduler.step()
    config = {key: value for key, value in vars(args).items() if key not in ("resume", "run_dir")}
    control.start(config=config, dataset_sizes={"train": len(train), "val": len(val)},
                  resumed_from=args.resume, start_epoch=state["epoch"], start_step=state["step"])
    print(f"ctc_reference: {sum(p.numel() for p in model.parameters())} parameters on {device}; "
          f"train {len(train)}, val {len(val)}; logging to {control.session.run_dir}", flush=True)

    rng = random.Random(args.seed)
    stopped = False
    for epoch in range(state["epoch"], args.epochs):
        started, losses = time.time(), []
        for frames, lengths, targets, target_lengths, _ in batches(train, args.batch_size, True, rng):
            log_probs = model(frames.to(device))
            loss = ctc(log_probs.transpose(0, 1), targets, model.output_lengths(lengths), target_lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            losses.append(loss.item())
            state["step"] += 1
            if control.poll(state["step"], epoch + len(losses) * args.batch_size / len(train)):
                stopped = True
                break
        if stopped:
            break
        scheduler.step()
        state["epoch"] = epoch + 1
        val_loss, val_wer, val_cer, samples = evaluate(model, val, args.batch_size, device, ctc, args.decodes)
        train_loss = sum(losses) / max(1, len(losses))
        log.metrics(step=state["step"], epoch=epoch + 1, loss=train_loss, val_loss=val_loss, val_wer=val_wer,
                    val_cer=val_cer, lr=control.lr, epoch_seconds=time.time() - started)
        for index, (reference, hypothesis, blank_ratio) in enumerate(samples):
            log.decode(reference, hypothesis, step=state["step"], epoch=epoch + 1, blank_ratio=blank_ratio,
                       sample=f"val-{index}")
        if val_wer < state["best_wer"]:
            state["best_wer"] = val_wer
            path = control.session.checkpoint_path("best.pt")
            checkpoint(path)
            log.checkpoint(path, step=state["step"], epoch=epoch + 1, tag="best")
        path = control.session.checkpoint_path("last.pt")
        checkpoint(path)
        log.checkpoint(path, step=state["step"], epoch=epoch + 1, tag="last")
        print(f"Epoch {epoch + 1}/{args.epochs} loss {train_loss:.4f} val_loss {val_loss:.4f} "
              f"val_wer {val_wer:.1f} val_cer {val_cer:.1f} lr {control.lr:.3g} ({time.time() - started:.1f}s)",
              flush=True)
        if args.epoch_sleep:
            time.sleep(args.epoch_sleep)
        if control.poll(state["step"], epoch + 1):
            stopped = True
            break
    control.finish("stopped" if stopped else "finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
