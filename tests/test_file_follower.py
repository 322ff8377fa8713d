"""Following a file that a separate writer process appends to, rotates, truncates, deletes and re-creates."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tui.follow.file_follower import FileFollower
from tui.follow.target_follower import TargetFollower
from tui.model.records import MetricRecord, ResetRecord

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Epochs 0-19 go to the first file, then the file is rotated, truncated or deleted, and epochs
# 20-39 go to the file that is then at the path. Pauses let the follower catch up first, as a
# real log rotation happens seconds apart from the writes around it.
WRITER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[3])
    from trainers.runlog import RunLog
    path, mode = sys.argv[1], sys.argv[2]
    log = RunLog(path)
    for epoch in range(40):
        if epoch == 20:
            time.sleep(0.3)
            if mode == "rotate":
                # The old file moves to .1 and a new one takes its place in one step, so the path
                # never vanishes (a bare rename-then-create can be seen as "deleted" in between).
                log.close(); os.link(path, path + ".1"); open(path + ".new", "w").close()
                os.replace(path + ".new", path); log = RunLog(path)
            elif mode == "truncate":
                os.truncate(path, 0)  # logrotate's copytruncate; RunLog appends, so it goes on at 0
            elif mode == "delete":
                log.close(); os.remove(path); time.sleep(0.4); log = RunLog(path)
        log.metrics(step=epoch * 10, epoch=epoch, loss=1.0 / (epoch + 1), val_loss=1.5 / (epoch + 1))
        time.sleep(0.01)
    log.close()
""")


def follow_until_exit(follower: FileFollower, writer: subprocess.Popen) -> tuple[list[MetricRecord], list[str]]:
    records, notices = [], []
    while True:
        finished = writer.poll() is not None
        batch = follower.read_new()
        records += batch.records
        notices += batch.notices
        if finished and not batch:
            break
        time.sleep(0.005)
    records += follower.finish().records
    return [r for r in records if isinstance(r, MetricRecord)], notices


@pytest.mark.parametrize("mode, notice", [("rotate", "replaced by a new file"), ("truncate", "was truncated"),
                                          ("delete", "was deleted")])
def test_every_record_exactly_once_across_file_changes(tmp_path, mode, notice):
    path = str(tmp_path / "events.jsonl")
    open(path, "w").close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, mode, REPO])
    follower = FileFollower(path)
    records, notices = follow_until_exit(follower, writer)
    assert writer.wait(timeout=30) == 0
    assert [r.epoch for r in records] == [float(e) for e in range(40)]
    assert any(notice in line for line in notices), notices
    if mode == "delete":
        assert any("is back" in line for line in notices)


def test_missing_file_is_waited_for(tmp_path):
    path = str(tmp_path / "later.csv")
    follower = FileFollower(path)
    assert "waiting for it to appear" in follower.read_new().notices[0]
    assert not follower.read_new()  # said once, not at every poll
    with open(path, "w") as handle:
        handle.write("epoch,loss\n0,1.0\n1,0.5\n")
    batch = follower.read_new()
    assert [r.values["loss"] for r in batch.records if isinstance(r, MetricRecord)] == [1.0, 0.5]
    assert not any("is back" in notice for notice in batch.notices)  # it was never there before


def test_rewritten_in_place_past_the_old_end_is_read_again(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n")
    follower = FileFollower(str(path))
    assert len(follower.read_new().records) == 2
    # Another run overwrote the file and wrote more than there was: the size alone cannot tell.
    path.write_text("epoch,loss\n" + "".join(f"{e},{0.1 * e:.1f}\n" for e in range(6)))
    batch = follower.read_new()
    assert any("truncated" in notice for notice in batch.notices)
    assert [r.epoch for r in batch.records if isinstance(r, MetricRecord)] == [0, 1, 2, 3, 4, 5]


def test_whole_file_format_keeps_last_good_state_mid_rewrite(tmp_path):
    path = tmp_path / "trainer_state.json"
    state = {"log_history": [{"epoch": 1.0, "step": 10, "loss": 2.0}, {"epoch": 1.0, "step": 10, "eval_loss": 2.5}]}
    path.write_text(json.dumps(state))
    follower = FileFollower(str(path))
    first = follower.read_new().records
    assert isinstance(first[0], ResetRecord) and len(first) == 3
    path.write_text(json.dumps(state)[:40])  # caught while the trainer rewrites it
    assert not follower.read_new().records
    state["log_history"].append({"epoch": 2.0, "step": 20, "loss": 1.5})
    path.write_text(json.dumps(state))
    again = follower.read_new().records
    assert isinstance(again[0], ResetRecord) and len(again) == 4


def test_target_follower_wakes_on_change_and_stops(tmp_path):
    """watchdog wakes the loop at once: a line appended is read long before the 5 s safety poll."""
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "metrics", "time": 1, "step": 0, "metrics": {"loss": 1.0}}\n')
    follower = TargetFollower(str(path), poll_seconds=5.0)
    batches = follower.batches()
    assert next(batches).records
    with open(path, "a") as handle:
        handle.write('{"event": "metrics", "time": 2, "step": 1, "metrics": {"loss": 0.5}}\n')
    started = time.monotonic()
    batch = next(batches)
    assert batch.records[0].values == {"loss": 0.5}
    assert time.monotonic() - started < 4.0, "the change should wake the reader before the safety poll"
    follower.stop()
    assert next(batches, None) is None


