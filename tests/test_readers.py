"""Every reader on real corpus files: formats detected, metrics named, epochs and segments right."""
from __future__ import annotations

import json
import os

import pytest

from conftest import CORPUS, corpus_path, corpus_rows, seed_path
from tensorboard_logs import TensorBoardLog
from tui.readers import UnreadableLog, read_target
from tui.model.records import DecodeRecord, MetricRecord, ReaderNotice, TextRecord
from tui.model.run_model import RunModel
from trainers.runlog import RunLog


def model_of(path: str) -> RunModel:
    contents = read_target(path)
    model = RunModel(contents.source, contents.format_name)
    model.apply(contents.records)
    return model


@pytest.mark.parametrize("row", corpus_rows(), ids=lambda row: row["id"])
def test_every_corpus_log_is_read(row):
    model = model_of(os.path.join(CORPUS, row["file"]))
    longest = max((model.summary_of(name)["points"] for name in model.series_names()), default=0)
    assert longest >= 2 or model.decode_count > 0


@pytest.mark.parametrize("corpus_id, expected_format, metric, points", [
    ("d01", "keras_csvlogger", "val_loss", 63),
    ("d10", "keras_csvlogger", "val_ctc_loss", 600),       # epoch column holds "Epoch 12"
    ("d15", "lightning_metrics_csv", "train_loss_step", 852),
    ("d20", "hf_trainer_state", "eval_wer", 6),
    ("d26", "hf_trainer_stdout", "eval_cer", 41),
    ("d28", "fairseq_log", "valid_wer", 572),
    ("d29", "plain_text", "val_loss", 3243),
    ("d30", "keras_progbar", "val_acc", 40),
    ("d31", "keras_progbar", "val_accuracy", 26),             # Keras 3 bars print each epoch twice
    ("d32", "plain_text", "val_loss", 500),
    ("d33", "markdown_table", "Training Loss", 682),
    ("d34", "json_lines", "total_loss", 200),
    ("d36", "json_lines", "test_coco_eval_bbox[0]", 300),     # lists expand to name[i]
    ("d38", "yolo_results_csv", "metrics/mAP50(B)", 20),
    ("d40", "mlflow_metric", "loss", 10),
    ("d56", "yolo_results_csv", "metrics/mAP_0.5:0.95", 300),  # YOLOv5: padded names with ':'
    ("d63", "keras_progbar", "val_loss", 33),                 # Keras 1 verbose=2: "224s - loss: ..."
    ("d65", "text_table", "ValAcc", 22),                      # "Epoch | TrainLoss | ..." over dashes
    ("d67", "plain_text", "test_acc@1", 500),                  # SwAV: "Epoch[k] - Iter: [0/13]" and "Test:"
    ("d68", "mllog", "eval_wer", 56),                         # RNN-T's quality target is a WER
    ("d69", "mllog", "eval_auc", 20),                         # DLRM's is an AUC
])
def test_formats_and_series(corpus_id, expected_format, metric, points):
    model = model_of(corpus_path(corpus_id))
    assert model.format_name == expected_format
    assert model.summary_of(metric)["points"] == points


def test_mllog_events_are_read_amid_the_benchmarks_prints(tmp_path):
    """Only the :::MLLOG events are measurements; the tag may follow a launcher's prefix, and a
    broken event is reported, not fatal."""
    d68 = model_of(corpus_path("d68"))
    assert d68.summary_of("eval_wer")["goal"] == "min"
    path = tmp_path / "result_0.txt"
    path.write_text("\n".join([
        "+ python train.py",
        'Loss: 0.000000',
        '0: :::MLLOG {"key": "submission_benchmark", "value": "dlrm", "metadata": {}}',
        '0: :::MLLOG {"key": "global_batch_size", "value": 55296, "metadata": {}}',
        ':::MLLOG {"key": "eval_accuracy", "value": 0.78, "metadata": {"epoch_num": 0.5}}',
        ':::MLLOG {"key": "eval_accuracy", "value": 0.79, "metadata": {"epoch_num": 1.0',
        '[1,0]<stdout>::::MLLOG {"key": "eval_accuracy", "value": 0.80, "metadata": {"epoch_num": 1.5}}',
    ]) + "\n")
    contents = read_target(str(path))
    assert contents.format_name == "mllog"
    notices = [r for r in contents.records if isinstance(r, ReaderNotice)]
    assert len(notices) == 1 and "not JSON" in notices[0].message
    model = model_of(str(path))
    assert model.series_names() == ["eval_auc"]
    series = model.segments[0].series["eval_auc"]
    assert list(series.values) == [0.78, 0.80] and list(series.epochs) == [0.5, 1.5]


