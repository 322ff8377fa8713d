"""Reference trainer 3: data-parallel PyTorch under ``torchrun`` (DistributedDataParallel).

    trainwatch run -- torchrun --nproc_per_node 2 -m trainers.ddp_reference --epochs 20

A small MLP regresses synthetic data made here (each rank draws its own batches); gloo on CPU,
NCCL when CUDA is there. It uses TorchControl exactly as a one-process script does: trainwatch
sees the process group by itself, so rank 0 writes the event log and every command is applied on
every rank at the same step.

For the tests and for trying stragglers: ``--slow_rank R --slow_seconds S`` makes rank R sleep S
seconds each step; ``--trace DIR`` makes each rank write, per step, the LR it trained with to
``DIR/rank<N>.jsonl``, and at the end the SHA-256 of its weights, with rank 0 writing whether all
replicas are identical bit for bit (``DIR/replicas.json``, from an all_gather of the weights).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import torch
import torch.distributed as dist
from torch import nn

from trainers.flag_config import parse_flags
from trainers.ranks import process_group_env_from_slurm
from trainers.session import resume_from_env
from trainers.torch_control import TorchControl

FEATURES = 16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torchrun ... -m trainers.ddp_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML file whose keys are flag names (flags on the command line win)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps_per_epoch", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight_decay", type=float, default=0.0)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--log_every_step", action="store_true", help="log the train loss at every step")
    parser.add_argument("--slow_rank", type=int, default=-1, help="this rank sleeps --slow_seconds each step")
    parser.add_argument("--slow_seconds", type=float, default=0.0)
    parser.add_argument("--trace", help="directory for each rank's per-step LR and final weight hash")
    parser.add_argument("--resume", default=resume_from_env(), help="checkpoint to resume from")
    parser.add_argument("--run_dir", default=None)
    return parse_flags(parser, argv)


def weights_of(model: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().reshape(-1).cpu() for parameter in model.parameters()])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    os.environ.update(process_group_env_from_slurm())  # started by srun rather than torchrun
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if backend == "nccl" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    true_weights = torch.randn(FEATURES, 1)
    model = nn.Sequential(nn.Linear(FEATURES, args.hidden), nn.Tanh(), nn.Linear(args.hidden, 1)).to(device)
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.8)
    state = {"epoch": 0, "step": 0}

    def save(path: str) -> None:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), **state}, path)

    control = TorchControl(optimizer, scheduler, save=save, run_dir=args.run_dir)
    if args.resume:
        saved = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = {"epoch": saved["epoch"], "step": saved["step"]}
    config = {key: value for key, value in vars(args).items() if key not in ("resume", "run_dir", "trace")}
    control.start(config={**config, "world_size": world}, dataset_sizes={"val": 256 * world},
                  resumed_from=args.resume, start_epoch=state["epoch"], start_step=state["step"])
    trace = open(os.path.join(args.trace, f"rank{rank}.jsonl"), "a") if args.trace else None
    data = torch.Generator().manual_seed(1000 + rank)  # each rank its own shard of the data
    val_x = torch.randn(256, FEATURES, generator=torch.Generator().manual_seed(99 + rank))
    val_y = val_x @ true_weights
    stopped = False
    for epoch in range(state["epoch"], args.epochs):
        losses = []
        for index in range(args.steps_per_epoch):
            x = torch.randn(args.batch_size, FEATURES, generator=data)
            y = x @ true_weights + 0.1 * torch.randn(args.batch_size, 1, generator=data)
            loss = nn.functional.mse_loss(ddp(x.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            if trace:
                trace.write(json.dumps({"step": state["step"] + 1, "lr": optimizer.param_groups[0]["lr"]}) + "\n")
            optimizer.step()
            state["step"] += 1
            losses.append(loss.item())
            if rank == args.slow_rank:
                time.sleep(args.slow_seconds)
            where = epoch + (index + 1) / args.steps_per_epoch
            if args.log_every_step:
                control.log.metrics(step=state["step"], epoch=where, loss=losses[-1])
            if control.poll(state["step"], where):
                stopped = True
                break
        with torch.no_grad():
            val_loss = nn.functional.mse_loss(model(val_x.to(device)), val_y.to(device)).item()
        state["epoch"] = epoch + 1
        control.log.metrics(step=state["step"], epoch=epoch + 1, loss=sum(losses) / max(1, len(losses)),
                            val_loss=val_loss, lr=control.lr)
        if stopped:
            break
        scheduler.step()
    weights = weights_of(model)
    if trace:
        gathered = [torch.zeros_like(weights) for _ in range(world)]
        dist.all_gather(gathered, weights.to(device) if backend == "nccl" else weights)
        trace.write(json.dumps({"sha256": hashlib.sha256(weights.numpy().tobytes()).hexdigest()}) + "\n")
        trace.close()
        if rank == 0:
            identical = all(torch.equal(gathered[0].cpu(), other.cpu()) for other in gathered[1:])
            with open(os.path.join(args.trace, "replicas.json"), "w") as handle:
                json.dump({"identical": identical, "world_size": world, "steps": state["step"],
                           "max_difference": max(float((gathered[0].cpu() - other.cpu()).abs().max())
                                                 for other in gathered[1:])}, handle)
    control.finish()
    # Every rank done with every collective before any takes the group down: a rank destroying it
    # while another still finishes up has ended in "terminate called without an active exception"
    # (SIGABRT) at exit under gloo, a crash after a clean run.
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
