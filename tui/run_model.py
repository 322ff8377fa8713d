"""The run as trainwatch understands it: segments of series, decodes, warnings and status."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui.decode_scoring import char_error_rate, word_error_rate
from tui.records import (AckRecord, CheckpointRecord, DatasetSizeRecord, DecodeRecord, MetricRecord, ReaderNotice,
                         Record, ResetRecord, RunStartRecord, StatusRecord, TextRecord)
from tui.series import Series

# A sample decode is a sentence or two; past this it is cut before it is scored.
MAX_DECODE_CHARS = 500
# A restart of the counter only counts as a resume when the new segment starts this late.
RESUME_MIN_EPOCH = 2.0


@dataclass(slots=True)
class Decode:
    """A decode sample with its scores."""

    reference: str
    hypothesis: str
    step: int | None
    epoch: float | None
    wer: float
    cer: float
    blank_ratio: float | None = None
    sample_id: str | None = None

    @property
    def empty(self) -> bool:
        return not self.hypothesis.strip()


@dataclass
class Segment:
    """One training run inside a log: counters go forward inside it."""

    index: int
    resumed: bool = False
    resumed_from: str | None = None
    series: dict[str, Series] = field(default_factory=dict)
    decodes: list[Decode] = field(default_factory=list)
    start_epoch: float | None = None
    start_step: int | None = None
    last_epoch: float | None = None
    last_step: int | None = None
    revision: int = 0  # bumped on every change; the diagnosis engine re-runs a segment only then

    @property
    def empty(self) -> bool:
        return not self.series and not self.decodes


class RunModel:
    """Applies records in order; readers can feed it a whole file or a growing one."""

    def __init__(self, source: str = "", format_name: str = "") -> None:
        self.source = source
        self.format_name = format_name
        self.segments: list[Segment] = [Segment(0)]
        self.dataset_sizes: dict[str, int] = {}
        self.warnings: list[TextRecord] = []
        self.warning_count = 0
        self.notices: list[str] = []
        self.status: StatusRecord | None = None
        self.acks: list[AckRecord] = []
        self.checkpoints: list[CheckpointRecord] = []
        self.controllable = False  # a run_start said the trainer reads the control channel
        self.record_count = 0
        self.revision = 0

    @property
    def current(self) -> Segment:
        return self.segments[-1]

    @property
    def decode_count(self) -> int:
        return sum(len(segment.decodes) for segment in self.segments)

    def apply(self, records: list[Record]) -> None:
        for record in records:
            self._apply_one(record)
        if records:
            self.revision += 1

    def _new_segment(self, resumed: bool = False) -> Segment:
        if self.current.empty:
            self.current.resumed = self.current.resumed or resumed
            return self.current
        segment = Segment(len(self.segments), resumed=resumed)
        self.segments.append(segment)
        return segment

    def _apply_one(self, record: Record) -> None:
        self.record_count += 1
        if isinstance(record, MetricRecord):
            self._apply_metrics(record)
        elif isinstance(record, DecodeRecord):
            segment = self.current
            # The edit distance costs the product of the lengths: a 500 KB "decode" would take hours.
            reference, hypothesis = record.reference[:MAX_DECODE_CHARS], record.hypothesis[:MAX_DECODE_CHARS]
            segment.decodes.append(Decode(
                reference, hypothesis, record.step, record.epoch, word_error_rate(reference, hypothesis),
                char_error_rate(reference, hypothesis), record.blank_ratio, record.sample_id))
            segment.revision += 1
        elif isinstance(record, RunStartRecord):
            segment = self._new_segment(resumed=record.resumed)
            segment.resumed_from = record.resumed_from
            self.controllable = record.controllable
        elif isinstance(record, DatasetSizeRecord):
            self.dataset_sizes[record.split] = record.size
        elif isinstance(record, TextRecord):
            self.warning_count += 1
            if len(self.warnings) < 200:
                self.warnings.append(record)
            self.current.revision += 1
        elif isinstance(record, StatusRecord):
            self.status = record
        elif isinstance(record, AckRecord):
            self.acks.append(record)
        elif isinstance(record, CheckpointRecord):
            self.checkpoints.append(record)
        elif isinstance(record, ReaderNotice):
            self.notices.append(record.message)
        elif isinstance(record, ResetRecord):
            self.segments = [Segment(0)]
            self.record_count = 0

    def _apply_metrics(self, record: MetricRecord) -> None:
        segment = self.current
        step, epoch = record.step, record.epoch
        went_back = (
            (step is not None and segment.last_step is not None and step < segment.last_step)
            or (step is None and epoch is not None and segment.last_epoch is not None
                and epoch < segment.last_epoch - 1e-9))
        if went_back:
            # The counter went back: a new run was appended to the same log (or a resume).
            segment = self._new_segment()
        if segment.start_epoch is None and epoch is not None:
            segment.start_epoch = epoch
            # A log that begins at epoch 21 continues a run that was trained before.
            segment.resumed = segment.resumed or epoch >= RESUME_MIN_EPOCH
        if segment.start_step is None and step is not None:
            segment.start_step = step
        if step is not None:
            segment.last_step = step
        if epoch is not None:
            segment.last_epoch = epoch
        for name, value in record.values.items():
            series = segment.series.get(name)
            if series is None:
                series = segment.series[name] = Series(name)
            series.append(value, step, epoch)
        segment.revision += 1

    def series_names(self) -> list[str]:
        names: dict[str, None] = {}
        for segment in self.segments:
            names.update(dict.fromkeys(segment.series))
        return list(names)

    def summary_of(self, name: str) -> dict:
        """points/last/best/best_epoch/best_step/goal of one metric across all segments."""
        points, last, best, best_epoch, best_step, goal = 0, None, None, None, None, None
        for segment in self.segments:
            series = segment.series.get(name)
            if series is None or not len(series):
                continue
            goal = series.meta.goal
            points += len(series)
            last = series.values[-1]
            index = series.best_index()
            if index is not None:
                value = series.values[index]
                if best is None or (value < best if goal == "min" else value > best):
                    best = value
                    best_epoch = _int_or_none(series.epochs[index])
                    best_step = _int_or_none(series.steps[index])
        return {"points": points, "last": _finite_or_none(last), "best": _finite_or_none(best),
                "best_epoch": best_epoch, "best_step": best_step, "goal": goal}


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _int_or_none(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None
