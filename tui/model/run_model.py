"""The run as trainwatch understands it: segments of series, decodes, warnings and status."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from tui.model.decode_scoring import char_error_rate, word_error_rate
from tui.model.metric_columns import MetricColumns
from tui.model.number_format import epoch_number, finite_or_none, int_or_none
from tui.model.records import (AckRecord, CheckpointRecord, DatasetSizeRecord, DecodeRecord, MetricRecord, ReaderNotice,
                         RankTimingRecord, Record, ResetRecord, RunStartRecord, StatusRecord, TextRecord)
from tui.model.series import Series

# A sample decode is a sentence or two; past this it is cut before it is scored.
MAX_DECODE_CHARS = 500
# A restart of the counter only counts as a resume when the new segment starts this late.
RESUME_MIN_EPOCH = 2.0
# A training record at most this many steps behind the last one came from a second process writing
# the same log (each rank of a torchrun logging), not from a restart: a new run counts again from
# its start and a resume goes back to a checkpoint, both further than this once a run has got
# going. It is left out, and counted.
LATE_RECORD_STEPS = 8
# A block of columns is applied in windows of rows checked at once: a row whose counter does not
# simply go on (a restart, a late or repeated record) ends a window and takes the per-record way.
FIRST_COLUMN_WINDOW = 256


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


@dataclass(slots=True)
class KindCounter:
    """How far one kind of record (the same metrics logged together) has got in a segment."""

    step: int | None = None
    epoch: float | None = None
    count: int = 0


@dataclass
class Segment:
    """One training run inside a log: counters go forward inside it."""

    index: int
    resumed: bool = False
    resumed_from: str | None = None
    config: dict = field(default_factory=dict)  # the run_start's settings (the trainer's config), for comparing runs
    series: dict[str, Series] = field(default_factory=dict)
    decodes: list[Decode] = field(default_factory=list)
    start_epoch: float | None = None
    start_step: int | None = None
    last_epoch: float | None = None
    last_step: int | None = None
    revision: int = 0  # bumped on every change; the diagnosis engine re-runs a segment only then
    # Each kind of record keeps its own counter: validation rows count epochs where training rows
    # count iterations (mmengine), or lag a step behind them (Lightning).
    kinds: dict[str, KindCounter] = field(default_factory=dict)
    lead: str | None = None  # the kind logged most often: the training loop's own records

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
        # Records of a secondary kind whose step repeated or went back: a re-evaluation of a saved
        # checkpoint (load_best_model_at_end) unless the training records go back too, when they
        # are the new run's first evaluation.
        self._held: list[MetricRecord] = []
        self.late_records = 0  # training records a few steps behind (another writer's), left out
        self.rank_timing: RankTimingRecord | None = None  # the latest, of a multi-process run

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
        elif type(record) is MetricColumns:
            self.record_count -= 1  # each row counts as its record
            self._apply_columns(record)
        elif isinstance(record, DecodeRecord):
            segment = self.current
            # The edit distance costs the product of the lengths: a 500 KB "decode" would take hours.
            reference, hypothesis = record.reference[:MAX_DECODE_CHARS], record.hypothesis[:MAX_DECODE_CHARS]
            segment.decodes.append(Decode(
                reference, hypothesis, record.step, record.epoch, word_error_rate(reference, hypothesis),
                char_error_rate(reference, hypothesis), record.blank_ratio, record.sample_id))
            segment.revision += 1
        elif isinstance(record, RunStartRecord):
            self._held.clear()
            segment = self._new_segment(resumed=record.resumed)
            segment.resumed_from = record.resumed_from
            segment.config = dict(record.config or {})
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
        elif isinstance(record, RankTimingRecord):
            self.rank_timing = record
        elif isinstance(record, ReaderNotice):
            self.notices.append(record.message)
        elif isinstance(record, ResetRecord):
            self.segments = [Segment(0)]
            self.record_count = 0
            self._held.clear()
            self.late_records = 0

    def _apply_metrics(self, record: MetricRecord) -> None:
        # Runs once per record of a million-step log: the checks are written out, not called.
        segment = self.current
        step, epoch, values = record.step, record.epoch, record.values
        # The kind of a record, cheaply: its first name. Training rows, validation rows and Lightning's
        # hp_metric rows start with different names; one logging call repeats its own order.
        kind = next(iter(values), "")
        counter = segment.kinds.get(kind)
        if counter is not None:
            if step is not None and counter.step is not None:
                behind = step < counter.step
            else:
                behind = step is None and epoch is not None and counter.epoch is not None and epoch < counter.epoch - 1e-9
            lead = kind == segment.lead
            if behind and lead:
                if step is not None and counter.step - step <= LATE_RECORD_STEPS:
                    self._late(record)
                    return
                # The training records' counter went back: a new run was appended to the same log (or a resume).
                self._restart(record, kind)
                return
            if not lead and (behind or (step is not None and step == counter.step)):
                # A validation row behind its own counter, or at the same step again: the best checkpoint
                # re-evaluated at the end, or the next run's first evaluation; the next training row tells.
                self._held.append(record)
                return
            if lead and self._held:
                self._held.clear()  # training went on past them: they were re-evaluations, not a new run
        else:
            counter = segment.kinds[kind] = KindCounter()
        self._place(segment, kind, counter, record)

    def _apply_columns(self, block: MetricColumns) -> None:
        """The rows of ``block`` exactly as if each were applied as its MetricRecord: runs of rows
        whose counters simply go forward are placed as columns; any other row (and every row while
        validation rows are held back) goes through _apply_metrics."""
        rows, row = len(block), 0
        window = rows  # most logs: every row simple, one window; after an odd row, small ones growing
        kind_names = sorted({shape[0] for shape in block.shapes})
        kind_of_shape = _numpy().array([kind_names.index(shape[0]) for shape in block.shapes], dtype="int32")
        while row < rows:
            if self._held:
                self.record_count += 1
                self._apply_metrics(block.record(row))
                row += 1
                continue
            end = min(rows, row + window)
            simple_end = self._simple_rows_end(block, kind_names, kind_of_shape, row, end)
            if simple_end > row:
                self.record_count += simple_end - row
                self._place_rows(self.current, block, kind_names, kind_of_shape, row, simple_end)
            if simple_end == end:
                row, window = end, window * 2
                continue
            self.record_count += 1
            self._apply_metrics(block.record(simple_end))
            row, window = simple_end + 1, FIRST_COLUMN_WINDOW

    def _simple_rows_end(self, block: MetricColumns, kind_names: list[str], kind_of_shape, start: int, end: int) -> int:
        """The first row in [start, end) that is behind its kind's counter or at its step again
        (what _apply_metrics treats as late, a restart or a held re-evaluation); ``end`` if none."""
        np = _numpy()
        kinds = kind_of_shape[block.shape_of_row[start:end]]
        steps, epochs = block.steps[start:end], block.epochs[start:end]
        odd = np.zeros(end - start, dtype=bool)
        for kind in np.unique(kinds).tolist():
            rows = np.flatnonzero(kinds == kind)
            counter = self.current.kinds.get(kind_names[kind])
            before_step = math.nan if counter is None or counter.step is None else float(counter.step)
            before_epoch = math.nan if counter is None or counter.epoch is None else float(counter.epoch)
            step, epoch = steps[rows], epochs[rows]
            last_step, last_epoch = _last_known_before(step, before_step), _last_known_before(epoch, before_epoch)
            has_step = ~np.isnan(step)
            odd[rows] = ((has_step & ~np.isnan(last_step) & (step <= last_step))
                         | (~has_step & ~np.isnan(epoch) & ~np.isnan(last_epoch) & (epoch < last_epoch - 1e-9)))
        return start + int(np.argmax(odd)) if odd.any() else end

    def _place_rows(self, segment: Segment, block: MetricColumns, kind_names: list[str], kind_of_shape,
                    start: int, end: int) -> None:
        """_place for rows [start, end) at once: counters, the segment's span, its lead and series."""
        np = _numpy()
        shape_rows = block.shape_of_row[start:end]
        kinds = kind_of_shape[shape_rows]
        steps, epochs = block.steps[start:end], block.epochs[start:end]
        # Kinds in the order their first row comes, as one by one would add them.
        kind_order = np.unique(kinds, return_index=True)
        last_row_of = {}
        for kind, _first in sorted(zip(kind_order[0].tolist(), kind_order[1].tolist()), key=lambda pair: pair[1]):
            rows = np.flatnonzero(kinds == kind)
            name = kind_names[kind]
            counter = segment.kinds.setdefault(name, KindCounter())
            counter.count += len(rows)
            known = steps[rows][~np.isnan(steps[rows])]
            if len(known):
                counter.step = int(known[-1])
            known = epochs[rows][~np.isnan(epochs[rows])]
            if len(known):
                counter.epoch = float(known[-1])
            last_row_of[name] = int(rows[-1])
        known_steps = steps[~np.isnan(steps)]
        if len(known_steps):
            if segment.start_step is None:
                segment.start_step = int(known_steps[0])
            furthest = int(known_steps.max())
            if segment.last_step is None or furthest > segment.last_step:
                segment.last_step = furthest
        known_epochs = epochs[~np.isnan(epochs)]
        if len(known_epochs):
            if segment.start_epoch is None:
                segment.start_epoch = float(known_epochs[0])
                segment.resumed = segment.resumed or segment.start_epoch >= RESUME_MIN_EPOCH
            furthest_epoch = float(known_epochs.max())
            if segment.last_epoch is None or furthest_epoch > segment.last_epoch:
                segment.last_epoch = furthest_epoch
        segment.lead = _lead_after(segment, last_row_of)
        self._extend_series(segment, block, start, end)
        segment.revision += end - start

    @staticmethod
    def _extend_series(segment: Segment, block: MetricColumns, start: int, end: int) -> None:
        np = _numpy()
        shape_rows = block.shape_of_row[start:end]
        present_shapes, first_rows = np.unique(shape_rows, return_index=True)
        names: dict[str, None] = {}
        for shape in [int(shape) for _first, shape in sorted(zip(first_rows.tolist(), present_shapes.tolist()))]:
            names.update(dict.fromkeys(block.shapes[shape]))
        roles, series_of = block.roles, segment.series
        steps, epochs = block.steps[start:end], block.epochs[start:end]
        for name in names:
            series = series_of.get(name)
            if series is None:  # not `or`: a Series with no points is falsy
                series = _new_series(series_of, name, roles)
            holding = [index for index in present_shapes.tolist() if name in block.shapes[index]]
            rows = np.isin(shape_rows, holding)
            series.extend(block.values[name][start:end][rows], steps[rows], epochs[rows])

    def _late(self, record: MetricRecord) -> None:
        self.late_records += 1
        if self.late_records == 1:
            self.notices.append(f"metric records up to {LATE_RECORD_STEPS} steps behind the last one (from a second "
                                f"process writing this log?) are left out, first at step {record.step}")

    def _restart(self, record: MetricRecord, kind: str) -> None:
        """A new segment from ``record`` on. The held validation rows that lie before it are the new
        run's first evaluations (an evaluation before training); later ones re-evaluated the old run."""
        segment = self._new_segment()
        self._place(segment, kind, segment.kinds.setdefault(kind, KindCounter()), record)
        held, self._held = self._held, []
        for earlier in held:
            if not _after(earlier, record):
                self._apply_metrics(earlier)

    @staticmethod
    def _place(segment: Segment, kind: str, counter: KindCounter, record: MetricRecord) -> None:
        """Adds the record's values to the segment and moves its kind's counter and the segment's span."""
        step, epoch = record.step, record.epoch
        counter.count += 1
        if step is not None:
            counter.step = step
            if segment.start_step is None:
                segment.start_step = step
            # The furthest point any kind has reached: kinds count differently, none goes back here.
            if segment.last_step is None or step > segment.last_step:
                segment.last_step = step
        if epoch is not None:
            counter.epoch = epoch
            if segment.start_epoch is None:
                segment.start_epoch = epoch
                # A log that begins at epoch 21 continues a run that was trained before.
                segment.resumed = segment.resumed or epoch >= RESUME_MIN_EPOCH
            if segment.last_epoch is None or epoch > segment.last_epoch:
                segment.last_epoch = epoch
        if kind != segment.lead and (segment.lead is None or counter.count > segment.kinds[segment.lead].count):
            segment.lead = kind
        roles, series_of = record.roles, segment.series
        for name, value in record.values.items():
            series = series_of.get(name)
            if series is None:
                series = _new_series(series_of, name, roles)
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
                    best_epoch = epoch_number(series.epochs[index])
                    best_step = int_or_none(series.steps[index])
        return {"points": points, "last": finite_or_none(last), "best": finite_or_none(best),
                "best_epoch": best_epoch, "best_step": best_step, "goal": goal}


