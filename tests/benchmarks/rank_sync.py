"""What trainwatch costs a multi-process run when nothing is pending: one safe point's exchange.

    .venv/bin/python tests/benchmarks/rank_sync.py [--ranks 2] [--polls 2000]

Starts itself under torchrun (gloo on CPU, NCCL when CUDA is there) and times, on every rank,
``TrainwatchSession.handle_commands`` with no command pending: with the default exchange at every
safe point, with TRAINWATCH_SYNC_EVERY=10, and a bare ``all_gather_object`` of the same payload
for reference. Prints microseconds per call (median over ranks of each rank's mean).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def measure(polls: int) -> None:
    import torch
    import torch.distributed as dist

    from trainers.session import TrainwatchSession

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    results = {}
    run_dir = os.environ["BENCH_RUN_DIR"]
    for label, every in (("handle_commands, exchange every safe point", 1),
                         ("handle_commands, TRAINWATCH_SYNC_EVERY=10", 10)):
        session = TrainwatchSession(run_dir, sync_every=every)
        session.start(config={})
        dist.barrier()
        started = time.perf_counter()
        for step in range(polls):
            session.handle_commands(get_lr=lambda: 0.1, set_lr=lambda value: None, save_checkpoint=lambda tag: None,
                                    step=step)
        results[label] = (time.perf_counter() - started) / polls * 1e6
    gathered = [None] * dist.get_world_size()
    dist.barrier()
    started = time.perf_counter()
    for _ in range(polls):
        dist.all_gather_object(gathered, {})
    results["bare all_gather_object({})"] = (time.perf_counter() - started) / polls * 1e6
    everything = [None] * dist.get_world_size()
    dist.all_gather_object(everything, results)
    if dist.get_rank() == 0:
        backend = dist.get_backend()
        print(f"{dist.get_world_size()} ranks, {backend}, {polls} safe points, no command pending:")
        for label in results:
            print(f"  {label:48} {statistics.median(rank[label] for rank in everything):8.1f} us per call")
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        measure(args.polls)
        return 0
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    with tempfile.TemporaryDirectory() as run_dir:
        return subprocess.call([torchrun, "--standalone", "--nproc_per_node", str(args.ranks), os.path.abspath(__file__),
                                "--inside", "--polls", str(args.polls)], env={**os.environ, "BENCH_RUN_DIR": run_dir})


if __name__ == "__main__":
    sys.exit(main())
