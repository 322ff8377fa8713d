"""Write-to-arrival latency of a remote tail, through a real sshd on 127.0.0.1 (tests/ssh_server.py).

    .venv/bin/python tests/benchmarks/remote_latency.py   # needs openssh-server (scripts/test.sh installs it)

A writer appends one event every 0.1 s (a run logging steadily), then single events after 5 s of
quiet (a run logging per epoch); each event carries its write time, and the follower notes when it
arrives. Also prints the CPU the remote stream script costs while the log is quiet.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

from ssh_server import start_ssh_server  # noqa: E402
from tui.model.records import MetricRecord  # noqa: E402
from tui.follow.remote_follower import RemoteFollower  # noqa: E402
from tui.ssh.remote_target import RemoteTarget  # noqa: E402
from tui.ssh.ssh_connection import SSH_COMMAND_ENV  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    server = start_ssh_server()
    os.environ[SSH_COMMAND_ENV] = server.ssh_command
    directory = tempfile.mkdtemp(prefix="trainwatch-remote-bench-")
    path = os.path.join(directory, "events.jsonl")
    open(path, "w").close()
    follower = RemoteFollower(RemoteTarget("twtest", path))
    arrivals: dict[int, float] = {}

    def follow() -> None:
        for batch in follower.batches():
            now = time.time()
            for record in batch.records:
                if isinstance(record, MetricRecord) and record.step is not None:
                    arrivals.setdefault(record.step, now)
    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    written: dict[int, float] = {}

    def write(step: int) -> None:
        written[step] = time.time()
        with open(path, "a") as log:
            log.write(json.dumps({"event": "metrics", "step": step, "metrics": {"loss": 1.0}}) + "\n")
    time.sleep(2)
    for step in range(100):  # steady: 10 events/s
        write(step)
        time.sleep(0.1)
    for step in range(100, 106):  # after quiet: the script has slowed to one look a second
        time.sleep(5)
        write(step)
    time.sleep(2)
    steady = [(arrivals[s] - written[s]) * 1000 for s in range(100) if s in arrivals]
    quiet = [(arrivals[s] - written[s]) * 1000 for s in range(100, 106) if s in arrivals]
    shells = subprocess.run(["pgrep", "-f", "^sh -s"], capture_output=True, text=True).stdout.split()
    cpu_before = sum(_cpu_seconds(int(pid)) for pid in shells)
    time.sleep(20)
    cpu_after = sum(_cpu_seconds(int(pid)) for pid in shells)
    follower.stop()
    thread.join(timeout=10)
    server.stop()
    print(f"events received: {len(arrivals)} of {len(written)}")
    print(f"steady (10/s):  p50 {statistics.median(steady):.0f} ms  p95 {percentile(steady, 0.95):.0f} ms  "
          f"max {max(steady):.0f} ms")
    print(f"after 5 s quiet: p50 {statistics.median(quiet):.0f} ms  max {max(quiet):.0f} ms")
    print(f"remote stream script CPU while quiet: {100 * (cpu_after - cpu_before) / 20:.2f} % of one core "
          "(the shell and the ls/sleep it runs)")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(value) for value in fields[11:15]) / ticks  # utime, stime, cutime, cstime


if __name__ == "__main__":
    main()