def test_printed_logs_of_other_scripts(tmp_path):
    """Batch counters place a print inside its epoch, timing columns are no metrics, evaluation lines
    without a marker of their own land at the epoch being trained, a sentence with a comma is no CSV
    header, and a printed table's markers after a value are not part of it."""
    d67 = model_of(corpus_path("d67"))
    test, train = d67.segments[0].series["test_acc@1"], d67.segments[0].series["Loss"]
    assert list(test.epochs[:2]) == [0, 1] and list(train.epochs[:2]) == [0, 1]
    assert d67.summary_of("test_acc@1")["goal"] == "max" and not d67.segments[0].series["Data"].meta.is_metric
    d63 = model_of(corpus_path("d63"))
    assert len(d63.segments) == 4 and list(d63.segments[0].series["val_acc"].values[:2]) == [0.5808, 0.7712]
    d65 = model_of(corpus_path("d65"))
    assert d65.segments[0].series["ValAcc"].values[0] == 60.67  # "60.67%" of a row ending "← best"
    word_lm = tmp_path / "word_lm.log"
    word_lm.write_text("\n".join([
        "| epoch   1 |   200/ 400 batches | lr 20.00 | ms/batch 40.12 | loss  7.60 | ppl  2000.1",
        "| epoch   1 |   400/ 400 batches | lr 20.00 | ms/batch 39.90 | loss  6.80 | ppl   898.5",
        "| end of epoch   1 | time: 20.1s | valid loss  6.50 | valid ppl   665.1",
        "| epoch   2 |   200/ 400 batches | lr 20.00 | ms/batch 40.00 | loss  6.40 | ppl   601.8",
        "| End of training | test loss  6.10 | test ppl   445.9",
    ]) + "\n")
    model = model_of(str(word_lm))
    series = model.segments[0].series
    assert list(series["loss"].epochs) == [0.5, 1.0, 1.5] and not series["ms/batch"].meta.is_metric
    assert list(series["val_loss"].epochs) == [1.0]
    assert list(series["test_loss"].values) == [6.10] and series["test_loss"].meta.split == "test"
    # The table shows a test metric in the evaluation column, not as a training value.
    from tui.view.metric_rows import metric_rows
    test_row = next(row for row in metric_rows(model) if row.label == "test_loss")
    assert (test_row.val_name, test_row.val_last, test_row.train_name) == ("test_loss", 6.10, None)
    tutorial = tmp_path / "tutorial.log"
    tutorial.write_text("Epoch [1/2], Step [100/600], Loss: 0.2500\nEpoch [1/2], Step [600/600], Loss: 0.1500\n"
                        "Epoch [2/2], Step [300/600], Loss: 0.1000\n")
    assert list(model_of(str(tutorial)).segments[0].series["Loss"].epochs) == pytest.approx([1 / 6, 1.0, 1.5])


def test_mmengine_evaluation_rows_count_epochs_and_are_validation():
    """d64: train rows carry iter/epoch/lr, evaluation rows only "step", which is the epoch."""
    model = model_of(corpus_path("d64"))
    top1 = model.segments[0].series["accuracy/top1"]
    assert len(model.segments) == 1 and top1.meta.split == "val" and top1.meta.goal == "max"
    assert list(top1.epochs[:3]) == [1, 2, 3] and all(step != step for step in top1.steps)  # NaN: no step


def test_epoch_strings_and_keras_epochs():
    d10 = model_of(corpus_path("d10"))
    assert d10.summary_of("val_ctc_loss")["best_epoch"] == 584
    d31 = model_of(corpus_path("d31"))
    assert list(d31.segments[0].series["val_accuracy"].epochs)[:3] == [1.0, 2.0, 3.0]


