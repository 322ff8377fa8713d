"""Benchmark: how fast an appended line reaches the real terminal, and the UI's CPU use when idle.

Runs `trainwatch tail` in tmux at 100x30 on an event log, appends metric lines from this process
(a separate process from the UI), and polls `tmux capture-pane` until each line's value is on
screen. Idle CPU comes from /proc/PID/stat over a quiet stretch. Prints a table; no pass/fail.

    .venv/bin/python tests/benchmarks/live_latency.py [--lines 60] [--idle-seconds 20]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time

from tui.diagnosis.signal import fmt  # the number format the table uses

TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics_line(step: int, loss: float, written_at: float | None = None) -> str:
    return json.dumps({"event": "metrics", "time": written_at or time.time(), "step": step, "epoch": step,
                       "metrics": {"loss": loss, "val_loss": loss + 0.1}}) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="trainwatch-bench-")
    log = os.path.join(workdir, "events.jsonl")
    with open(log, "w") as handle:
        # A run that has trained for an hour: its history spans the last hour of wall time.
        for step in range(100):
            handle.write(metrics_line(step, 1.0 / (step + 1), time.time() - 3600 + step * 36))
    socket = os.path.join(workdir, "tmux.sock")
    tmux = ["tmux", "-S", socket]
    subprocess.run(tmux + ["new-session", "-d", "-s", "bench", "-x", "100", "-y", "30",
                           f"exec env XDG_CONFIG_HOME={workdir} TERM=xterm-256color {TRAINWATCH} tail {log}"],
                   check=True)

    def screen() -> str:
        return subprocess.run(tmux + ["capture-pane", "-p", "-t", "bench"], capture_output=True, text=True).stdout

    try:
        pid = int(subprocess.run(tmux + ["list-panes", "-t", "bench", "-F", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout.strip())
        started = time.monotonic()
        while "epoch 99" not in screen():
            if time.monotonic() - started > 30:
                sys.exit("the UI never showed the log")
            time.sleep(0.05)
        first_screen = time.monotonic() - started

        time.sleep(3.0)  # let start-up work finish before measuring the quiet state
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)

        latencies = []
        with open(log, "a") as handle:
            for index in range(args.lines):
                step = 100 + index
                loss = round(0.2 + index * 0.0001 + 0.00001, 5)  # unique on screen as 0.2xxx
                text = fmt(loss)
                handle.write(metrics_line(step, loss))
                handle.flush()
                written = time.monotonic()
                while text not in screen() or f"epoch {step}" not in screen():
                    if time.monotonic() - written > 5:
                        break
                    time.sleep(0.002)
                latencies.append(time.monotonic() - written)
                time.sleep(0.2 + random.random() * 0.2)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
    print(f"trainwatch live benchmark on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'first screen of a 100-epoch log (tmux)':<44}{first_screen * 1000:>10.0f} ms")
    print(f"{'append -> on screen, p50 (' + str(len(latencies)) + ' lines)':<44}"
          f"{statistics.median(latencies) * 1000:>10.0f} ms")
    print(f"{'append -> on screen, p95':<44}{p95 * 1000:>10.0f} ms")
    print(f"{'append -> on screen, max':<44}{latencies[-1] * 1000:>10.0f} ms")
    print(f"{'CPU when idle (' + format(args.idle_seconds, 'g') + ' s, % of one core)':<44}{idle_share * 100:>10.2f} %")


if __name__ == "__main__":
    main()
