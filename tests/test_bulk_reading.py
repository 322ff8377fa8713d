"""The bulk path (tui/readers/bulk_columns.py, RunModel._apply_columns, Series.extend, the point
columns) is a faster way to the same run model: every test here reads the same bytes both ways,
or applies the same records both ways, and wants the same model, point for point."""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from array import array

import numpy as np
import pytest

import tui.readers.csv_log as csv_log
import tui.readers.native_jsonl as native_jsonl
from tui.commands.check_report import diagnose_target, report_document
from tui.follow.file_follower import FileFollower
from tui.follow.whole_run import read_whole_run
from tui.model.metric_columns import MetricColumns
from tui.model.point_columns import PiecewiseColumn, StrideColumn
from tui.model.records import MetricRecord
from tui.model.run_model import RunModel
from tui.model.series import Series
from tui.readers.values import to_float
from tui.view.chart_downsample import DisplayCurve

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def model_state(model: RunModel) -> str:
    """Everything the model holds, as text (NaN spelled alike, wherever it came from)."""
    segments = []
    for segment in model.segments:
        series = [(name, list(s.values), [s.steps[i] for i in range(len(s))], [s.epochs[i] for i in range(len(s))],
                   s.nan_count, s.inf_count, s.best_index(), s.meta.split, s.changes(), s.coarse())
                  for name, s in segment.series.items()]
        segments.append((segment.index, segment.resumed, segment.resumed_from, segment.start_step, segment.start_epoch,
                         segment.last_step, segment.last_epoch, segment.lead, segment.revision,
                         {kind: (c.step, c.epoch, c.count) for kind, c in segment.kinds.items()},
                         [(d.reference, d.hypothesis, d.step, d.epoch) for d in segment.decodes], series))
    return repr((segments, model.record_count, model.late_records, model.notices, model.status, model.acks,
                 model.checkpoints, model.dataset_sizes, model.warning_count)).replace("nan", "NaN")


def assert_same(ours: str, theirs: str, what: str = "") -> None:
    """Equal, or the first difference with a little around it (pytest's own diff of two 10 MB
    strings would take minutes)."""
    if ours == theirs:
        return
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    raise AssertionError(f"{what}: differs at {at}:\n  ...{ours[max(0, at - 200):at + 100]}\n  "
                         f"...{theirs[max(0, at - 200):at + 100]}")


def read_both_ways(path: str, monkeypatch) -> tuple[RunModel, RunModel]:
    monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 1 << 60)
    by_lines = read_whole_run(path)
    monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 0)
    in_bulk = read_whole_run(path)
    return by_lines, in_bulk


def count_bulk_reads(monkeypatch) -> dict[str, int]:
    """Counts the bulk reads that were taken (not handed back to the line way)."""
    taken = {"jsonl": 0, "csv": 0}
    for module, name, key in ((native_jsonl, "native_jsonl_records", "jsonl"), (csv_log, "csv_records", "csv")):
        original = getattr(module, name)

        def counted(*args, _original=original, _key=key):
            records = _original(*args)
            taken[_key] += records is not None
            return records
        monkeypatch.setattr(module, name, counted)
    return taken


def corpus_logs() -> list[str]:
    corpus = os.path.join(SHARED, "corpus")
    with open(os.path.join(corpus, "labels.jsonl")) as handle:
        files = [os.path.join(corpus, json.loads(line)["file"]) for line in handle if line.strip()]
    seeds = os.path.join(SHARED, "fixtures", "seeds")
    for name in sorted(os.listdir(seeds)):
        folder = os.path.join(seeds, name)
        if os.path.isdir(folder):
            files += [os.path.join(folder, log) for log in sorted(os.listdir(folder))]
    return files


def test_every_corpus_log_reads_the_same_in_bulk(monkeypatch):
    """All 70 corpus logs and the five seeds, each read both ways (bulk forced on the smallest):
    the same model and the same `check --json`; a good share of them really went in bulk."""
    taken = count_bulk_reads(monkeypatch)
    logs = corpus_logs()
    assert len(logs) >= 75
    for path in logs:
        by_lines, in_bulk = read_both_ways(path, monkeypatch)
        assert_same(model_state(in_bulk), model_state(by_lines), path)
        monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 0)
        report_in_bulk = report_document(*diagnose_target(path))
        monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 1 << 60)
        assert repr(report_in_bulk) == repr(report_document(*diagnose_target(path))), path
    assert taken["jsonl"] + taken["csv"] >= 10 and taken["csv"] >= 5, taken


