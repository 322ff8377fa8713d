"""How a launched run's end is told, with real trainers and real signals: a death by a signal
trainwatch did not send is a crash, the supervisor's final status survives a trainer killed
mid-line, the exit code wins over an earlier `stopped`, and a run whose trainer and supervisor
both vanished is `gone` in the header, `ls` and `check`, never `running`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from run_helpers import PYTHON, events, wait_for
from tui.commands.check_report import diagnose_target
from tui.follow.target_follower import TargetFollower
from tui.runs.launcher import launch_run
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.view.live_run import LiveRun
from tui.view.run_overview import describe_run
from ui_helpers import make_app, wait_for as wait_on_screen
from tui.app.widgets.run_header import RunHeader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A trainer with the integration: says it runs, logs two epochs of a 100-epoch run, then does
# what argv[1] says.
TRAINER = textwrap.dedent("""
    import os, signal, sys, time
    from trainers.runlog import RunLog
    log = RunLog(os.path.join(os.environ["TRAINWATCH_RUN_DIR"], "events.jsonl"))
    log.run_start(config={"epochs": 100})
    log.status("running")
    for epoch in (1, 2):
        log.metrics(step=epoch * 10, epoch=epoch, loss=1.0 / epoch, val_loss=1.2 / epoch)
        time.sleep(0.3)
    log.flush()
    how = sys.argv[1]
    if how == "segfault":
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "stopped-then-crash":
        log.status("stopped", message="stop requested")
        log.close()
        sys.exit(1)
    if how == "half-line":  # the OOM killer strikes in the middle of a line
        with open(os.path.join(os.environ["TRAINWATCH_RUN_DIR"], "events.jsonl"), "a") as raw:
            raw.write('{"event": "metrics", "step": 30, "epoch": 3, "metrics": {"lo')
    print("ready", flush=True)
    while True:
        time.sleep(0.1)
""")


def launch(tmp_path, how: str):
    record = launch_run([PYTHON, "-c", TRAINER, how], root=str(tmp_path / "runs"), cwd=str(tmp_path),
                        name=how)
    return record.run_dir


def ended(run_dir: str) -> dict:
    wait_for(lambda: RunHandle(run_dir).refresh().exit_code is not None, 60, "the exit code", run_dir)
    # The supervisor writes the status just after the exit code.
    return wait_for(lambda: _final_status(run_dir), 10, "the final status", run_dir)


def _final_status(run_dir: str) -> dict | None:
    statuses = events(run_dir, "status")
    return statuses[-1] if statuses and statuses[-1]["state"] != "running" else None


def wait_ready(run_dir: str) -> None:
    wait_for(lambda: "ready" in open(os.path.join(run_dir, "stdout.log")).read(), 60, "the trainer", run_dir)


def cli(*argv: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=120, stdin=subprocess.DEVNULL)


def ls_state(tmp_path, name: str) -> str:
    result = cli("ls", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(name))
    return line[25:43].strip()


def check_json(target: str, cwd) -> dict:
    result = cli("check", "--json", target, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("how, signum", [("segfault", signal.SIGSEGV), ("half-line", signal.SIGKILL)])
def test_a_death_by_a_signal_trainwatch_did_not_send_is_a_crash(tmp_path, how, signum):
    """SIGSEGV from the trainer itself; SIGKILL from outside (as the OOM killer sends it) while the
    trainer has half a line in its log: crashed, the signal named, in the log, `ls` and `check`."""
    run_dir = launch(tmp_path, how)
    if signum == signal.SIGKILL:
        wait_ready(run_dir)
        os.kill(RunHandle(run_dir).record.pid, signal.SIGKILL)
    name = signal.Signals(signum).name
    status = ended(run_dir)
    record = RunHandle(run_dir).record
    assert record.exit_code == 128 + signum and record.stop_signal is None  # nobody here stopped it
    assert status["state"] == "crashed" and name in status["message"], status
    # The final status is read back as such: it did not vanish into the half-written line.
    model, _ = diagnose_target(run_dir)
    assert model.status.state == "crashed" and model.status.exit_code == 128 + signum
    assert ls_state(tmp_path, os.path.basename(run_dir)) == f"crashed ({name})"
    document = check_json(run_dir, tmp_path)
    assert document["state"] == "crashed" and name in document["state_detail"], document


def test_the_exit_code_wins_over_an_earlier_stopped_status(tmp_path):
    run_dir = launch(tmp_path, "stopped-then-crash")
    status = ended(run_dir)
    assert [event["state"] for event in events(run_dir, "status")] == ["running", "stopped", "crashed"]
    assert status["exit_code"] == 1 and status["message"] == "exit code 1"
    assert ls_state(tmp_path, os.path.basename(run_dir)) == "crashed (1)"


def test_a_stop_by_trainwatch_is_still_a_stop(tmp_path):
    """The other side of the rule: SIGKILL sent by trainwatch's own stop reads `stopped`."""
    run_dir = launch(tmp_path, "hold")
    wait_ready(run_dir)
    handle = RunHandle(run_dir)
    handle.run_host.signal(handle.refresh(), signal.SIGKILL)  # what the last stage of `x` does
    status = ended(run_dir)
    assert status["state"] == "stopped" and "SIGKILL" in status["message"]
    assert ls_state(tmp_path, os.path.basename(run_dir)) == "stopped"


