"""Multi-process runs: real `torchrun --nproc_per_node N` (gloo on CPU) of trainers.ddp_reference,
which uses TorchControl exactly as a one-process script does, with one rank slower than the rest.

Rank 0 alone writes the event log; every command is agreed across ranks and applied at the same
step (each rank traces the LR it trained with at every step, and an all_gather of the weights at
the end shows the replicas are identical bit for bit); a stop ends every rank at the same step
after one checkpoint; a rank killed by a signal is a crash that names the rank."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from run_helpers import events, wait_for
from tui.diagnosis.engine import DiagnosisEngine
from tui.follow.target_follower import TargetFollower
from tui.runs.control_client import append_command
from tui.runs.launcher import launch_run
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.ssh.ssh_connection import SshConnection
from tui.ssh.ssh_run_host import SshRunHost
from tui.view.live_run import LiveRun
from tui.view.run_overview import describe_run

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer_scripts")


def launch_ddp(tmp_path, ranks: int, *args: str, env: dict | None = None) -> tuple[str, str]:
    trace = tmp_path / "trace"
    trace.mkdir()
    record = launch_run([TORCHRUN, "--standalone", "--nproc_per_node", str(ranks), "-m", "trainers.ddp_reference",
                         "--trace", str(trace), "--epochs", "10000", *args],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name=f"ddp{ranks}", env=env)
    wait_for(lambda: events(record.run_dir, "run_start"), 240, "the run to start", record.run_dir)
    return record.run_dir, str(trace)


def rank_trace(trace: str, rank: int) -> tuple[list[tuple[int, float]], str]:
    """(step, LR trained with) per step, and the SHA-256 of the rank's final weights."""
    steps, digest = [], ""
    with open(os.path.join(trace, f"rank{rank}.jsonl")) as handle:
        for line in handle:
            entry = json.loads(line)
            if "sha256" in entry:
                digest = entry["sha256"]
            else:
                steps.append((entry["step"], entry["lr"]))
    return steps, digest


def assert_one_writer(run_dir: str, ranks: int) -> None:
    starts = events(run_dir, "run_start")
    assert len(starts) == 1 and starts[0]["world_size"] == ranks, starts
    assert [entry["rank"] for entry in starts[0]["ranks"]] == list(range(ranks))
    assert len({entry["pid"] for entry in starts[0]["ranks"]}) == ranks
    assert all(entry["device"] == "cpu" and "host" in entry for entry in starts[0]["ranks"])
    evaluations = [event["step"] for event in events(run_dir, "metrics") if "val_loss" in event["metrics"]]
    assert evaluations == sorted(set(evaluations)), evaluations  # one line per epoch, not one per rank
    assert _segments(run_dir) == 1


def _segments(run_dir: str) -> int:
    live = LiveRun(run_dir, "")
    live.apply(TargetFollower(run_dir).read_once(), time.time())
    return sum(1 for segment in live.model.segments if not segment.empty)


def straggler_of(run_dir: str):
    live = LiveRun(run_dir, "")
    live.apply(TargetFollower(run_dir).read_once(), time.time())
    return next((finding for finding in DiagnosisEngine().update(live.model) if finding.id == "straggler"), None)


def steer(run_dir: str, trace: str, ranks: int, changes: int, checkpoint_file: str, slow_rank: int | None = None) -> None:
    """``changes`` LR changes, one checkpoint and a graceful stop; then every rank trained with the
    same LR at every step, up to the same last step, and ended with the same weights."""
    handle = RunHandle(run_dir)
    wait_for(lambda: handle.controllable, 60, "the trainer to read commands", run_dir)
    for change in range(changes):
        command_id, _ = handle.set_lr("x0.8" if change % 2 else "x1.2")
        ack = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, f"LR change {change}", run_dir)
        assert ack["applied"] is True and ack["detail"]["ranks_applied"] == ranks, ack
        assert ack["message"].endswith(f"on all {ranks} ranks"), ack
    if slow_rank is not None:  # the ranks' waits at the safe points name the one the others wait for
        wait_for(lambda: events(run_dir, "rank_timing"), 120, "the ranks' timing", run_dir)
        straggler = straggler_of(run_dir)
        assert straggler is not None and straggler.title == f"Rank {slow_rank} is a straggler", straggler
        assert "ms per step" in straggler.evidence, straggler
    command_id = handle.checkpoint()
    ack = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "the checkpoint", run_dir)
    assert ack["applied"] is True and checkpoint_file in os.path.basename(ack["detail"]["path"]), ack
    result = handle.stop()
    assert "gracefully" in result and "exit code 0" in result, result
    assert handle.refresh().exit_code == 0
    assert events(run_dir, "status")[-1]["state"] == "stopped"
    acks = [event["command_id"] for event in events(run_dir, "ack")]
    assert len(acks) == len(set(acks)) == changes + 2, acks  # one ack per command
    traces = [rank_trace(trace, rank) for rank in range(ranks)]
    assert traces[0][1] and all(entry == traces[0] for entry in traces[1:]), [len(t[0]) for t in traces]
    assert len({lr for _, lr in traces[0][0]}) > changes // 2
    stop_ack = events(run_dir, "ack")[-1]
    assert stop_ack["action"] == "stop" and stop_ack["detail"]["step"] == traces[0][0][-1][0], stop_ack
    assert_one_writer(run_dir, ranks)


