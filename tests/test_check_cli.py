"""The `trainwatch check` contract: JSON keys, exit codes, one-line errors, a light import."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import corpus_path, seed_path

CHECK = [sys.executable, "-m", "tui", "check"]


def check(path: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, path, *extra], capture_output=True, text=True, timeout=60)


def test_json_contract_on_a_seed():
    result = check(seed_path("seed003_ctc_blank"), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert set(document) == {"source", "format", "state", "state_detail", "segments", "samples", "series", "findings",
                             "notices"}
    assert document["notices"] == []
    assert document["samples"] == 36 and document["segments"] == 1
    val_loss = document["series"]["val_loss"]
    assert val_loss == {"points": 60, "last": 5.29, "best": 4.78, "best_epoch": 31, "best_step": None, "goal": "min"}
    finding = next(f for f in document["findings"] if f["id"] == "blank_collapse")
    assert set(finding) == {"id", "severity", "epoch", "step", "title", "evidence", "action"}
    assert "empty" in finding["evidence"] and "lower-lr" in finding["action"]


def test_healthy_log_exits_zero_and_table_is_readable():
    result = check(corpus_path("d30"))
    assert result.returncode == 0, result.stdout
    assert "No findings" in result.stdout and "val_acc" in result.stdout


def test_nan_is_written_as_null(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss,val_loss\n0,1.0,1.2\n1,0.8,1.0\n2,nan,inf\n3,nan,nan\n")
    result = check(str(log), "--json")
    document = json.loads(result.stdout)
    assert document["series"]["loss"]["last"] is None
    assert any(f["id"] == "divergence" for f in document["findings"])


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "empty"),
    (b"\x00\x9f\x92\x96" * 64, "binary"),
    (b"hello world\nnothing to see here\n", "no metrics"),
    # W&B's record format, whose bytes look printable enough: read as W&B's records (none here),
    # never as text with made-up metrics.
    (b":W&B\x00\x01\x00\x00" + b"_step 1 loss 0.25 acc 0.9\n" * 8, "no metrics"),
])
def test_unreadable_input_exit_2_one_line(tmp_path, content, message):
    path = tmp_path / "input.log"
    if content is not None:
        path.write_bytes(content)
    result = check(str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_config_overrides_thresholds(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("diagnosis:\n  plateau: {max_patience: 1000, patience_fraction: 0.9}\n")
    default = json.loads(check(seed_path("seed000_tcn_plateau"), "--json").stdout)
    relaxed = json.loads(check(seed_path("seed000_tcn_plateau"), "--json", "--config", str(config)).stdout)
    assert "plateau" in {f["id"] for f in default["findings"]}
    assert "plateau" not in {f["id"] for f in relaxed["findings"]}
    config.write_text("diagnosis:\n  plateau: {no_such_threshold: 3}\n")
    bad = check(seed_path("seed000_tcn_plateau"), "--config", str(config))
    assert bad.returncode == 2 and "unknown threshold plateau.no_such_threshold" in bad.stderr


def test_check_path_imports_no_framework_and_no_textual():
    code = ("import sys; from tui.cli import main; import tui.commands.check_report, tui.readers, tui.diagnosis.engine;"
            "import trainers;"
            "heavy = [m for m in ('torch', 'tensorflow', 'textual', 'pandas') if m in sys.modules];"
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_finished_run_without_the_callback_is_read_from_its_output_by_check_and_ls(tmp_path):
    """The supervisor's final status lands in events.jsonl; check and ls still read the metrics the
    script printed, as the UI does."""
    import os

    from run_helpers import PYTHON, events, wait_for
    from tui.runs.launcher import launch_run

    script = ("import time\nfor epoch in range(1, 13):\n"
              "    print(f'epoch {epoch} loss {1 / epoch:.4f} val_loss {1.2 / epoch + 0.01 * epoch:.4f}', flush=True)\n"
              "    time.sleep(0.05)\n")
    record = launch_run([PYTHON, "-c", script], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="plain")
    wait_for(lambda: events(record.run_dir, "status"), 60, "the supervisor's final status", record.run_dir)
    result = check(record.run_dir, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["state"] == "finished" and document["series"]["val_loss"]["points"] == 12, document
    assert document["source"].endswith("stdout.log")
    assert any("printed output" in notice for notice in document["notices"])
    listing = subprocess.run([sys.executable, "-m", "tui", "ls"], capture_output=True, text=True, cwd=str(tmp_path))
    row = next(line for line in listing.stdout.splitlines() if line.startswith(os.path.basename(record.run_dir)))
    assert "val_loss" in row and "finished" in row, listing.stdout


def test_a_word_language_model_style_script_run_without_the_callback(tmp_path):
    """The PyTorch examples' print format, a real tiny LSTM, no trainwatch in the script: batch
    lines placed inside their epoch, speed and clock figures no rows, the validation per epoch, the
    closing test line a test result; check, ls and the table agree."""
    import os

    from run_helpers import PYTHON, events, wait_for
    from tui.commands.check_report import diagnose_target
    from tui.runs.launcher import launch_run
    from tui.view.metric_rows import metric_rows

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer_scripts", "word_lm_style.py")
    record = launch_run([PYTHON, script], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="word-lm")
    wait_for(lambda: events(record.run_dir, "status"), 240, "the run to end", record.run_dir)
    document = json.loads(check(record.run_dir, "--json").stdout)
    assert document["state"] == "finished" and document["format"] == "plain_text", document
    series = document["series"]
    assert series["val_loss"]["points"] == 3 and series["test_loss"]["points"] == 1, series
    assert series["loss"]["points"] == 3 * 29 and series["loss"]["best_epoch"] is not None
    model, _ = diagnose_target(record.run_dir)
    loss = model.segments[0].series["loss"]
    assert 0 < loss.epochs[0] < 0.1 and loss.epochs[28] < 1.0 < loss.epochs[29], list(loss.epochs[:3])
    labels = [row.label for row in metric_rows(model)]
    assert labels[0] == "loss" and "test_loss" in labels and "lr" in labels, labels
    assert not {"time", "ms/batch"} & set(labels), labels
    loss_row = metric_rows(model)[0]
    assert loss_row.val_name == "val_loss" and loss_row.train_name == "loss", loss_row