def _kill_supervisor_and_trainer(run_dir: str) -> None:
    record = RunHandle(run_dir).refresh()
    os.kill(record.supervisor_pid, signal.SIGKILL)  # first: it must not live to write a status
    os.kill(record.pid, signal.SIGKILL)
    wait_for(lambda: not RunHandle(run_dir).alive, 30, "the trainer to die")
    time.sleep(0.5)  # nothing is left to write the end: it stays unwritten


async def test_a_run_whose_trainer_and_supervisor_vanished_is_gone_everywhere(tmp_path):
    run_dir = launch(tmp_path, "hold")
    wait_ready(run_dir)
    _kill_supervisor_and_trainer(run_dir)
    assert events(run_dir, "status")[-1]["state"] == "running"  # what the log alone would say
    assert ls_state(tmp_path, os.path.basename(run_dir)) == "gone"
    document = check_json(run_dir, tmp_path)
    assert document["state"] == "gone", document
    # The header, from the log as the follower reads it and the run's handle.
    live = LiveRun(run_dir, "")
    live.initial_read_done = True
    live.apply(TargetFollower(run_dir).read_once(), time.time())
    overview = describe_run(live, time.time(), "here", run=RunHandle(run_dir))
    assert (overview.state, overview.eta) == ("gone", "—"), overview
    # And the real app on it.
    app = make_app(run_dir, clock=time.time)
    async with app.run_test(size=(100, 30)) as pilot:
        header = app.query_one(RunHeader)
        await wait_on_screen(pilot, lambda: " gone " in header.render().plain, timeout=20)
        assert "running" not in header.render().plain and "ETA —" in header.render().plain


BURSTY = """
import time
epoch = 0
while True:
    time.sleep(3)
    for _ in range(3):  # three epochs' lines at once: output flushed in bursts, 1 epoch/s on average
        epoch += 1
        print(f"epoch {epoch} loss {1 / epoch:.4f}", flush=True)
"""


def test_elapsed_and_speed_of_a_run_whose_records_carry_no_time(tmp_path):
    """The run started before the UI looked: elapsed counts from run.json's start; its output comes
    three epochs at a time every 3 s: the speed is 1 epoch/s, not the bursts' rate."""
    record = launch_run([PYTHON, "-c", BURSTY], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="bursty")
    try:
        handle = RunHandle(record.run_dir)
        wait_for(lambda: "epoch 3 " in open(os.path.join(record.run_dir, "stdout.log")).read(), 30, "a first burst")
        time.sleep(4)  # the UI comes later
        follower = TargetFollower(record.run_dir)
        live = LiveRun(record.run_dir, "")
        live.apply(follower.read_once(), time.time())
        live.initial_read_done = True
        deadline = time.time() + 30
        while time.time() < deadline and len({mark.time for mark in live.progress}) < 4:
            live.apply(follower.read_once(), time.time())
            time.sleep(0.2)
        overview = describe_run(live, time.time(), "here", run=handle)
        assert overview.elapsed.endswith("s") and int(overview.elapsed[:-1]) >= 12, overview
        # About 1 epoch/s, far from a burst's rate (3 epochs in milliseconds); a loaded machine's
        # sleep(3) slips, so a window of a few bursts reads 0.6..1.5 (CI once saw 1.32).
        assert overview.throughput in ("1s/epoch", "2s/epoch") or overview.throughput.endswith("epochs/s") \
            and 0.6 <= float(overview.throughput.split()[0]) <= 1.5, overview
    finally:
        RunHandle(record.run_dir).stop(StopTimeouts(graceful=1, interrupt=5, terminate=5))
