"""Helpers for tests that launch real training processes: wait for events, read a run's log."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from tui.runs.run_control import RunHandle

PYTHON = sys.executable


def events(run_dir: str, kind: str | None = None) -> list[dict]:
    path = os.path.join(run_dir, "events.jsonl")
    if not os.path.exists(path):
        return []
    found = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the half-written last line
            if kind is None or event.get("event") == kind:
                found.append(event)
    return found


def wait_for(predicate, timeout: float = 120.0, what: str = "condition", run_dir: str | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    detail = ""
    if run_dir:
        for name in ("stderr.log", "stdout.log"):
            path = os.path.join(run_dir, name)
            if os.path.exists(path):
                detail += f"\n--- {name}:\n" + open(path, errors="replace").read()[-3000:]
    raise AssertionError(f"timed out waiting for {what}{detail}")


def lr_values(run_dir: str) -> list[float]:
    return [e["metrics"]["lr"] for e in events(run_dir, "metrics") if "lr" in e["metrics"]]


def exercise_control(run_dir: str, checkpoint_name_part: str) -> RunHandle:
    """LR change (acknowledged, visible in the LR series), checkpoint now, graceful stop: the part
    every integration must pass the same way."""
    handle = RunHandle(run_dir)
    wait_for(lambda: events(run_dir, "metrics"), 240, "the first metrics", run_dir)
    assert handle.controllable
    command_id, _ = handle.set_lr("x0.5")
    ack = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "the LR acknowledgement", run_dir)
    assert ack["applied"] is True, ack
    before, after = ack["detail"]["previous_lr"], ack["detail"]["lr"]  # a schedule may have moved it since the log
    assert after == pytest.approx(before * 0.5)
    wait_for(lambda: any(v == pytest.approx(after) for v in lr_values(run_dir)), 60, "the new LR logged", run_dir)
    command_id = handle.checkpoint()
    ack = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "the checkpoint acknowledgement", run_dir)
    assert ack["applied"] is True, ack
    wait_for(lambda: os.path.exists(ack["detail"]["path"]), 30, "the checkpoint file", run_dir)
    assert checkpoint_name_part in os.path.basename(ack["detail"]["path"])
    # The same command id appended again is never applied twice.
    with open(os.path.join(run_dir, "control.jsonl"), "a", encoding="utf-8") as file:
        file.write(json.dumps({"id": command_id, "action": "checkpoint"}) + "\n")
    result = handle.stop()
    assert "gracefully" in result and "exit code 0" in result, result
    assert handle.refresh().exit_code == 0
    assert events(run_dir, "status")[-1]["state"] == "stopped"
    assert [a["command_id"] for a in events(run_dir, "ack")].count(command_id) == 1
    return handle


@contextlib.contextmanager
def another_user(prefix: str = "twuser"):
    """A real second account for the test's lifetime (tests run as root), removed afterwards."""
    if os.getuid() != 0:
        pytest.skip("needs root to create a second user")
    name = f"{prefix}{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)