def test_appended_runs_become_segments():
    assert len([s for s in model_of(corpus_path("d02")).segments if not s.empty]) >= 15
    assert len(model_of(corpus_path("d29")).segments) == 35
    assert len(model_of(corpus_path("d05")).segments) == 2


def test_resume_detected_from_a_log_that_starts_late():
    model = model_of(seed_path("seed004_resume_collapse"))
    assert model.segments[0].resumed and model.segments[0].start_epoch == 21


def test_text_decodes_warnings_and_dataset_sizes():
    ctc = model_of(seed_path("seed003_ctc_blank"))
    decodes = ctc.segments[0].decodes
    assert len(decodes) == 36 and sum(d.empty for d in decodes) >= 12
    assert decodes[0].wer == 1.0 and decodes[0].epoch == 5
    assert ctc.dataset_sizes == {"train": 4376, "val": 512}
    split = model_of(seed_path("seed002_split_no_learning"))
    assert split.warning_count == 2 and "invalid value encountered" in split.warnings[0].text
    assert split.dataset_sizes["val"] == 213


def test_decode_csv_epoch_from_file_name():
    model = model_of(corpus_path("d14"))
    assert model.decode_count == 32 and model.segments[0].decodes[0].epoch == 10


def test_validation_zeros_before_first_eval_are_not_results():
    from tui.diagnosis.segment_view import SegmentView
    view = SegmentView(model_of(corpus_path("d38")).segments[0])
    assert view.main_val.values == [pytest.approx(0.62674)]  # only the real evaluation remains


def test_native_event_log_round_trip(tmp_path):
    path = tmp_path / "events.jsonl"
    with RunLog(path) as log:
        log.run_start(dataset_sizes={"val": 29}, start_epoch=3, resumed_from="ckpt/last.pt")
        log.metrics(step=10, epoch=3, loss=0.5, val_loss=float("nan"), lr=1e-3)
        log.decode("the cat sat", "the cat", step=10, epoch=3, blank_ratio=0.9)
        log.ack("c1", "set_lr", True, {"lr": 2e-4}, "lr 0.001 -> 0.0002")
        log.status("finished", exit_code=0)
    model = model_of(str(path))
    assert model.format_name == "trainwatch_jsonl"
    segment = model.segments[0]
    assert segment.resumed and model.dataset_sizes == {"val": 29}
    assert segment.series["val_loss"].nan_count == 1
    assert segment.decodes[0].wer == pytest.approx(1 / 3)
    assert model.acks[0].detail == {"lr": 2e-4} and model.status.exit_code == 0


def test_tensorboard_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    log = TensorBoardLog(str(tmp_path))
    log.write_steps(range(50))
    log.close()
    model = model_of(str(tmp_path))
    assert model.format_name == "tensorboard_events"
    assert model.summary_of("train/loss")["points"] == 50
    assert model.summary_of("val/loss")["last"] == pytest.approx(2.0 / 50)


def test_missing_empty_and_binary_inputs_are_refused_clearly(tmp_path):
    with pytest.raises(UnreadableLog, match="no such file"):
        read_target(str(tmp_path / "nope.csv"))
    (tmp_path / "empty.log").write_text("")
    with pytest.raises(UnreadableLog, match="empty"):
        read_target(str(tmp_path / "empty.log"))
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(UnreadableLog, match="binary"):
        read_target(str(tmp_path / "weights.bin"))


def test_batched_decoding_reads_like_line_by_line():
    """Native lines are decoded many at once; a bad line anywhere must cost only itself."""
    from tui.readers.native_jsonl import NativeJsonlParser

    lines = ['{"event":"metrics","time":1.5,"step":1,"epoch":0,"metrics":{"loss":0.5,"acc":"81%"}}',
             '{"event":"metrics","step":2,"metrics":{"loss":NaN,"flag":true}}',
             'not json', '1, 2', '{"event":"status","state":"running"}',
             '{"event":"metrics","step":3.0,"metrics":{"loss":0.25}}']
    batched = NativeJsonlParser().parse_lines(lines)
    one_by_one = [record for line in lines for record in NativeJsonlParser().parse_lines([line])]
    assert [repr(r) for r in batched if not isinstance(r, ReaderNotice)] == \
           [repr(r) for r in one_by_one if not isinstance(r, ReaderNotice)]
    assert "skipped 2 line(s)" in batched[-1].message
    first = batched[0]
    assert first.values == {"loss": 0.5, "acc": 81.0} and first.step == 1 and first.epoch == 0.0