def test_run_directory_follows_its_output_files(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"event": "metrics", "step": 0, "metrics": {"loss": 1.0}}\n')
    (tmp_path / "stdout.log").write_text("loading data\nstarting epoch 1\n")
    follower = TargetFollower(str(tmp_path))
    batch = follower.read_once()
    assert batch.output_lines == ["loading data", "starting epoch 1"]
    assert [r.values for r in batch.records if isinstance(r, MetricRecord)] == [{"loss": 1.0}]
    assert not batch.notices  # no stderr.log is not news


def test_rotation_reads_all_that_is_left_of_a_big_old_file(tmp_path, monkeypatch):
    """Several read chunks still unread when the file is rotated: none of it is lost."""
    monkeypatch.setattr("tui.follow.file_follower.READ_CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr("tui.follow.file_follower.BULK_READ_CHUNK_BYTES", 64 * 1024)  # a CSV reads in bulk chunks
    path = tmp_path / "log.csv"
    rows = 20_000  # about 420 KB: six and more 64 KB chunks
    path.write_text("epoch,loss\n" + "".join(f"{e},{1 / (e + 1):.12f}\n" for e in range(rows)))
    follower = FileFollower(str(path))
    first = follower.read_new()
    assert first.more, "the first look should have read only one chunk"
    os.rename(path, str(path) + ".1")
    path.write_text("epoch,loss\n")
    rest = follower.read_new()
    epochs = [r.epoch for r in first.records + rest.records if isinstance(r, MetricRecord)]
    assert epochs == [float(e) for e in range(rows)]
    assert any("replaced by a new file" in notice for notice in rest.notices)


def test_a_file_rewritten_in_place_to_its_old_size_is_noticed(tmp_path):
    """Same size, other first bytes, a later mtime: read again from the start, said as truncated."""
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n")
    follower = FileFollower(str(path))
    first = follower.read_new()
    assert [r.values["loss"] for r in first.records if isinstance(r, MetricRecord)] == [1.0, 0.9]
    assert not follower.read_new().records  # nothing new: the same size, nothing moved
    before = os.stat(path).st_mtime_ns
    path.write_text("epoch,loss\n0,2.0\n1,1.9\n")  # exactly as long
    os.utime(path, ns=(before + 10**9, before + 10**9))
    again = follower.read_new()
    assert any("truncated" in notice for notice in again.notices)
    assert [r.values["loss"] for r in again.records if isinstance(r, MetricRecord)] == [2.0, 1.9]
    follower.close()


def test_the_read_ahead_takes_a_whole_history_of_several_chunks_once(tmp_path, monkeypatch):
    """`trainwatch tail` starts the first look before the screen loads: a history of several chunks
    is read through by it, and the follower's batches then hand each record over exactly once,
    in order, and go on with what is appended."""
    monkeypatch.setattr("tui.follow.file_follower.BULK_READ_CHUNK_BYTES", 256 * 1024)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"event": "metrics", "step": step, "metrics": {"loss": 1 / (step + 1)}}) + "\n"
                            for step in range(40_000)))
    assert path.stat().st_size > 4 * 256 * 1024
    follower = TargetFollower(str(path), poll_seconds=0.1)
    follower.read_ahead()
    steps: list[int] = []
    for batch in follower.batches():
        for record in batch.records:
            if isinstance(record, MetricRecord):
                steps.append(record.step)
            else:  # a block of columns
                steps.extend(int(step) for step in getattr(record, "steps", []))
        if len(steps) == 40_000:
            with open(path, "a") as log:
                log.write(json.dumps({"event": "metrics", "step": 40_000, "metrics": {"loss": 0.1}}) + "\n")
        if len(steps) > 40_000:
            follower.stop()
    assert steps == list(range(40_001))
