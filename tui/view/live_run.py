"""A run being followed: the run model, its findings, its output and what the header shows."""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from tui.diagnosis.engine import DiagnosisEngine
from tui.diagnosis.finding import Finding
from tui.follow.stream_decoder import FollowBatch
from tui.model.metric_columns import MetricColumns
from tui.model.records import MetricRecord, RunStartRecord
from tui.model.run_model import RunModel

OUTPUT_LINES_KEPT = 2000
NOTICES_KEPT = 50
# "Epoch 3/150" in a printed log, or the trainer's own config, tells how long the run will be.
_EPOCH_OF_TOTAL_RE = re.compile(r"(?i)\bepoch\s*\[?\s*\d+\s*/\s*(\d+)")
_TOTAL_EPOCH_KEYS = ("epochs", "num_epochs", "num_train_epochs", "max_epochs", "total_epochs", "n_epochs")
_TOTAL_STEP_KEYS = ("max_steps", "total_steps", "num_steps", "steps", "max_iters")
# Progress is measured over the most recent records only, so a slow start does not skew the rate.
_RATE_WINDOW = 50


@dataclass(slots=True)
class ProgressMark:
    """When the run was at a step/epoch: from the log's own timestamps, else from when we read it."""

    time: float
    step: float | None
    epoch: float | None


class LiveRun:
    """Applies follow batches; the UI reads the model, findings, output and progress from here."""

    def __init__(self, source: str, format_name: str, thresholds: dict | None = None) -> None:
        self.model = RunModel(source, format_name)
        self.engine = DiagnosisEngine(thresholds)
        self.findings: list[Finding] = []
        self.output: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
        self.notices: deque[str] = deque(maxlen=NOTICES_KEPT)
        self.total_epochs: int | None = None
        self.total_steps: int | None = None
        self.modified_at: float | None = None
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.progress: deque[ProgressMark] = deque(maxlen=_RATE_WINDOW)
        self.initial_read_done = False
        self.connection = ""  # a remote target's ssh connection state, for the header
        # A preview of a big log (its first and last lines): shown, never diagnosed, since the
        # gap between head and tail would read as a plateau or a jump.
        self.partial = False
        self._diagnosed_revision = -1

    def apply(self, batch: FollowBatch, now: float) -> None:
        """Fold one batch in. ``now`` stamps records that carry no time of their own."""
        self.model.apply(batch.records)
        self.output.extend(batch.output_lines)
        self.notices.extend(batch.notices)
        if batch.modified_at is not None:
            self.modified_at = batch.modified_at
        if batch.connection is not None:
            self.connection = batch.connection
        for line in batch.output_lines[-200:]:
            match = _EPOCH_OF_TOTAL_RE.search(line)
            if match:
                self.total_epochs = int(match.group(1))
        for record in batch.records:
            if type(record) is RunStartRecord:
                self._read_totals(record.config)
        timed = []
        for record in batch.records:
            if type(record) is MetricRecord:
                timed.append(record)
            elif type(record) is MetricColumns:  # a history read in bulk: its first and newest rows tell
                timed.extend(record.record(row) for row in record.timing_rows(_RATE_WINDOW))
        if len(timed) > _RATE_WINDOW + 1:
            # Speed comes from the newest marks and elapsed time from the first: a batch of a
            # million history records needs only those.
            timed = [timed[0], *timed[-_RATE_WINDOW:]]
        for record in timed:
            self._mark_progress(record, now)

    def _read_totals(self, config: dict) -> None:
        for key in _TOTAL_EPOCH_KEYS:
            if isinstance(config.get(key), (int, float)) and config[key] > 0:
                self.total_epochs = int(config[key])
        for key in _TOTAL_STEP_KEYS:
            if isinstance(config.get(key), (int, float)) and config[key] > 0:
                self.total_steps = int(config[key])

    def _mark_progress(self, record: MetricRecord, now: float) -> None:
        if record.wall_time is not None:
            stamp = record.wall_time
        elif self.initial_read_done:
            stamp = now  # read live: the time we saw it is within a poll of when it was written
        else:
            return  # history without timestamps says nothing about speed
        self.first_time = stamp if self.first_time is None else min(self.first_time, stamp)
        self.last_time = stamp if self.last_time is None else max(self.last_time, stamp)
        self.progress.append(ProgressMark(stamp, record.step, record.epoch))

    @property
    def diagnosis_stale(self) -> bool:
        return self.model.revision != self._diagnosed_revision

    def diagnose(self) -> bool:
        """Re-run the diagnosis if anything changed since last time; True when it ran."""
        if not self.diagnosis_stale or self.partial:
            return False
        self.findings = self.engine.update(self.model)
        self._diagnosed_revision = self.model.revision
        return True
