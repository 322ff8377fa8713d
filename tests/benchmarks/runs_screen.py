"""The runs screen's refresh with 50 runs: the first look (every log read once), a look when
nothing changed, and a look while 5 of them are being written (the cost of each refresh cycle).

    .venv/bin/python tests/benchmarks/runs_screen.py
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tui.view.run_table import RunTable  # noqa: E402

RUNS, EPOCHS, STEPS_PER_EPOCH = 50, 100, 20


def make_runs(root: str) -> list[str]:
    paths = []
    for number in range(RUNS):
        run = os.path.join(root, f"exp-{number}")
        os.makedirs(run)
        path = os.path.join(run, "events.jsonl")
        with open(path, "w") as log:
            log.write(json.dumps({"event": "run_start", "time": 1.0, "config": {"epochs": EPOCHS * 2}}) + "\n")
            for epoch in range(1, EPOCHS + 1):
                for step in range(STEPS_PER_EPOCH):
                    log.write(json.dumps({"event": "metrics", "time": 1.0 + epoch, "step": epoch * STEPS_PER_EPOCH + step,
                                          "epoch": epoch, "metrics": {"loss": 1 / epoch + 0.001 * step}}) + "\n")
                log.write(json.dumps({"event": "metrics", "time": 1.0 + epoch, "step": (epoch + 1) * STEPS_PER_EPOCH,
                                      "epoch": epoch, "metrics": {"val_loss": 1.2 / epoch + 0.002 * epoch,
                                                                  "val_acc": 1 - 1 / (epoch + 1)}}) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        paths = make_runs(root)
        table = RunTable(root)
        started = time.perf_counter()
        rows = table.rows(time.time())
        first = time.perf_counter() - started
        assert len(rows) == RUNS
        idle = []
        for _ in range(10):
            started = time.perf_counter()
            table.rows(time.time())
            idle.append(time.perf_counter() - started)
        growing = []
        for cycle in range(10):
            for path in paths[:5]:
                with open(path, "a") as log:
                    log.write(json.dumps({"event": "metrics", "time": 500.0 + cycle, "step": 10_000 + cycle,
                                          "epoch": EPOCHS + 1, "metrics": {"val_loss": 0.5, "val_acc": 0.9}}) + "\n")
            started = time.perf_counter()
            table.rows(time.time())
            growing.append(time.perf_counter() - started)
        print(f"{RUNS} runs of {EPOCHS * (STEPS_PER_EPOCH + 1)} records each")
        print(f"first look (every log read and diagnosed): {first:.2f} s")
        print(f"refresh, nothing new: median {statistics.median(idle) * 1000:.1f} ms")
        print(f"refresh, 5 runs growing: median {statistics.median(growing) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