def test_queued_metrics_keep_their_order_and_reach_the_file_at_exit(tmp_path):
    """RunLog.metrics only queues; the writer thread, every other event and interpreter exit all
    write in call order, and nothing queued is lost when the script just ends."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "events.jsonl"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})
        from trainers.runlog import RunLog
        log = RunLog({str(path)!r})
        for step in range(5000):
            log.metrics(step=step, loss=1.0 / (step + 1))
            if step == 2500:
                log.ack("c1", "set_lr", True, message="halfway")
        for step in range(5000, 6000):
            log.metrics(step=step, loss=0.1)
        # no close(): the interpreter's exit must write what is still queued
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    steps = [event["step"] for event in events if event["event"] == "metrics"]
    assert steps == list(range(6000))
    ack_at = next(i for i, event in enumerate(events) if event["event"] == "ack")
    assert events[ack_at - 1]["step"] == 2500 and events[ack_at + 1]["step"] == 2501


@pytest.mark.parametrize("corpus_id", ["d53", "d56", "d63", "d64", "d65", "d67", "d68"])
def test_a_log_read_as_it_grows_reads_as_the_whole_file(corpus_id):
    """The readers this issue added keep their state across appends (a table's header, the epoch
    counter before a Test: line, mmengine's training keys, a phase column): bytes fed in odd-sized
    pieces give the records of one whole read."""
    from tui.readers.log_reader import DETECT_BYTES, LogReader
    from tui.model.records import RunStartRecord
    path = corpus_path(corpus_id)
    path = os.path.join(path, os.listdir(path)[0]) if os.path.isdir(path) else path
    with open(path, "rb") as handle:
        data = handle.read()

    def kept(records):
        return [r for r in records if isinstance(r, (MetricRecord, RunStartRecord))]

    whole = kept(read_target(path).records)
    reader, grown = LogReader(path, data[:DETECT_BYTES]), []
    for start in range(0, len(data), 997):
        grown += reader.feed(data[start: start + 997])
    grown += reader.finish()
    assert kept(grown) == whole and len(whole) > 10


KERAS_TENSORBOARD = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 4)).astype("float32"); y = (x.sum(1) > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(x[:96], y[:96], validation_data=(x[96:], y[96:]), epochs=5, verbose=0,
          callbacks=[keras.callbacks.TensorBoard(sys.argv[1])])
"""


def test_a_keras_tensorboard_folder_reads_as_one_run_with_train_and_val(tmp_path):
    """Keras's TensorBoard callback writes train/ and validation/ event files with the same tags
    (epoch_loss): one run, val_ names for validation, in check and when followed."""
    import subprocess
    import sys

    from tui.follow.target_follower import TargetFollower

    logs = tmp_path / "logs"
    subprocess.run([sys.executable, "-c", KERAS_TENSORBOARD, str(logs)], check=True, timeout=300)
    assert sorted(os.listdir(logs)) == ["train", "validation"]
    contents = read_target(str(logs))
    model = RunModel()
    model.apply(contents.records)
    assert contents.format_name == "tensorboard_events" and len(model.segments) == 1
    series = model.segments[0].series
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(series), sorted(series)
    assert len(series["val_loss"]) == len(series["loss"]) == 5
    followed = RunModel()
    followed.apply(TargetFollower(str(logs)).read_once().records)
    assert set(followed.segments[0].series) == set(series)


def test_yolo_segmentation_box_and_mask_metrics_keep_rows_of_their_own(tmp_path):
    from tui.view.metric_rows import metric_rows

    names = ["epoch", "train/box_loss", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "metrics/mAP50(M)",
             "metrics/mAP50-95(M)", "val/box_loss"]
    rows = [[epoch, 1.2 - 0.1 * epoch, 0.4 + 0.05 * epoch, 0.3 + 0.04 * epoch, 0.35 + 0.05 * epoch,
             0.2 + 0.03 * epoch, 1.3 - 0.05 * epoch] for epoch in range(1, 6)]
    path = tmp_path / "results.csv"
    path.write_text(",".join(f"{name:>22}" for name in names) + "\n"
                    + "".join(",".join(f"{value:>22.5g}" for value in row) + "\n" for row in rows))
    model = RunModel()
    model.apply(read_target(str(path)).records)
    shown = {row.label: row.val_last for row in metric_rows(model)}
    assert shown["metrics/mAP50-95(B)"] == pytest.approx(0.5) and shown["metrics/mAP50-95(M)"] == pytest.approx(0.35)
    assert shown["metrics/mAP50(B)"] == pytest.approx(0.65) and shown["metrics/mAP50(M)"] == pytest.approx(0.6)


WANDB_SCRIPT = """
import wandb
run = wandb.init(project="tw", mode="offline", dir={folder!r}, config={{"lr": 0.01, "epochs": 40}})
for epoch in range(40):
    # a long enough history to cross W&B's 32 KiB blocks; a nested dict is logged as "val/..."
    run.log({{"loss": 2.0 / (epoch + 1), "val": {{"loss": 2.2 / (epoch + 1) + 0.01 * epoch}}, "epoch": epoch,
             "lr": 0.01 * 0.9 ** epoch, "note": "text is no metric", "pad": list(range(200))}})
run.finish()
"""


@pytest.fixture(scope="module")
def wandb_offline_run(tmp_path_factory):
    """A real W&B offline run, written by the wandb package itself (no network: mode offline)."""
    import subprocess
    import sys

    pytest.importorskip("wandb")
    folder = tmp_path_factory.mktemp("wandb_run")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    subprocess.run([sys.executable, "-c", WANDB_SCRIPT.format(folder=str(folder))], check=True, env=env,
                   timeout=180, cwd=str(folder))
    (run_file,) = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                   if name.endswith(".wandb")]
    return str(folder), run_file