def _new_series(series_of: dict[str, Series], name: str, roles: dict[str, str] | None) -> Series:
    """A segment's new series, with the split the log's layout gives it where its name says none."""
    series = series_of[name] = Series(name)
    role = roles.get(name) if roles else None
    if role and not series.meta.split:
        series.meta = replace(series.meta, split=role)
    return series


def _numpy():
    import numpy  # only for blocks of columns (big logs): a small log never loads it
    return numpy


def _last_known_before(column, before: float):
    """For each row, the last non-NaN value of the rows above it, ``before`` standing above the first."""
    np = _numpy()
    shifted = np.concatenate(([before], column[:-1]))
    known_at = np.where(~np.isnan(shifted), np.arange(len(shifted)), 0)
    np.maximum.accumulate(known_at, out=known_at)
    return shifted[known_at]


def _lead_after(segment: Segment, last_row_of: dict[str, int]) -> str | None:
    """The segment's lead once rows were placed (``last_row_of``: each placed kind's last row).
    One by one, a kind becomes the lead when its count passes the lead's, so the lead always has
    the highest count, and of kinds tied at it, the one that got there first: a tied kind placed
    nothing now got there before any that did."""
    top = max(counter.count for counter in segment.kinds.values())
    lead = segment.lead
    if lead is not None and segment.kinds[lead].count == top and lead not in last_row_of:
        return lead
    tied = [(row, name) for name, row in last_row_of.items() if segment.kinds[name].count == top]
    return min(tied)[1]


def _after(earlier: MetricRecord, record: MetricRecord) -> bool:
    """``earlier`` lies past ``record`` on their common counter (steps, else epochs)."""
    if earlier.step is not None and record.step is not None:
        return earlier.step > record.step
    return earlier.epoch is not None and record.epoch is not None and earlier.epoch > record.epoch + 1e-9

