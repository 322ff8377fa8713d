"""A reader following a file that a separate writer process appends to, half lines included."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from tui.readers import read_target
from tui.readers.log_reader import DETECT_BYTES, LogReader
from tui.model.records import MetricRecord
from tui.model.run_model import RunModel

# The writer cuts every third line in two, with a pause between the halves, so the reader
# really meets half-written lines.
WRITER = textwrap.dedent("""
    import sys, time
    path, kind, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "native":
        sys.path.insert(0, sys.argv[4])
        from trainers.runlog import RunLog
        log = RunLog(path)
        for epoch in range(epochs):
            log.metrics(step=epoch * 10, epoch=epoch, loss=1.0 / (epoch + 1), val_loss=1.5 / (epoch + 1))
            time.sleep(0.01)
        sys.exit(0)
    with open(path, "a") as handle:
        handle.write("epoch,loss,val_loss\\n"); handle.flush()
        for epoch in range(epochs):
            line = f"{epoch},{1.0 / (epoch + 1):.6f},{1.5 / (epoch + 1):.6f}\\n"
            if epoch % 3 == 0:
                handle.write(line[:5]); handle.flush(); time.sleep(0.02)
                handle.write(line[5:])
            else:
                handle.write(line)
            handle.flush()
            time.sleep(0.005)
""")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def follow(path: str, writer: subprocess.Popen) -> list[MetricRecord]:
    """Poll the file like the live UI does: read what was appended, feed it, until the writer ends."""
    while not os.path.exists(path) or os.path.getsize(path) == 0:
        time.sleep(0.005)
    with open(path, "rb") as handle:
        reader = LogReader(path, handle.read(DETECT_BYTES))
        handle.seek(0)
        records, saw_partial = [], False
        while True:
            finished = writer.poll() is not None
            chunk = handle.read()
            if chunk:
                saw_partial |= not chunk.endswith(b"\n")
                records += reader.feed(chunk)
            elif finished:
                break
            time.sleep(0.003)
        records += reader.finish()
    return [r for r in records if isinstance(r, MetricRecord)], saw_partial


def run_writer(tmp_path, kind: str, name: str, epochs: int = 60):
    path = str(tmp_path / name)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, kind, str(epochs), REPO])
    records, saw_partial = follow(path, writer)
    assert writer.wait(timeout=30) == 0
    return path, records, saw_partial


def test_csv_grown_by_another_process_with_cut_lines(tmp_path):
    path, records, saw_partial = run_writer(tmp_path, "csv", "training_log.csv")
    assert saw_partial, "the writer should have been caught mid-line at least once"
    assert [r.epoch for r in records] == [float(e) for e in range(60)]  # nothing lost, nothing doubled
    assert records[3].values == {"loss": 0.25, "val_loss": 0.375}
    whole = [r for r in read_target(path).records if isinstance(r, MetricRecord)]
    assert whole == records


def test_native_log_grown_by_another_process(tmp_path):
    path, records, _ = run_writer(tmp_path, "native", "events.jsonl", epochs=40)
    assert [r.step for r in records] == [e * 10 for e in range(40)]
    model = RunModel()
    model.apply(records)
    assert model.summary_of("val_loss")["best_epoch"] == 39


# Two processes logging per step to one event log, the second a few steps behind the first (what
# each rank of a torchrun writes when a script logs on every rank).
TWO_WRITERS = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from trainers.runlog import RunLog
    path, lag = sys.argv[1], int(sys.argv[2])
    log = RunLog(path)
    time.sleep(lag * 0.01)
    for step in range(1, 151):
        log.metrics(step=step, epoch=step / 50, loss=2.0 / step ** 0.5)
        log.flush()
        time.sleep(0.01)
    log.close()
""")


def test_two_writers_interleaved_by_a_few_steps_are_one_run(tmp_path):
    path = str(tmp_path / "events.jsonl")
    writers = [subprocess.Popen([sys.executable, "-c", TWO_WRITERS, path, str(lag), REPO]) for lag in (0, 4)]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    records = [r for r in read_target(path).records if isinstance(r, MetricRecord)]
    steps = [record.step for record in records]
    assert any(later < earlier for earlier, later in zip(steps, steps[1:])), "the writers should interleave"
    model = RunModel()
    model.apply(records)
    assert len(model.segments) == 1 and model.late_records > 0
    assert list(model.segments[0].series["loss"].steps) == sorted(model.segments[0].series["loss"].steps)
    # A counter back near its start is still a new run appended to the log.
    model.apply([MetricRecord(step=step, epoch=step / 50, values={"loss": 1.0}) for step in (1, 2, 3)])
    assert len(model.segments) == 2