def test_a_wandb_offline_run_is_read_with_its_history(wandb_offline_run):
    import subprocess
    import sys

    folder, run_file = wandb_offline_run
    assert os.path.getsize(run_file) > 32768  # the records cross block boundaries
    result = subprocess.run([sys.executable, "-m", "tui", "check", "--json", os.path.join(folder, "wandb")],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr  # 1: findings (the overfitting below)
    document = json.loads(result.stdout)
    assert document["format"] == "wandb_offline" and document["source"] == run_file
    assert document["state"] == "finished"
    series = document["series"]
    assert series["loss"]["points"] == 40 and series["val/loss"]["points"] == 40 and "note" not in series
    assert series["loss"]["last"] == pytest.approx(2.0 / 40) and series["loss"]["best_epoch"] == 39
    assert "pad" not in series and "_runtime" not in series and "_step" not in series
    model = model_of(run_file)
    assert model.segments[0].series["lr"].values[1] == pytest.approx(0.009)
    assert any(f["id"] == "overfitting" for f in document["findings"])  # val/loss turns up from epoch 10


def test_a_wandb_run_read_as_it_grows_reads_as_the_whole_file(wandb_offline_run):
    from tui.readers.log_reader import DETECT_BYTES, LogReader

    _, run_file = wandb_offline_run
    with open(run_file, "rb") as handle:
        data = handle.read()
    whole = [r for r in read_target(run_file).records if isinstance(r, MetricRecord)]
    reader, grown = LogReader(run_file, data[:DETECT_BYTES]), []
    for start in range(0, len(data), 997):
        grown += reader.feed(data[start: start + 997])
    grown += reader.finish()
    assert [r for r in grown if isinstance(r, MetricRecord)] == whole and len(whole) == 40


def test_without_the_wandb_package_a_wandb_file_is_refused_in_one_line(wandb_offline_run):
    import subprocess
    import sys

    _, run_file = wandb_offline_run
    code = ("import sys; sys.modules['wandb'] = None; from tui.cli import main; "
            f"sys.exit(main(['check', {run_file!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "a W&B offline run file" in result.stderr and "pip install 'trainwatch[wandb]'" in result.stderr
