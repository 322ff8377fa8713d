"""Runs on a real single-node SLURM cluster started by the tests (tests/slurm_cluster.py):
`trainwatch run --slurm` submits the supervisor as a batch job; states come from SLURM; LR change,
checkpoint and stop work through the control file and scancel; the time limit's warning signal
checkpoints, requeues and resumes the run as its next segment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from run_helpers import PYTHON, events, wait_for
from slurm_cluster import SlurmCluster, slurm_missing
from tui.runs import slurm
from tui.runs.launcher import launch_run
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.runs.run_record import load_run_record
from tui.view.run_overview import slurm_run_state

pytestmark = pytest.mark.skipif(slurm_missing() is not None, reason=slurm_missing() or "")
CTC = [PYTHON, "-m", "trainers.ctc_reference", "--train_size", "64", "--val_size", "32", "--hidden", "32",
       "--epochs", "500", "--epoch_sleep", "0.2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("torch")
    started = SlurmCluster(str(tmp_path_factory.mktemp("slurm"))).start()
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = started.conf  # trainwatch's sbatch/scontrol/scancel find the test cluster
    yield started
    started.stop()
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous


def state_of(run_dir: str) -> tuple[str, str]:
    record = load_run_record(run_dir)
    slurm.forget(record.slurm_job_id)
    status = next((e for e in reversed(events(run_dir, "status"))), None)
    from tui.model.records import StatusRecord

    status = StatusRecord(status["state"], status.get("exit_code"), status.get("message", "")) if status else None
    return slurm_run_state(record, status)


def submit_blocker(cluster, tmp_path) -> str:
    """A job that fills the node's two CPUs, so the next one waits (Resources). Its slurm-N.out goes
    to the test's folder, not the checkout the tests run from."""
    result = subprocess.run(["sbatch", "--parsable", "-c", "2", f"--output={tmp_path}/blocker-%j.out",
                             "--wrap", "sleep 300"], capture_output=True,
                            text=True, env=cluster.env, check=True)
    return result.stdout.strip().split(";")[0]


def test_a_job_waits_pending_with_its_reason_then_takes_an_lr_change_and_stops_gracefully(cluster, tmp_path):
    blocker = submit_blocker(cluster, tmp_path)
    wait_for(lambda: slurm.job_state(blocker, max_age=0).state == "running", 30, "the blocker to run")
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="queued", slurm_options=["-c", "1"])
    assert record.slurm_job_id and os.path.exists(os.path.join(record.run_dir, slurm.BATCH_SCRIPT_NAME))
    # Pending, with SLURM's reason once its scheduler has looked (about a second: sched_interval=1).
    state = wait_for(lambda: (lambda s: s[0] == "pending" and ("Resources" in s[1] or "Priority" in s[1]) and s)(
        state_of(record.run_dir)), 30, "pending with a reason")
    assert state[1].startswith(f"job {record.slurm_job_id}: "), state
    assert not events(record.run_dir, "metrics")  # nothing runs while it waits
    listing = subprocess.run([sys.executable, "-m", "tui", "ls"], capture_output=True, text=True, cwd=str(tmp_path))
    assert "pending" in listing.stdout, listing.stdout
    slurm.cancel(blocker)
    wait_for(lambda: events(record.run_dir, "metrics"), 120, "the job's first metrics", record.run_dir)
    state = state_of(record.run_dir)
    assert state[0] == "running" and "on " in state[1], state
    handle = RunHandle(record.run_dir)
    assert handle.alive and handle.controllable
    command_id, _ = handle.set_lr("x0.5")
    ack = handle.wait_for_ack(command_id, 60)
    assert ack is not None and ack["applied"], ack
    how = handle.stop(StopTimeouts(60, 10, 10))
    assert how.startswith("stopped gracefully"), how
    assert events(record.run_dir, "status")[-1]["state"] == "stopped"
    assert state_of(record.run_dir)[0] == "stopped"
    assert slurm.job_state(record.slurm_job_id, max_age=0).state == "completed"


def test_scancel_of_a_running_job_is_cancelled_not_a_crash(cluster, tmp_path):
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="cancelled", slurm_options=["-c", "1"])
    wait_for(lambda: events(record.run_dir, "metrics"), 120, "metrics", record.run_dir)
    slurm.cancel(record.slurm_job_id)
    wait_for(lambda: state_of(record.run_dir)[0] not in ("running", "completing"), 60, "the job to end",
             record.run_dir)
    wait_for(lambda: load_run_record(record.run_dir).exit_code is not None, 30, "the exit code", record.run_dir)
    state = state_of(record.run_dir)
    assert state[0] == "cancelled" and "SIGTERM" in state[1], state  # SLURM's SIGTERM, told as a cancel