def test_two_ranks_apply_every_command_at_the_same_step_and_stop_together(tmp_path):
    run_dir, trace = launch_ddp(tmp_path, 2, "--slow_rank", "1", "--slow_seconds", "0.01")
    steer(run_dir, trace, 2, 20, "manual.pt", slow_rank=1)
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["last.pt", "manual.pt"]
    replicas = json.load(open(os.path.join(trace, "replicas.json")))  # an all_gather of the weights
    assert replicas["identical"] and replicas["max_difference"] == 0.0, replicas


def test_four_ranks_logging_every_step_write_one_line_per_step(tmp_path):
    run_dir, trace = launch_ddp(tmp_path, 4, "--slow_rank", "2", "--slow_seconds", "0.01", "--log_every_step",
                                "--steps_per_epoch", "10", env={"TRAINWATCH_RANK_METRICS": "1"})
    steer(run_dir, trace, 4, 5, "manual.pt", slow_rank=2)
    per_step = [event["step"] for event in events(run_dir, "metrics") if set(event["metrics"]) == {"loss"}]
    assert per_step == list(range(1, len(per_step) + 1)), per_step[:40]
    # Asked for (TRAINWATCH_RANK_METRICS=1): the other ranks' metrics too, each under its rank's name.
    for rank in (1, 2, 3):
        theirs = [event["step"] for event in events(run_dir, "metrics") if f"rank{rank}/loss" in event["metrics"]]
        assert len(theirs) >= len(per_step) - 10 and theirs == sorted(theirs), (rank, theirs[:20])
    assert _segments(run_dir) == 1
    assert json.load(open(os.path.join(trace, "replicas.json")))["identical"]


def test_lightning_ddp_on_two_processes(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    record = launch_run([sys.executable, os.path.join(SCRIPTS, "lightning_tiny.py"), "--devices", "2",
                         "--trace", str(trace)], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="lightning-ddp")
    wait_for(lambda: events(record.run_dir, "run_start"), 240, "the run to start", record.run_dir)
    steer(record.run_dir, str(trace), 2, 6, "manual.ckpt")
    assert sorted(os.listdir(os.path.join(record.run_dir, "checkpoints"))) == ["last.ckpt", "manual.ckpt"]


def kill_rank_1(run_dir: str) -> tuple[int, dict]:
    """SIGKILL rank 1 after the first epoch (its pid from run_start); its pid and the final status."""
    wait_for(lambda: events(run_dir, "metrics"), 240, "the first epoch", run_dir)
    victim = events(run_dir, "run_start")[0]["ranks"][1]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: RunHandle(run_dir).refresh().exit_code is not None, 120, "the run to end", run_dir)
    status = wait_for(lambda: [e for e in events(run_dir, "status") if e["state"] != "running"], 30, "the end")[-1]
    return victim, status


def test_a_lightning_rank_killed_is_a_crash_that_names_it(tmp_path):
    """Lightning's own launcher reports no failed rank: rank 0 noticed which one ended first."""
    record = launch_run([sys.executable, os.path.join(SCRIPTS, "lightning_tiny.py"), "--devices", "2"],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name="lightning-kill")
    victim, status = kill_rank_1(record.run_dir)
    assert status["state"] == "crashed", status
    assert status["message"].startswith(f"rank 1 (pid {victim}) ended first"), status


