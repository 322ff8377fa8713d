"""Garbage in: readers and the check command never raise, whatever the bytes."""
from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings, strategies as st

from tui.readers.log_reader import LogReader
from tui.records import Record
from tui.run_model import RunModel
from tui.diagnosis.engine import DiagnosisEngine

NAMES = ["events.jsonl", "training_log.csv", "metrics.json", "trainer_state.json", "train.log",
         "events.out.tfevents.1.host", "loss"]
HEADS = [b"", b"epoch,loss,val_loss\n", b'{"event": "metrics", "metrics": {"loss": 1}}\n', b"Epoch 1/10\n",
         b'{"log_history": [', b"1628697792090 332.6 0\n", b"| a | b |\n|---|---|\n"]


def read_everything(name: str, data: bytes, split: int) -> list[Record]:
    reader = LogReader(name, data[:4096] or b"x")
    if reader.rewrites_whole:
        return reader.replace(data)
    return reader.feed(data[:split]) + reader.feed(data[split:]) + reader.finish()


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NAMES), head=st.sampled_from(HEADS), body=st.binary(max_size=2000),
       split=st.integers(min_value=0, max_value=2000))
def test_readers_survive_random_bytes(name, head, body, split):
    try:
        records = read_everything(name, head + body, split)
    except Exception as error:  # detection may refuse binary data, with a clear message
        from tui.readers import UnreadableLog
        assert isinstance(error, UnreadableLog), repr(error)
        return
    model = RunModel()
    model.apply(records)
    DiagnosisEngine().update(model)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(max_size=120), max_size=40))
def test_text_parser_survives_random_lines(lines):
    data = "\n".join(["Epoch 1 | loss 0.5 | val_loss 0.6", *lines]).encode("utf-8", "replace")
    model = RunModel()
    model.apply(read_everything("train.log", data, len(data) // 2))
    DiagnosisEngine().update(model)


def test_check_on_garbage_files_never_tracebacks(tmp_path):
    samples = {
        "junk.csv": b"epoch,loss\n" + bytes(range(1, 255)) * 20,
        "junk.jsonl": b'{"event": "metrics", "metrics": {"loss": "x"}}\n{not json\n' + b"\xff" * 500,
        "trainer_state.json": b'{"log_history": [{"loss": 1, "step": 1}, ',
        "huge_line.log": b"Epoch 1 | loss " + b"9" * 3_000_000 + b"\nEpoch 2 | loss 0.5\n",
    }
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = subprocess.run([sys.executable, "-m", "tui", "check", str(path), "--json"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode in (0, 1, 2), (name, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        if result.returncode == 2:
            assert len(result.stderr.strip().splitlines()) == 1
