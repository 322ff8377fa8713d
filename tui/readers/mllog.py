"""MLPerf ``:::MLLOG`` logs: one JSON event per line after the tag, amid the benchmark's own output.

An MLPerf result file is the submission's whole stdout: shell traces, the framework's banner and
progress prints, and the MLLOG events the rules define. Only the events are read: they are the
logged measurements, and the prints around them may carry placeholders (HugeCTR prints
``Loss: 0.000000`` when it does not compute the training loss).

An event is ``{"key": NAME, "value": V, "metadata": {"epoch_num": ..., ...}}``. The value of a
measurement (``eval_accuracy``, ``train_loss``) is the number under the event's key, placed by the
metadata's epoch and step. Events with no position in the run (``opt_base_learning_rate``,
``global_batch_size``) describe its configuration and are not series.
"""
from __future__ import annotations

import json
import math

from tui.readers.parser_base import LineParser
from tui.readers.values import EPOCH_KEYS, JSON_ERRORS, STEP_KEYS, as_count, to_float
from tui.model.records import MetricRecord, ReaderNotice, Record

MLLOG_TAG = ":::MLLOG"
# Where the rules place an event in the run: MLPerf's own names (mlperf_logging.mllog.constants)
# first, then the ones every reader knows.
_EPOCH_KEYS = ("epoch_num", "epoch_count") + EPOCH_KEYS
_STEP_KEYS = ("step_num", "samples_count") + STEP_KEYS
# ``eval_accuracy`` is each benchmark's quality target, not always an accuracy: named for what it
# measures where that has another direction or meaning (the rules' reference implementations).
_QUALITY_NAMES = {"rnnt": "eval_wer", "dlrm": "eval_auc", "dlrm_dcnv2": "eval_auc", "dlrmv2": "eval_auc",
                  "gpt3": "eval_log_perplexity", "llama2_70b_lora": "eval_loss"}


def looks_like_mllog(lines: list[str]) -> bool:
    return any(_event_text(line) is not None for line in lines)


def _event_text(line: str) -> str | None:
    """The JSON after the tag. Launchers put their own prefix before it (``srun --label`` writes
    ``0: :::MLLOG``, mpirun ``[1,0]<stdout>::::MLLOG``), so the tag is looked for, not anchored."""
    at = line.find(MLLOG_TAG)
    return line[at + len(MLLOG_TAG):].strip() if at >= 0 else None


class MllogParser(LineParser):
    format_name = "mllog"

    def __init__(self) -> None:
        self.skipped_events = 0
        # The rules log submission_benchmark before the run starts.
        self.benchmark = ""

    def parse_lines(self, lines: list[str]) -> list[Record]:
        records: list[Record] = []
        skipped_before = self.skipped_events
        for line in lines:
            text = _event_text(line)
            if text is None:
                continue
            try:
                event = json.loads(text)
            except JSON_ERRORS:
                self.skipped_events += 1
                continue
            if not isinstance(event, dict):
                continue
            if event.get("key") == "submission_benchmark" and isinstance(event.get("value"), str):
                self.benchmark = event["value"].strip().lower()
            record = _measurement(event, _QUALITY_NAMES.get(self.benchmark, "eval_accuracy"))
            if record is not None:
                records.append(record)
        if self.skipped_events > skipped_before:
            records.append(ReaderNotice(f"skipped {self.skipped_events - skipped_before} MLLOG line(s) that are not JSON"))
        return records


def _measurement(event: dict, quality_name: str) -> MetricRecord | None:
    """The event as a metric record, when it measures something at a point of the run."""
    key, metadata = event.get("key"), event.get("metadata")
    if not isinstance(key, str) or not isinstance(metadata, dict):
        return None
    epoch = _first_number(metadata, _EPOCH_KEYS)
    step = _first_number(metadata, _STEP_KEYS)
    if epoch is None and step is None:
        return None  # configuration, not a measurement
    raw = event.get("value")
    values: dict[str, float] = {}
    if isinstance(raw, dict):  # tracked_stats: {"throughput": ..., "loss": ...}
        values = {name: number for name, number in ((n, to_float(v)) for n, v in raw.items())
                  if isinstance(name, str) and number is not None}
    else:
        number = to_float(raw) if not isinstance(raw, bool) else None
        if number is not None:
            values[quality_name if key == "eval_accuracy" else key] = number
    if not values:
        return None  # interval markers (eval_start) carry no value
    return MetricRecord(values=values, step=as_count(step), epoch=epoch)


def _first_number(metadata: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = to_float(metadata.get(key))
        if value is not None and math.isfinite(value):
            return value
    return None