def test_hugging_face_trainer_under_torchrun(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    record = launch_run([TORCHRUN, "--standalone", "--nproc_per_node", "2", os.path.join(SCRIPTS, "hf_tiny.py"),
                         "{run_dir}/hf", str(trace)], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="hf-ddp",
                        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    wait_for(lambda: events(record.run_dir, "run_start"), 240, "the run to start", record.run_dir)
    steer(record.run_dir, str(trace), 2, 6, "checkpoint-")
    saved = sorted(name for name in os.listdir(os.path.join(record.run_dir, "hf")) if name.startswith("checkpoint-"))
    assert len(saved) == 2, saved  # the checkpoint and the stop's, each written once


def test_a_rank_killed_by_a_signal_is_a_crash_that_names_it(tmp_path):
    run_dir, _ = launch_ddp(tmp_path, 2)
    handle = RunHandle(run_dir)
    _, status = kill_rank_1(run_dir)
    assert status["state"] == "crashed" and status["exit_code"] != 0, status
    assert status["message"].startswith("rank 1 (local rank 1") and "killed by SIGKILL" in status["message"], status
    live = LiveRun(run_dir, "")
    live.initial_read_done = True
    live.apply(TargetFollower(run_dir).read_once(), time.time())
    overview = describe_run(live, time.time(), "here", run=handle)
    assert overview.state == "crashed" and "rank 1" in overview.state_detail, overview


STUBBORN_WORKER = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.path.join(sys.argv[1], f"worker{os.environ['RANK']}.pid"), "w").write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""


@pytest.mark.parametrize("where", ["here", "over ssh"])
def test_a_stop_by_signal_reaches_every_worker_of_a_torchrun(tmp_path, where, request):
    """No trainwatch in the script, workers that ignore SIGINT and SIGTERM in sessions of their own
    (torchrun's): the stop still ends every one of them, not only torchrun (over ssh the remote
    script walks the process table the same way)."""
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN_WORKER)
    record = launch_run([TORCHRUN, "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name="stubborn")
    pid_files = [tmp_path / f"worker{rank}.pid" for rank in range(2)]
    wait_for(lambda: all(path.exists() and path.read_text() for path in pid_files), 120, "the workers", record.run_dir)
    workers = [int(path.read_text()) for path in pid_files]
    assert all(os.getsid(worker) == worker for worker in workers)  # out of the trainer's group
    if where == "here":
        handle = RunHandle(record.run_dir)
    else:
        request.getfixturevalue("over_ssh")
        handle = RunHandle(record.run_dir, SshRunHost(SshConnection("twtest")))
    result = handle.stop(StopTimeouts(graceful=1, interrupt=3, terminate=3))
    assert "SIGKILL" in result or "stopped" in result, result

    def gone(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return handle.read().split(")")[-1].split()[0] == "Z"
        except OSError:
            return True
    wait_for(lambda: all(gone(worker) for worker in workers), 30, "every worker to end", record.run_dir)


def test_before_the_process_group_exists_only_rank_0_writes_and_no_command_is_applied(tmp_path, monkeypatch):
    """Under a launcher that started two processes, before init_process_group: rank 1 writes nothing,
    and rank 0 leaves a command pending rather than apply it on rank 0 alone."""
    from trainers.session import TrainwatchSession

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    other = TrainwatchSession(str(tmp_path / "run"))
    other.start(config={})
    other.log.metrics(step=1, loss=1.0)
    other.finish()
    assert not (tmp_path / "run" / "events.jsonl").exists()
    monkeypatch.setenv("RANK", "0")
    first = TrainwatchSession(str(tmp_path / "run"))
    first.start(config={})
    append_command(first.run_dir, {"id": "c-1", "action": "stop"})
    assert first.handle_commands(get_lr=lambda: 0.1, set_lr=lambda value: None, save_checkpoint=lambda tag: None,
                                 step=1) is False
    first.finish()
    assert [event["event"] for event in events(first.run_dir)] == ["run_start", "status", "status"]


FAILING_SAVE = """
import time
import torch
import torch.distributed as dist
from trainers.torch_control import TorchControl

dist.init_process_group("gloo")
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

def save(path):
    raise OSError("disk full")

control = TorchControl(optimizer, save=save)
control.start(config={})
for step in range(1, 10**6):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    time.sleep(0.01)
    if control.poll(step):
        break
control.finish()
"""


def test_a_stop_whose_checkpoint_fails_stops_no_rank(tmp_path):
    """Rank 0 cannot save: the stop is refused on every rank alike, so no rank is left alone in
    DDP's next all-reduce; the run goes on and still takes commands."""
    script = tmp_path / "failing_save.py"
    script.write_text(FAILING_SAVE)
    record = launch_run([TORCHRUN, "--standalone", "--nproc_per_node", "2", str(script)],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name="failing-save")
    handle = RunHandle(record.run_dir)
    wait_for(lambda: handle.controllable, 240, "the trainer to read commands", record.run_dir)
    try:
        append_command(record.run_dir, {"id": "c-stop-1", "action": "stop"})  # what `x` sends first
        ack = wait_for(lambda: handle.wait_for_ack("c-stop-1", 0.1), 120, "the stop's ack", record.run_dir)
        assert ack["applied"] is False and "disk full" in ack["message"], ack
        assert ack["message"].endswith("on rank 0: no rank stopped"), ack
        command_id, _ = handle.set_lr("x0.5")  # both ranks still at their safe points, together
        ack = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "an LR change after it", record.run_dir)
        assert ack["applied"] is True and ack["detail"]["ranks_applied"] == 2, ack
        assert handle.alive
    finally:
        handle.stop(StopTimeouts(graceful=1, interrupt=10, terminate=5))