def test_a_job_that_exits_3_is_failed_with_its_stderr_tail(cluster, tmp_path):
    (tmp_path / "bad.py").write_text("import sys\nprint('loading shard 7', flush=True)\n"
                                     "print('RuntimeError: shard 7 is corrupt', file=sys.stderr)\nsys.exit(3)\n")
    record = launch_run([PYTHON, str(tmp_path / "bad.py")], root=str(tmp_path / "runs"), cwd=str(tmp_path),
                        name="bad", slurm_options=[])
    wait_for(lambda: events(record.run_dir, "status"), 120, "the final status", record.run_dir)
    wait_for(lambda: state_of(record.run_dir)[0] not in ("running", "completing"), 60, "the job to end", record.run_dir)
    state, detail = state_of(record.run_dir)
    assert state == "failed" and "exit code 3" in detail and "shard 7 is corrupt" in detail, (state, detail)
    check = subprocess.run([sys.executable, "-m", "tui", "check", "--json", record.run_dir], capture_output=True,
                           text=True)
    assert check.returncode == 2  # no metrics; the state is still told in one line
    assert "no metrics" in check.stderr


def test_the_time_limit_warning_checkpoints_requeues_and_resumes_as_the_next_segment(cluster, tmp_path):
    """--time=1 with the warning 50 s before it: the trainer checkpoints and ends as preempted, the
    job is requeued, and its second start resumes from that checkpoint, a second segment."""
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="limited",
                        slurm_options=["-c", "1", "--time=1", "--signal=B:USR1@50", "--requeue"])
    wait_for(lambda: any(e["state"] == "preempted" for e in events(record.run_dir, "status")), 120,
             "the preemption", record.run_dir)
    checkpoint = [e for e in events(record.run_dir, "checkpoint")][-1]
    wait_for(lambda: len(events(record.run_dir, "run_start")) == 2, 120, "the requeued job's start", record.run_dir)
    second = events(record.run_dir, "run_start")[1]
    assert second["resumed_from"] == checkpoint["path"], second
    assert abs(second["start_step"] - checkpoint["step"]) <= 1, (second, checkpoint)  # where the checkpoint was
    assert load_run_record(record.run_dir).requeues == 1
    wait_for(lambda: [e for e in events(record.run_dir, "metrics") if e["step"] > second["start_step"]], 120,
             "the resumed run's metrics", record.run_dir)
    document = json.loads(subprocess.run([sys.executable, "-m", "tui", "check", "--json", record.run_dir],
                                         capture_output=True, text=True).stdout)
    assert document["segments"] == 2, document["segments"]
    assert state_of(record.run_dir)[0] == "running"
    how = RunHandle(record.run_dir).stop(StopTimeouts(60, 10, 10))
    assert "stopped" in how, how


def test_two_ranks_started_with_srun_agree_on_an_lr_change_at_the_same_step(cluster, tmp_path):
    from test_multi_process import rank_trace

    trace = tmp_path / "trace"
    trace.mkdir()
    record = launch_run(["srun", "--kill-on-bad-exit=1", PYTHON, "-m", "trainers.ddp_reference", "--trace", str(trace),
                         "--epochs", "10000"], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="srun2",
                        slurm_options=["-n", "2", "-c", "1"])
    start = wait_for(lambda: events(record.run_dir, "run_start"), 180, "the ranks to start", record.run_dir)[0]
    assert start["world_size"] == 2 and [rank["rank"] for rank in start["ranks"]] == [0, 1]
    handle = RunHandle(record.run_dir)
    wait_for(lambda: handle.controllable, 60, "the trainer to read commands", record.run_dir)
    command_id, _ = handle.set_lr("x0.5")
    ack = handle.wait_for_ack(command_id, 60)
    assert ack is not None and ack["applied"] and ack["detail"]["ranks_applied"] == 2, ack
    how = handle.stop(StopTimeouts(60, 10, 10))
    assert how.startswith("stopped gracefully"), how
    changed = []
    for rank in (0, 1):
        steps, _ = rank_trace(str(trace), rank)
        changed.append(next(step for (step, lr), (_, before) in zip(steps[1:], steps) if lr < before * 0.75))
    assert changed[0] == changed[1], changed  # the same step on both ranks