def random_records(rng: random.Random) -> list[MetricRecord]:
    """A training log's records with what makes the run model think: restarts, a second writer a
    few steps behind, validation rows repeated at the same step, rows without a step, NaN."""
    records, step = [], 0
    for row in range(rng.randint(1, 3000)):
        roll = rng.random()
        if roll < 0.002:
            step = max(0, step - rng.choice([3, 500, step]))
        elif roll > 0.004:
            step += rng.choice([1, 1, 1, 2])
        if rng.random() < 0.05:
            values = {"val_loss": rng.random(), "val_acc": rng.random()} if rng.random() < 0.9 else {"val_acc": rng.random()}
            records.append(MetricRecord(values, step if rng.random() < 0.8 else None, float(step // 100)))
        values = {"loss": rng.random() if rng.random() > 0.01 else math.nan}
        if rng.random() < 0.3:
            values["lr"] = 0.1 if step < 1000 else 0.01
        records.append(MetricRecord(values, step if rng.random() > 0.01 else None,
                                    step / 100 if rng.random() > 0.5 else None, 1000.0 + row))
    return records


def columns_of(records: list[MetricRecord]) -> MetricColumns:
    shapes, index = [], {}
    for record in records:
        index.setdefault(tuple(record.values), len(index))
    shapes = list(index)
    names = list(dict.fromkeys(name for shape in shapes for name in shape))
    values = {name: np.full(len(records), np.nan) for name in names}
    for row, record in enumerate(records):
        for name, value in record.values.items():
            values[name][row] = value
    def column(pick):
        return np.array([math.nan if pick(record) is None else pick(record) for record in records], dtype=float)
    return MetricColumns(shapes, np.array([index[tuple(r.values)] for r in records], dtype=np.int32), values,
                         column(lambda r: r.step), column(lambda r: r.epoch), column(lambda r: r.wall_time), None)


@pytest.mark.parametrize("seed", range(60))
def test_columns_apply_as_their_records_do(seed):
    rng = random.Random(seed)
    records = random_records(rng)
    one_by_one = RunModel()
    one_by_one.apply(records)
    in_blocks = RunModel()
    first, second = sorted(rng.randint(0, len(records)) for _ in range(2))
    in_blocks.apply(records[:first])
    for block in (records[first:second], records[second:]):
        if block:
            in_blocks.apply([columns_of(block)])
    assert_same(model_state(in_blocks), model_state(one_by_one))


def test_series_extend_is_append_point_by_point():
    rng = np.random.default_rng(7)
    values = rng.random(40_000)
    values[[5, 900, 30_000]] = [np.nan, np.inf, -np.inf]
    lr = np.where(np.arange(40_000) < 20_000, 0.1, 0.01) * (1 + 1e-5 * np.sin(np.arange(40_000)))
    for name, column in (("loss", values), ("val_acc", values), ("lr", lr)):
        steps, epochs = np.arange(len(column), dtype=float) * 2, np.floor(np.arange(len(column)) / 700)
        one, block, pieces = Series(name), Series(name), Series(name)
        for value, step, epoch in zip(column.tolist(), steps.tolist(), epochs.tolist()):
            one.append(value, int(step), epoch)
        block.extend(column, steps, epochs)
        for start in range(0, len(column), 3_001):
            pieces.extend(column[start:start + 3_001], steps[start:start + 3_001], epochs[start:start + 3_001])
        for other in (block, pieces):
            assert repr((list(other.values), list(other.steps), list(other.epochs), other.nan_count, other.inf_count,
                         other.best_index(), other.changes(), other.coarse(), other.finite())) == \
                repr((list(one.values), list(one.steps), list(one.epochs), one.nan_count, one.inf_count,
                      one.best_index(), one.changes(), one.coarse(), one.finite()))


EPOCH_SHAPES = {
    "step / steps_per_epoch": [i / 10_000 for i in range(30_000)],
    "whole epochs": [float(i // 1000) for i in range(30_000)],
    "rounded to 2 decimals": [round(i / 137, 2) for i in range(30_000)],
    "NaN every fifth": [math.nan if i % 5 == 0 else i / 3 for i in range(3_000)],
    "random": [float(random.Random(3).randint(0, 3)) for _ in range(3_000)],
    "huge": [1e20 * i for i in range(300)],
}


@pytest.mark.parametrize("shape", EPOCH_SHAPES)
def test_epochs_read_back_as_a_float32_array_gives_them(shape):
    values = EPOCH_SHAPES[shape]
    reference = np.array(array("f", values), dtype="float64")
    one, block, mixed = PiecewiseColumn(), PiecewiseColumn(), PiecewiseColumn()
    for value in values:
        one.append(value)
    block.extend(np.array(values))
    rng, position = random.Random(1), 0
    while position < len(values):
        size = rng.randint(1, 700)
        mixed.extend(np.array(values[position:position + size]))
        position += size
        if position < len(values) and rng.random() < 0.3:
            mixed.append(values[position])
            position += 1
    for column in (one, block, mixed):
        assert len(column) == len(values)
        assert np.array_equal(column.to_numpy(), reference, equal_nan=True)
        for index in [0, -1, len(values) // 2, len(values) - 1]:
            assert repr(column[index]) == repr(float(reference[index]))


def test_memory_per_point_is_what_the_points_say():
    """Steps counting by one cost nothing, whole epochs a piece each; a stride that breaks turns
    into a plain array, losing nothing."""
    steps, epochs = StrideColumn(), PiecewiseColumn()
    steps.extend(np.arange(1_000_000, dtype=float))
    epochs.extend(np.floor(np.arange(1_000_000) / 5_000))
    assert steps.nbytes() == 0 and epochs.nbytes() == 200 * 24  # 200 epochs, 200 flat pieces
    steps.append(5.0)  # back to step 5: no stride any more
    assert steps.nbytes() == 8 * 1_000_001 and steps[-1] == 5.0 and steps[999_999] == 999_999.0


def test_polars_reads_a_number_out_of_a_cell_exactly_where_float_does():
    """The CSV bulk path trusts polars' numbers: on odd spellings, it finds a number where the line
    parser's to_float does (or none, and the block goes the line way), and the same number."""
    import polars as pl

    rng = random.Random(0)
    spellings = ["1e", "e5", ".", "-", "1..2", "0x1", "1_0", "inf ", "nana", "+-1", "1e5.5", " 1 ", "\t2", "1 2",
                 "-.5e+3", "00012", "NaN", "-NaN", "+inf", "INFINITY", "-Infinity", "1.5%", "true", "null", "0.1e",
                 "5e-324", "1e-400", "9" * 400, "1" + "0" * 310, "٣.٥"]
    spellings += ["".join(rng.choice("0123456789.eE+- naif") for _ in range(rng.randint(1, 6))) for _ in range(20_000)]
    read = pl.Series(spellings).str.strip_chars().cast(pl.Float64, strict=False).to_list()
    for spelling, number in zip(spellings, read):
        expected = to_float(spelling)
        if number is None:
            continue  # nothing for polars: such a cell sends the block the line way
        assert expected is not None and (number == expected or (number != number and expected != expected)), spelling


WRITER = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from trainers.runlog import RunLog
log = RunLog(sys.argv[1])
log.run_start(config={"epochs": 3}, dataset_sizes={"train": 1000, "val": 200})
for step in range(60_000):
    log.metrics(step=step, epoch=step // 20_000, loss=1 / (step + 1), lr=0.1 if step < 30_000 else 0.01)
    if step % 5_000 == 4_999:
        log.metrics(step=step, epoch=step // 20_000, val_loss=2 / (step + 1), val_acc=step / 60_000)
        log.decode(reference="hallo welt", hypothesis="hallo", step=step, epoch=step // 20_000)
        log.checkpoint(f"/tmp/ckpt-{step}.pt", step=step, epoch=step // 20_000)
    if step == 30_000:
        log.metrics(step=step, rare_metric=0.5)  # a name in one line of 60,000: the schema must still have it
        log.metrics(step=step, lr=0.01, loss=0.3)  # the same names in the other order: another kind
log.close()
with open(sys.argv[1], "a") as handle:  # what other writers leave in such a log
    handle.write("not json at all\n")
    handle.write(json.dumps({"event": "metrics", "step": 60_001, "metrics": {"loss": "0.25"}}) + "\n")
    handle.write(json.dumps({"event": "metrics", "step": 60_002, "rank": 1, "metrics": {"loss": None, "acc": 1}}) + "\n")
    handle.write(json.dumps({"event": "metrics", "step": 59_999, "metrics": {"loss": 0.4}}) + "\n")
log = RunLog(sys.argv[1])
log.run_start(config={"epochs": 3}, resumed_from="/tmp/ckpt-39999.pt")
for step in range(40_000, 50_000):
    log.metrics(step=step, epoch=step // 20_000, loss=1 / (step + 1))
log.status("finished", exit_code=0)
log.close()
"""


def test_a_real_writers_log_reads_the_same_in_bulk_and_then_follows(tmp_path, monkeypatch):
    """A trainer's own log (trainers.runlog in a separate process) with a resume, decodes,
    checkpoints, a rare name, names in another order, and other writers' odd lines: read in bulk
    (4 MB, past the real threshold) it is the line way's model, and a follower that read it in
    bulk goes on line by line to the same model as a reading of the whole file."""
    path = tmp_path / "events.jsonl"
    subprocess.run([sys.executable, "-c", WRITER, str(path), REPO], check=True, timeout=120)
    assert path.stat().st_size > 4 << 20
    taken = count_bulk_reads(monkeypatch)
    by_lines, in_bulk = read_both_ways(str(path), monkeypatch)
    assert taken["jsonl"] == 2  # the first 64 KB, then the rest: not handed back for the odd lines
    assert_same(model_state(in_bulk), model_state(by_lines))
    assert "rare_metric" in in_bulk.segments[0].series and len(in_bulk.segments) == 2

    monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 1 << 20)
    follower = FileFollower(str(path))
    followed = RunModel()
    followed.apply(follower.read_new().records)
    assert taken["jsonl"] == 3  # the history came in bulk
    with open(path, "a") as handle:
        for step in range(50_000, 50_100):
            handle.write(json.dumps({"event": "metrics", "step": step, "metrics": {"loss": 0.1}}) + "\n")
    followed.apply(follower.read_new().records)
    follower.close()
    monkeypatch.setattr("tui.readers.log_reader.BULK_MIN_BYTES", 1 << 60)
    assert_same(model_state(followed), model_state(read_whole_run(str(path))))


def test_a_csv_with_text_goes_the_line_way_untouched(tmp_path, monkeypatch):
    """A phase column, a repeated header: the bulk path hands the block back, the parser as it was."""
    path = tmp_path / "metrics.csv"
    rows = ["epoch,phase,loss"] + [f"{e},warmup,{1 / (e + 1)}" for e in range(50_000)]
    rows += ["epoch,phase,loss"] + [f"{e},main,{1 / (e + 2)}" for e in range(50_000)]
    path.write_text("\n".join(rows) + "\n")
    taken = count_bulk_reads(monkeypatch)
    by_lines, in_bulk = read_both_ways(str(path), monkeypatch)
    assert taken["csv"] == 0
    assert_same(model_state(in_bulk), model_state(by_lines))
    assert len(by_lines.segments) == 2


def test_a_long_curve_is_bucketed_at_once_as_point_by_point(monkeypatch):
    series = Series("loss")
    values = np.random.default_rng(2).random(100_001)
    values[7] = np.nan
    series.extend(values, np.arange(len(values), dtype=float), np.floor(np.arange(len(values)) / 1000))
    for unit in ("step", "epoch", "index"):
        for weight in (0.0, 0.6, 0.95):
            at_once = DisplayCurve(weight, unit)
            at_once.update(series)
            monkeypatch.setattr("tui.view.chart_downsample.BULK_FOLD_POINTS", 1 << 60)
            one_by_one = DisplayCurve(weight, unit)
            one_by_one.update(series)
            monkeypatch.undo()
            ours, theirs = at_once.buckets(), one_by_one.buckets()
            assert ours[:3] == theirs[:3] and at_once.bucket_size == one_by_one.bucket_size
            assert np.allclose(ours[3], theirs[3], rtol=1e-12) and math.isclose(at_once.ema, one_by_one.ema, rel_tol=1e-9)


TENSORBOARD_WRITER = r"""
import sys
import numpy as np
from torch.utils.tensorboard import SummaryWriter
writer = SummaryWriter(sys.argv[1])
for step in range(30_000):
    writer.add_scalar("loss", 1 / (step + 1), step)  # step 0 is written without its step field
    if step % 100 == 0:
        writer.add_scalar("lr", 0.1 if step < 15_000 else 0.01, step)
        writer.add_scalar("new_style/acc", step / 30_000, step, new_style=True)  # a tensor scalar: read one by one
    if step % 5_000 == 0:
        writer.add_scalars("pair", {"a": 1.0, "b": 2.0}, step)
        writer.add_histogram("weights", np.arange(100) / (step + 1), step)
        writer.add_text("note", "a text summary", step)
for step in range(20_000, 22_000):  # a restart: the counter goes back
    writer.add_scalar("loss", 2 / (step + 1), step)
writer.add_scalar("loss", 0.5, 2 ** 40)
writer.close()
"""


def test_a_real_tensorboard_file_reads_the_same_in_bulk_corrupt_or_not(tmp_path, monkeypatch):
    """torch's SummaryWriter in a separate process: scalars (step 0 without a step field), tensor
    scalars, histograms, texts, several values per event, a restart; then the same file with a
    payload corrupted and with a record's length corrupted near the end. Decoded in numpy or one
    event at a time: the same model, the same notices."""
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-c", TENSORBOARD_WRITER, str(run)], check=True, timeout=300)
    [event_file] = [path for path in run.iterdir() if "tfevents" in path.name]
    data = event_file.read_bytes()
    corrupt_payload = bytearray(data)
    corrupt_payload[len(data) // 2] ^= 0xFF
    corrupt_length = bytearray(data)
    corrupt_length[len(data) - 300] ^= 0x01
    for name, content in (("plain", data), ("payload", bytes(corrupt_payload)), ("length", bytes(corrupt_length))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / event_file.name).write_bytes(content)
        monkeypatch.setattr("tui.readers.tensorboard_events.BULK_MIN_EVENTS", 1 << 60)
        one_by_one = read_whole_run(str(folder))
        monkeypatch.setattr("tui.readers.tensorboard_events.BULK_MIN_EVENTS", 20_000)
        in_bulk = read_whole_run(str(folder))
        assert_same(model_state(in_bulk), model_state(one_by_one), name)
        assert len(in_bulk.segments) == 2
        kept = {"plain": 30_000, "payload": 29_999, "length": 30_000}[name]  # the corrupt record is dropped
        assert len(in_bulk.segments[0].series["loss"]) == kept
        assert any("corrupt" in notice for notice in in_bulk.notices) == (name != "plain")


def test_split_folders_read_in_bulk_name_their_tags_as_one_by_one(tmp_path, monkeypatch):
    """Keras's layout (train/ and validation/ beside each other, epoch_ tags), big enough for bulk."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for split in ("train", "validation"):
        writer = EventFileWriter(str(tmp_path / split))
        for step in range(25_000):
            values = [Summary.Value(tag="epoch_loss", simple_value=1 / (step + 1))]
            if step % 50 == 0:
                values = [Summary.Value(tag="evaluation_loss_vs_iterations", simple_value=0.3)]
            writer.add_event(Event(step=step, wall_time=1000.0 + step, summary=Summary(value=values)))
        writer.close()
    monkeypatch.setattr("tui.readers.tensorboard_events.BULK_MIN_EVENTS", 1 << 60)
    one_by_one = read_whole_run(str(tmp_path))
    monkeypatch.setattr("tui.readers.tensorboard_events.BULK_MIN_EVENTS", 20_000)
    in_bulk = read_whole_run(str(tmp_path))
    assert_same(model_state(in_bulk), model_state(one_by_one))
    assert {"loss", "val_loss"} <= set(in_bulk.segments[0].series)


def test_crc32c_of_many_rows_is_google_crc32c():
    from tui.readers.crc32c import masked_crc32c, masked_crc32c_rows

    rng = np.random.default_rng(0)
    for length in (1, 8, 37, 200):
        rows = rng.integers(0, 256, (500, length), dtype=np.uint8)
        assert masked_crc32c_rows(rows).tolist() == [masked_crc32c(row.tobytes()) for row in rows]
