"""Remote runs over a real sshd on 127.0.0.1 (tests/ssh_server.py): tailing a log a separate process
keeps appending to, through a killed ssh client and a restarted sshd, with every record exactly once;
LR change, checkpoint and stop of a remote reference trainer; stop by signal of a trainer without
the callback; and one clear line for each way a connection or a path can be wrong."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from run_helpers import PYTHON, wait_for
from tensorboard_logs import TensorBoardLog
from tui.runs.launcher import launch_run
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.model.records import AckRecord, MetricRecord, ResetRecord, StatusRecord
from tui.follow.remote_follower import RemoteFollower
from tui.ssh.ssh_run_host import SshRunHost
from tui.ssh.remote_target import RemoteTarget, parse_remote_target
from tui.ssh.ssh_connection import SshConnection, describe_ssh_failure
from tui.ssh.stream_protocol import StreamProtocolParser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = StopTimeouts(graceful=60, interrupt=10, terminate=5)

# Appends numbered metric events, each line in two writes with a pause between, so the follower
# often meets a half-written last line, as it does with a real trainer.
WRITER = textwrap.dedent("""
    import json, sys, time
    path, count, per_second = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with open(path, "ab", buffering=0) as log:
        for step in range(count):
            line = json.dumps({"event": "metrics", "step": step, "epoch": step // 100,
                               "metrics": {"loss": 1.0 / (step + 1)}}).encode() + b"\\n"
            log.write(line[:len(line) // 2]); time.sleep(0.001); log.write(line[len(line) // 2:])
            time.sleep(1.0 / per_second)
""")


class Collector:
    """Runs a follower on a thread, as the app does, and keeps everything it yields."""

    def __init__(self, follower: RemoteFollower) -> None:
        self.follower = follower
        self.records: list = []
        self.notices: list[str] = []
        self.states: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for batch in self.follower.batches():
            self.records += batch.records
            self.notices += batch.notices
            if batch.connection is not None:
                self.states.append(batch.connection)

    def steps(self) -> list[int]:
        return [record.step for record in self.records if isinstance(record, MetricRecord)]

    def close(self) -> None:
        self.follower.stop()
        self.thread.join(timeout=10)


def start_writer(path: str, count: int, per_second: float = 150.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, path, str(count), str(per_second)])


def remote(path: str, host: str = "twtest") -> RemoteFollower:
    return RemoteFollower(RemoteTarget(host, path))


@contextlib.contextmanager
def following_a_writer(path: str, count: int):
    """A separate writer process appending ``count`` numbered records while a remote tail follows
    them; yields the collector and checks, at the end, that every record arrived exactly once."""
    writer = start_writer(path, count)
    collector = Collector(remote(path))
    try:
        yield collector
        writer.wait(timeout=60)
        wait_for(lambda: len(collector.steps()) >= count, 60, "every record")
        time.sleep(0.6)  # a duplicate would arrive within a poll or two
        assert collector.steps() == list(range(count))
    finally:
        writer.kill()
        collector.close()


def test_every_record_once_when_the_ssh_client_is_killed(over_ssh, tmp_path):
    with following_a_writer(str(tmp_path / "events.jsonl"), 900) as collector:
        wait_for(lambda: len(collector.steps()) > 150, 30, "the first records over ssh")
        collector.follower.stream_process.kill()  # the session's ssh client: the master survives
        wait_for(lambda: len(collector.steps()) > 400, 30, "records after the stream's client was killed")
        collector.follower.connection.master.kill()  # the connection itself
    assert collector.follower.reconnects >= 2
    assert any("reconnected" in notice for notice in collector.notices)


def test_every_record_once_when_sshd_restarts(over_ssh, tmp_path):
    with following_a_writer(str(tmp_path / "events.jsonl"), 900) as collector:
        wait_for(lambda: len(collector.steps()) > 200, 30, "the first records over ssh")
        over_ssh.restart(down_seconds=2.0)  # sshd and every session it served are gone for 2 s
    # While sshd was down, the header said so: a retry with the reason.
    assert any(state.startswith("retry ") and "connection refused" in state for state in collector.states), \
        collector.states
    assert collector.states[-1] == "connected"


def test_rotation_truncation_and_whole_files_over_ssh(over_ssh, tmp_path):
    path = str(tmp_path / "train.log")
    with open(path, "w") as log:
        log.write("epoch,loss\n0,1.0\n1,0.9\n")
    (tmp_path / "notes.bin").write_bytes(b"\0" * 10)
    collector = Collector(remote(str(tmp_path)))  # a directory: its best log is picked over there
    state_path = tmp_path / "trainer_state.json"
    try:
        wait_for(lambda: len([r for r in collector.records if isinstance(r, MetricRecord)]) >= 2, 30, "the CSV rows")
        assert collector.follower.source == f"twtest:{path}"
        with open(path, "a") as log:
            log.write("2,0.8\n")
        wait_for(lambda: len([r for r in collector.records if isinstance(r, MetricRecord)]) >= 3, 30, "row 3")
        os.rename(path, path + ".1")
        with open(path, "w") as log:
            log.write("epoch,loss\n3,0.7\n")
        wait_for(lambda: any("replaced by a new file" in n for n in collector.notices), 30, "the rotation notice")
        # The notice can come before the new file's bytes are read over there: cutting the file now
        # could take its row away before it was ever sent (that is truncation, tested next).
        wait_for(lambda: 0.7 in [r.values.get("loss") for r in collector.records if isinstance(r, MetricRecord)],
                 30, "the new file's row")
        os.truncate(path, 0)
        time.sleep(0.6)
        # Longer than before, so a slow round that missed the empty file still sees other first bytes.
        with open(path, "w") as log:
            log.write("epoch,loss\n0,2.0\n1,1.5\n")
        wait_for(lambda: any("truncated" in n for n in collector.notices), 30, "the truncation notice")
        values = [r.values.get("loss") for r in collector.records if isinstance(r, MetricRecord)]
        wait_for(lambda: [r.values.get("loss") for r in collector.records
                          if isinstance(r, MetricRecord)][-2:] == [2.0, 1.5], 30, "the rewritten file's rows")
        assert values[:4] == [1.0, 0.9, 0.8, 0.7]
    finally:
        collector.close()
    # A format rewritten whole is re-fetched whenever it changes.
    state = {"log_history": [{"epoch": 1.0, "step": 10, "loss": 1.0}], "global_step": 10}
    state_path.write_text(json.dumps(state, indent=2))
    collector = Collector(remote(str(state_path)))
    try:
        wait_for(lambda: any(isinstance(r, MetricRecord) for r in collector.records), 30, "trainer_state.json")
        state["log_history"].append({"epoch": 2.0, "step": 20, "loss": 0.5})
        state_path.write_text(json.dumps(state, indent=2))
        wait_for(lambda: sum(isinstance(r, ResetRecord) for r in collector.records) >= 2, 30, "the re-fetch")
        last = collector.records[max(i for i, r in enumerate(collector.records) if isinstance(r, ResetRecord)):]
        assert [r.step for r in last if isinstance(r, MetricRecord) and "loss" in r.values] == [10, 20]
    finally:
        collector.close()


def test_a_tensorboard_event_file_over_ssh(over_ssh, tmp_path):
    """A binary format on the stream: records are length-prefixed, not lines."""
    pytest.importorskip("tensorboard")
    log = TensorBoardLog(str(tmp_path))
    log.write_steps(range(5))
    collector = Collector(remote(str(tmp_path)))
    try:
        wait_for(lambda: len(collector.steps()) >= 5, 30, "the first events")
        log.write_steps(range(5, 12))
        wait_for(lambda: len(collector.steps()) >= 12, 30, "the appended events")
        assert collector.follower.format_name == "tensorboard_events"
        assert sorted(set(collector.steps())) == list(range(12))
    finally:
        collector.close()
        log.close()


def test_an_mlflow_run_directory_over_ssh(over_ssh, tmp_path):
    """One file per metric, found from the remote listing and merged by step."""
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "lr").write_text("0.001")
    (tmp_path / "metrics").mkdir()
    for name, scale in (("loss", 1.0), ("val_loss", 1.5)):
        (tmp_path / "metrics" / name).write_text("".join(f"{1700000000000 + step} {scale / (step + 1)} {step}\n"
                                                         for step in range(4)))
    collector = Collector(remote(str(tmp_path)))
    try:
        wait_for(lambda: len(collector.steps()) >= 8, 30, "both metrics")
        assert collector.follower.format_name == "mlflow_run"
        with open(tmp_path / "metrics" / "loss", "a") as file:
            file.write("1700000000004 0.2 4\n")
        wait_for(lambda: 4 in collector.steps(), 30, "the appended point")
    finally:
        collector.close()


CTC = [PYTHON, "-m", "trainers.ctc_reference", "--train_size", "64", "--val_size", "32", "--hidden", "32",
       "--epochs", "500", "--epoch_sleep", "0.2"]


def test_lr_change_checkpoint_and_stop_of_a_remote_reference_trainer(over_ssh, tmp_path):
    pytest.importorskip("torch")
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=REPO, name="remote")
    collector = Collector(remote(record.run_dir))
    try:
        follower = collector.follower
        wait_for(lambda: follower.record is not None, 60, "the run record over ssh")
        assert follower.run_dir == record.run_dir
        handle = RunHandle(follower.run_dir, SshRunHost(follower.connection), record=follower.record)
        wait_for(lambda: handle.controllable, 120, "the trainer's run_start with control")
        command_id, request = handle.set_lr("x0.5")
        assert request == {"factor": 0.5}

        def ack_of(command: str):
            return next((r for r in collector.records if isinstance(r, AckRecord) and r.command_id == command), None)
        ack = wait_for(lambda: ack_of(command_id), 60, "the LR acknowledgement, read over ssh")
        assert ack.applied and ack.action == "set_lr", ack
        checkpoint_id = handle.checkpoint()
        assert wait_for(lambda: ack_of(checkpoint_id), 60, "the checkpoint acknowledgement").applied
        result = handle.stop(FAST)
        assert "gracefully" in result and "exit code 0" in result, result
        wait_for(lambda: any(isinstance(r, StatusRecord) and r.state == "stopped" for r in collector.records), 30,
                 "the stopped status, read over ssh")
        with open(os.path.join(record.run_dir, "control.jsonl")) as control:  # written over ssh, owner-only
            assert len(control.readlines()) == 3
        assert os.stat(os.path.join(record.run_dir, "control.jsonl")).st_mode & 0o777 == 0o600
    finally:
        collector.close()
        local = RunHandle(record.run_dir)
        if local.alive:
            local.stop(FAST)


PRINTER = ("import time\nfor i in range(10**6):\n    print(f'epoch {i} loss {1/(i+1):.4f}', flush=True)\n"
           "    time.sleep(0.2)\n")


def test_stop_by_signal_a_remote_run_without_the_callback(over_ssh, tmp_path):
    record = launch_run([PYTHON, "-c", PRINTER], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="plain")
    try:
        handle = RunHandle(record.run_dir, SshRunHost(SshConnection("twtest")))
        wait_for(lambda: handle.refresh().pid and handle.alive, 30, "the process, seen over ssh")
        stdout = os.path.join(record.run_dir, "stdout.log")
        wait_for(lambda: "loss" in open(stdout).read(), 30, "its first printed line")
        assert not handle.controllable
        with pytest.raises(Exception, match="no trainwatch callback"):
            handle.set_lr("x0.5")
        result = handle.stop(FAST)
        assert "stopped by SIGINT" in result, result
        local = RunHandle(record.run_dir)
        assert local.record.stop_signal == "SIGINT"
        assert not local.alive
        handle.run_host.connection.close()
        # With no event log, its printed output is read for metrics, over ssh as here.
        collector = Collector(remote(record.run_dir))
        try:
            try:
                wait_for(lambda: any("printed output" in notice for notice in collector.notices), 30, "the fallback")
            except AssertionError:
                raise AssertionError(f"no fallback: {collector.notices} {collector.states} {collector.records[:5]} "
                                     f"{collector.follower.record}") from None
            wait_for(lambda: any(isinstance(r, MetricRecord) and "loss" in r.values for r in collector.records), 30,
                     "metrics parsed from stdout.log")
            assert collector.follower.format_name == "plain_text"
        finally:
            collector.close()
    finally:
        if RunHandle(record.run_dir).alive:
            RunHandle(record.run_dir).stop(FAST)


def tail_error(server, target: str) -> str:
    """What `trainwatch tail` says (stderr) when it cannot follow ``target``; it must exit 2 with one line."""
    result = subprocess.run([sys.executable, "-m", "tui.cli", "tail", target], capture_output=True, text=True,
                            env=server.environment(), cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, (result.returncode, result.stdout[-300:], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_one_clear_line_for_each_connection_problem(ssh_server, tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "metrics", "step": 1, "metrics": {"loss": 1.0}}\n')
    assert "unknown host" in tail_error(ssh_server, f"twtest-nohost:{log}")
    assert "login refused (permission denied: publickey)" in tail_error(ssh_server, f"twtest-wrongkey:{log}")
    assert "connection refused" in tail_error(ssh_server, f"twtest-closed:{log}")
    assert tail_error(ssh_server, f"twtest:{tmp_path}/nothing.log").endswith("no such file or directory")
    # Permission denied: a file the login user may not read.
    secret = ssh_server.shared_file("data/secret.log", "epoch 1 loss 0.5\n")
    host = "twtest-other" if ssh_server.other_user else "twtest"  # root reads anything: log in as another user
    os.chmod(secret, 0o600 if ssh_server.other_user else 0o000)
    assert tail_error(ssh_server, f"{host}:{secret}").endswith("permission denied")
    result = subprocess.run([sys.executable, "-m", "tui.cli", "lr", f"twtest:{tmp_path}", "x0.5"], capture_output=True,
                            text=True, env=ssh_server.environment(), cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "not a run directory" in result.stderr and len(result.stderr.splitlines()) == 1


def test_permission_lost_and_regained_mid_stream(over_ssh):
    if over_ssh.other_user is None:
        pytest.skip("needs root to let a second user log in; as a normal user chmod 000 is the same check")
    path = over_ssh.shared_file("shared-run/events.jsonl",
                                '{"event": "metrics", "step": 0, "metrics": {"loss": 1.0}}\n')
    collector = Collector(remote(path, host="twtest-other"))
    try:
        wait_for(lambda: collector.steps() == [0], 30, "the first record as the other user")
        os.chmod(path, 0o600)
        with open(path, "a") as log:
            log.write('{"event": "metrics", "step": 1, "metrics": {"loss": 0.5}}\n')
        wait_for(lambda: any("permission denied; will look again" in n for n in collector.notices), 30, "the notice")
        os.chmod(path, 0o644)
        wait_for(lambda: collector.steps() == [0, 1], 30, "the record written while it was unreadable")
    finally:
        collector.close()


def test_remote_targets_are_told_from_local_paths(tmp_path):
    assert parse_remote_target("gpu1:/runs/x") == RemoteTarget("gpu1", "/runs/x")
    assert parse_remote_target("me@gpu1.lab:runs/x").destination == "me@gpu1.lab"
    assert parse_remote_target("gpu1:") == RemoteTarget("gpu1", "")
    assert parse_remote_target("[::1]:/x").host == "::1"
    assert parse_remote_target("./a:b") is None and parse_remote_target("/abs/a:b") is None
    assert parse_remote_target("C:/logs") is None
    local = tmp_path / "odd:name"
    local.write_text("x")
    os.chdir(tmp_path)
    assert parse_remote_target("odd:name") is None  # an existing local path wins


def test_stream_protocol_survives_a_chatty_shell_and_split_reads():
    stream = b"Welcome to gpu1!\nlast login...\n@TW 1 ino 42\n@TW 1 data 0 6\nab\ncd\n@TW 0 sync\n"
    parser = StreamProtocolParser()
    events = []
    for index in range(len(stream)):  # one byte at a time
        events += parser.feed(stream[index:index + 1])
    assert [(e.file_number, e.kind, e.payload) for e in events] == [(1, "ino", b""), (1, "data", b"ab\ncd\n"),
                                                                      (0, "sync", b"")]
    assert describe_ssh_failure("ssh: connect to host x port 22: Connection timed out", "x").endswith("timed out")
    assert "host key" in describe_ssh_failure("Host key verification failed.", "x")


# Numbered records; when the flag file appears, the log is rotated (renamed to .1, a new one opened)
# and the numbering goes on in the new file.
ROTATING_WRITER = textwrap.dedent("""
    import json, os, sys, time
    path, count, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    log, rotated = open(path, "ab", buffering=0), False
    for step in range(count):
        if not rotated and os.path.exists(flag):
            log.close()
            os.rename(path, path + ".1")
            log, rotated = open(path, "ab", buffering=0), True
        log.write(json.dumps({"event": "metrics", "step": step, "metrics": {"loss": 1.0 / (step + 1)}}).encode() + b"\\n")
        time.sleep(1 / 150)
    log.close()
""")


def test_every_record_once_when_the_log_rotates_while_the_link_is_down(over_ssh, tmp_path):
    """sshd goes away; while it is gone the writer goes on, then rotates its log. Back, the stream
    fetches the end of the old file (under its rotated name) before the new one: nothing lost."""
    path, flag, count = str(tmp_path / "events.jsonl"), str(tmp_path / "rotate-now"), 1200
    writer = subprocess.Popen([sys.executable, "-c", ROTATING_WRITER, path, str(count), flag])
    collector = Collector(remote(path))
    try:
        wait_for(lambda: len(collector.steps()) > 150, 30, "the first records over ssh")
        down = threading.Thread(target=over_ssh.restart, kwargs={"down_seconds": 3.0})
        down.start()
        time.sleep(1.0)  # records go on into the old file while nothing can fetch them
        open(flag, "w").close()
        down.join()
        writer.wait(timeout=60)
        wait_for(lambda: len(collector.steps()) >= count, 60, "every record")
        time.sleep(0.6)
        assert collector.steps() == list(range(count))
        assert any("replaced by a new file" in notice for notice in collector.notices)
    finally:
        writer.kill()
        collector.close()


def test_a_file_rewritten_in_place_to_its_old_size_is_noticed_over_ssh(over_ssh, tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n")
    collector = Collector(remote(str(path)))
    try:
        wait_for(lambda: len([r for r in collector.records if isinstance(r, MetricRecord)]) >= 2, 30, "the rows")
        path.write_text("epoch,loss\n0,2.0\n1,1.9\n")  # exactly as long: only its first bytes tell
        wait_for(lambda: any("truncated" in notice for notice in collector.notices), 30, "the rewrite noticed")
        wait_for(lambda: [r.values.get("loss") for r in collector.records if isinstance(r, MetricRecord)][-2:]
                 == [2.0, 1.9], 30, "the rewritten rows")
    finally:
        collector.close()
