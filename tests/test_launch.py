"""Launching and acting on runs without a trainwatch callback, the control channel's guarantees,
presets applied to commands, and bad input refused with one clear line."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from run_helpers import PYTHON, events, wait_for
from tui.runs.control_client import ControlError, parse_lr_request, send_command
from tui.runs.launcher import LaunchError, launch_run
from tui.runs.presets import PresetError, Preset, PresetChange, get_preset, plan_restart
from tui.runs.restart import propose_restart
from tui.runs.run_control import RunHandle, RunNotRunning, StopTimeouts
from tui.follow.target_follower import TargetFollower
from tui.runs.run_record import NotOurRun
from tui.model.records import MetricRecord

from trainers.control import ControlChannel
from trainers.runlog import RunLog

FAST = StopTimeouts(graceful=5, interrupt=3, terminate=3)
LOOP = "import time\nprint('epoch 1 loss 0.5', flush=True)\nwhile True: time.sleep(0.05)"
STUBBORN = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready', flush=True)\n"
            "while True: time.sleep(0.05)")


def launch(tmp_path, command, **options):
    return launch_run(command, root=str(tmp_path / "runs"), cwd=str(tmp_path), **options)


def test_a_run_without_the_callback_is_stopped_by_sigint_and_refuses_lr_change(tmp_path):
    record = launch(tmp_path, [PYTHON, "-c", LOOP], name="plain")
    handle = RunHandle(record.run_dir)
    stdout = os.path.join(record.run_dir, "stdout.log")
    wait_for(lambda: os.path.exists(stdout) and "loss" in open(stdout).read(), 30, "its first printed line")
    assert handle.alive and record.name == "plain-1"
    with pytest.raises(ControlError, match="no trainwatch callback"):
        handle.set_lr("1e-4")
    assert "stopped by SIGINT" in handle.stop(FAST)
    record = handle.refresh()
    assert record.stop_signal == "SIGINT" and record.exit_code not in (None, 0)
    status = events(record.run_dir, "status")[-1]  # written by the supervisor for the trainer
    assert status["state"] == "stopped" and "SIGINT" in status["message"]
    with pytest.raises(RunNotRunning, match="not running"):
        handle.set_lr("1e-4")  # a dead process
    with pytest.raises(RunNotRunning):
        handle.stop(FAST)
    # Its event log holds only the supervisor's status: the metrics it printed are read instead.
    follower = TargetFollower(record.run_dir)
    first, second = follower.read_once(), follower.read_once()
    assert any("printed output" in notice for notice in first.notices)
    assert [r.values.get("loss") for r in second.records if isinstance(r, MetricRecord)] == [0.5]


def test_a_process_ignoring_sigint_gets_sigterm(tmp_path):
    record = launch(tmp_path, [PYTHON, "-c", STUBBORN])
    wait_for(lambda: "ready" in open(os.path.join(record.run_dir, "stdout.log")).read(), 30, "the script to start")
    assert "stopped by SIGTERM" in RunHandle(record.run_dir).stop(FAST)
    assert RunHandle(record.run_dir).record.exit_code == 128 + signal.SIGTERM


def test_crash_is_recorded_with_its_exit_code(tmp_path):
    record = launch(tmp_path, [PYTHON, "-c", "import sys; sys.exit(3)"])
    wait_for(lambda: RunHandle(record.run_dir).record.exit_code is not None, 30, "the exit code")
    assert RunHandle(record.run_dir).record.exit_code == 3
    assert events(record.run_dir, "status")[-1]["state"] == "crashed"


def test_run_directories_are_never_reused(tmp_path):
    first = launch(tmp_path, [PYTHON, "-c", "pass"], name="same")
    second = launch(tmp_path, [PYTHON, "-c", "pass"], name="same")
    assert (os.path.basename(first.run_dir), os.path.basename(second.run_dir)) == ("same-1", "same-2")


def test_control_file_is_owner_only_and_each_command_applies_once(tmp_path):
    run_dir = str(tmp_path)
    log = RunLog(tmp_path / "events.jsonl")
    channel = ControlChannel(run_dir, log)
    first = send_command(run_dir, "set_lr", factor=0.5)
    assert os.stat(tmp_path / "control.jsonl").st_mode & 0o777 == 0o600
    commands = channel.poll()
    assert [(c.id, c.action, c.new_lr(0.1)) for c in commands] == [(first, "set_lr", 0.05)]
    with open(tmp_path / "control.jsonl", "a") as file:
        file.write(json.dumps({"id": first, "action": "set_lr", "factor": 0.5}) + "\n")
        file.write('{"id": "half", "action": "checkpoint"')  # half-written: waits for its end
    assert channel.poll() == []
    with open(tmp_path / "control.jsonl", "a") as file:
        file.write("}\n")
    assert [c.id for c in channel.poll()] == ["half"]
    log.ack(first, "set_lr", True)
    log.ack("half", "checkpoint", True)
    assert ControlChannel(run_dir, log).poll() == []  # a restarted trainer skips what was acknowledged
    os.chmod(tmp_path / "control.jsonl", 0o666)
    with pytest.raises(ControlError, match="writable by group or others"):
        send_command(run_dir, "checkpoint")
    with open(tmp_path / "control.jsonl", "a") as file:
        file.write(json.dumps({"id": "sneaky", "action": "stop"}) + "\n")
    assert channel.poll() == []  # the trainer refuses a file others could write


@pytest.mark.parametrize("text, expected", [("1e-4", {"lr": 1e-4}), ("x0.5", {"factor": 0.5}),
                                            ("*2", {"factor": 2.0}), ("0.5x", {"factor": 0.5}),
                                            ("/4", {"factor": 0.25})])
def test_lr_requests(text, expected):
    assert parse_lr_request(text) == expected


@pytest.mark.parametrize("text, message", [("fast", "not a number"), ("0", "positive"), ("-1e-3", "positive"),
                                           ("x-2", "positive"), ("nan", "positive"), ("", "type an LR")])
def test_bad_lr_requests_are_refused(text, message):
    with pytest.raises(ControlError, match=message):
        parse_lr_request(text)


def test_presets_change_flags_in_every_spelling_and_keys_of_a_yaml_config(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("model:\n  hidden_size: 64\noptim:\n  weight_decay: 0.0\n")
    command = ["python", "train.py", "--learning-rate=0.01", "--dropout", "0.1", "--config", str(config)]
    plan = plan_restart(command, str(tmp_path), get_preset("regularize"), "/ckpt/best.pt")
    assert plan.command[3:5] == ["--dropout", "0.5"]
    assert "train.yaml: weight_decay: 0.0 -> 0.0001" in plan.changes  # x10 of 0, floored
    assert plan.command[-1] == "{run_dir}/train.yaml" and "weight_decay: 0.0001" in plan.files["train.yaml"]
    assert "resume from: /ckpt/best.pt" in plan.changes
    lower = plan_restart(command, str(tmp_path), get_preset("lower-lr"))
    assert lower.command[2] == "--learning-rate=0.002" and lower.skipped  # warm-up is optional
    smaller = plan_restart(command, str(tmp_path), get_preset("smaller-model"))
    assert "train.yaml: hidden_size: 64 -> 32" in smaller.changes
    resumed = plan_restart(["python", "t.py", "--lr", "1", "--resume", "old.pt"], str(tmp_path),
                           get_preset("lower-lr"), "/new.pt")
    assert resumed.command[-1] == "/new.pt"


def test_bad_presets_and_bad_targets_are_refused(tmp_path):
    with pytest.raises(PresetError, match="unknown preset 'nope'"):
        get_preset("nope")
    with pytest.raises(PresetError, match="no --context flag"):
        plan_restart(["python", "train.py", "--lr", "0.1"], str(tmp_path), get_preset("longer-context"))
    with pytest.raises(PresetError, match="not a number"):
        plan_restart(["python", "t.py", "--lr", "auto"], str(tmp_path), get_preset("lower-lr"))
    typo = Preset("typo", "", [PresetChange("dropuot", set=0.5)])
    with pytest.raises(PresetError, match="dropuot"):
        plan_restart(["python", "t.py", "--dropout", "0.1"], str(tmp_path), typo)
    with pytest.raises(NotOurRun, match="not a run directory made by"):
        RunHandle(str(tmp_path))
    with pytest.raises(NotOurRun, match="not a run directory made by"):
        propose_restart(str(tmp_path), "regularize")
    with pytest.raises(LaunchError, match="command not found"):
        launch(tmp_path, ["no-such-trainer-xyz"])


def test_cli_refuses_bad_input_with_one_line(tmp_path):
    record = launch(tmp_path, [PYTHON, "-c", LOOP])

    def trainwatch(*args):
        done = subprocess.run([PYTHON, "-m", "tui", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        return done.returncode, done.stderr.strip()

    try:
        assert trainwatch("lr", record.run_dir, "fast") == (2, "trainwatch: 'fast' is not a number: type an LR "
                                                                "(1e-4) or a factor (x0.5, /2)")
        code, error = trainwatch("restart", record.run_dir, "--preset", "nope", "--yes")
        assert code == 2 and error.startswith("trainwatch: unknown preset 'nope'") and "\n" not in error
        code, error = trainwatch("restart", record.run_dir, "--preset", "regularize", "--yes")
        assert code == 2 and "changes dropout, but the command has no --dropout flag" in error
        code, error = trainwatch("stop", str(tmp_path))
        assert code == 2 and "not a run directory made by `trainwatch run`" in error
        code, error = trainwatch("run", "--detach", "--", "no-such-trainer-xyz")
        assert (code, error) == (2, "trainwatch: no-such-trainer-xyz: command not found")
        code, _ = trainwatch("presets")
        assert code == 0
    finally:
        RunHandle(record.run_dir).stop(FAST)
    code, error = trainwatch("lr", record.run_dir, "1e-4")
    assert code == 2 and "is not running" in error
