"""CSV logs: Keras CSVLogger, Lightning metrics.csv, YOLO results.csv, custom CSVs, decode CSVs."""
from __future__ import annotations

import csv
import math
import os
import re

from tui.model.metric_names import evaluation_roles
from tui.readers.bulk_columns import csv_records
from tui.readers.parser_base import LineParser
from tui.readers.values import EPOCH_KEYS, STEP_KEYS, as_count, number_in, to_float
from tui.model.records import DecodeRecord, MetricRecord, ReaderNotice, Record, RunStartRecord

_REFERENCE_COLUMNS = ("truth", "target", "reference", "ref", "label", "ground_truth", "groundtruth", "gt",
                      "transcript", "text")
_HYPOTHESIS_COLUMNS = ("decoded", "prediction", "pred", "predicted", "hypothesis", "hyp", "output",
                       "decode", "transcription")


_HEADER_CELL_RE = re.compile(r"^[\w /().\-\[\]@%#+]+(?::[\w.\-]+)*$")  # YOLOv5: metrics/mAP_0.5:0.95


def _column_index(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [column.strip().lower() for column in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def looks_like_csv_header(line: str) -> bool:
    """A first line of 2+ comma-separated names, not all of them numbers."""
    if "," not in line or line.lstrip().startswith(("{", "[", "#", "|")):
        return False
    cells = next(csv.reader([line]))
    names = [cell.strip() for cell in cells]
    return len(names) >= 2 and sum(to_float(name) is None for name in names) >= len(names) - 1 and all(
        len(name) < 80 and _HEADER_CELL_RE.match(name) for name in names if name)


def looks_like_csv(lines: list[str]) -> bool:
    """A header, and the line after it (when the head holds one) a row of as many cells: a sentence
    with a comma ("Train on 40000 samples, validate on 10000 samples") is no header."""
    if not lines or not looks_like_csv_header(lines[0]):
        return False
    if len(lines) < 2:
        return True
    header, row = (next(csv.reader([line])) for line in lines[:2])
    return len(row) == len(header)


def is_decode_header(line: str) -> bool:
    cells = next(csv.reader([line]))
    return _column_index(cells, _REFERENCE_COLUMNS) is not None and _column_index(cells, _HYPOTHESIS_COLUMNS) is not None


class CsvLogParser(LineParser):
    """One row, one metric record; empty cells are absent values (Lightning's sparse rows)."""

    reads_in_bulk = True

    def __init__(self, source_name: str = "") -> None:
        self.header: list[str] | None = None
        self.header_line = ""
        self.format_name = "csv"
        self._source_name = os.path.basename(source_name)
        self._step_index: int | None = None
        self._epoch_index: int | None = None
        self.skipped_rows = 0
        self._decodes: tuple[int, int] | None = None
        self._decode_epoch: float | None = None
        # Text columns as they last read, and for how many rows (a "phase" column; see _new_phase).
        self._texts: dict[int, tuple[str, int]] = {}
        self._roles: dict[str, str] | None = None
        self._last_epoch: float | None = None

    def _is_other_header(self, line: str, cells: list[str]) -> bool:
        """A row of names alone, no number in it (a decode file's rows are text: never a header)."""
        return (self._decodes is None and sum(bool(cell.strip()) for cell in cells) >= 2
                and all(to_float(cell) is None for cell in cells) and looks_like_csv_header(line))

    def _set_header(self, line: str) -> None:
        self.format_name, self._decodes = "csv", None
        self.header_line = line.strip()
        self.header = [name.strip() for name in next(csv.reader([line]))]
        lowered = [name.lower() for name in self.header]
        self._step_index = _column_index(self.header, STEP_KEYS)
        self._epoch_index = _column_index(self.header, EPOCH_KEYS)
        if self._epoch_index is None and self._step_index is None and len(self.header) > 1 and not self.header[0]:
            # pandas' to_csv of a Keras History: the unnamed index column is the epoch, from 0 as
            # CSVLogger counts it.
            self._epoch_index = 0
        # One roles dict for every row of this header: a Keras History's ``wer`` from a validation
        # callback, or a ``BLEU`` column, is validation though its name says no split.
        self._roles = evaluation_roles([name for name in self.header if name]) or None
        reference, hypothesis = _column_index(self.header, _REFERENCE_COLUMNS), _column_index(self.header, _HYPOTHESIS_COLUMNS)
        if reference is not None and hypothesis is not None:
            self._decodes = (reference, hypothesis)
            self.format_name = "decode_csv"
            # Per-epoch decode files are named e10.csv, epoch_10.csv, ...
            match = re.search(r"(?:^|[^a-z])(?:e|ep|epoch)[_-]?(\d+)", self._source_name.lower())
            self._decode_epoch = float(match.group(1)) if match else None
        elif any(name.startswith(("train/", "metrics/", "val/")) for name in lowered):
            self.format_name = "yolo_results_csv"
        elif "step" in lowered and "epoch" in lowered:
            self.format_name = "lightning_metrics_csv"
        elif lowered and lowered[0] == "epoch":
            self.format_name = "keras_csvlogger"

    def parse_bulk(self, data: bytes) -> list[Record] | None:
        """Complete lines of a big read in columns (readers/bulk_columns.py); None: read them as lines."""
        return csv_records(data, self)

    def parse_lines(self, lines: list[str]) -> list[Record]:
        records: list[Record] = []
        skipped_before = self.skipped_rows
        for line, cells in self._rows_of(lines):
            if self.header is None:
                self._set_header(line)
                continue
            if line.strip() == self.header_line:
                # The header again: another run was appended to this file.
                records.append(RunStartRecord())
                continue
            if cells is not None and self._is_other_header(line, cells):
                # Another run with other columns was appended: its rows are read under its names.
                self._set_header(line)
                records.append(RunStartRecord())
                records.append(ReaderNotice(f"the CSV header changed mid-file; reading on under the new "
                                            f"columns: {', '.join(self.header[:8])}"))
                continue
            if cells is None:
                self.skipped_rows += 1
                continue
            record = self._record_of(cells)
            if record is None:
                self.skipped_rows += 1
            else:
                if self._new_phase(cells, record):
                    records.append(RunStartRecord())
                records.append(record)
        if self.skipped_rows > skipped_before:
            records.append(ReaderNotice(f"skipped {self.skipped_rows - skipped_before} CSV row(s) without numbers"))
        return records

    def _new_phase(self, cells: list[str], record: Record) -> bool:
        """A text column that held one value for rows ("phase1_event") turns to another while the
        epoch counter jumps forward: another stage of a pipeline (a different model) resumes its own
        counter in the same file. A counter that goes on by one is the same run's next stage (a
        warm-up phase ending); one that goes back is a restart the run model sees by itself."""
        changed = False
        for index, cell in enumerate(cells[: len(self.header or [])]):
            text = cell.strip()
            if index in (self._step_index, self._epoch_index) or not text or to_float(text) is not None:
                continue
            before, rows = self._texts.get(index, (None, 0))
            changed = changed or (before is not None and text != before and rows >= 2)
            self._texts[index] = (text, rows + 1 if text == before else 1)
        epoch, last = getattr(record, "epoch", None), self._last_epoch
        self._last_epoch = epoch if epoch is not None else last
        return changed and epoch is not None and last is not None and epoch > last + 1 + 1e-9

    @staticmethod
    def _rows_of(lines: list[str]) -> list[tuple[str, list[str] | None]]:
        """(line, cells) for each non-blank line, split by one csv.reader over the batch; a line
        the csv module refuses gets None (the batch is then split line by line)."""
        lines = [line for line in lines if line.strip()]
        try:
            rows = list(csv.reader(lines))
            if len(rows) == len(lines):
                return list(zip(lines, rows))
        except csv.Error:
            pass
        split: list[tuple[str, list[str] | None]] = []
        for line in lines:
            try:
                split.append((line, next(csv.reader([line]))))
            except csv.Error:
                split.append((line, None))
        return split

    def _record_of(self, cells: list[str]) -> Record | None:
        assert self.header is not None
        if self._decodes is not None:
            reference_index, hypothesis_index = self._decodes
            if max(reference_index, hypothesis_index) >= len(cells):
                return None
            return DecodeRecord(cells[reference_index].strip(), cells[hypothesis_index].strip(),
                                epoch=self._decode_epoch)
        step = epoch = None
        values: dict[str, float] = {}
        for index, cell in enumerate(cells[: len(self.header)]):
            if index == self._step_index:
                step = to_float(cell)
            elif index == self._epoch_index:
                epoch = to_float(cell)
                if epoch is None and cell.strip():
                    epoch = number_in(cell)  # "Epoch 12"
            else:
                number = to_float(cell)
                if number is not None and self.header[index]:
                    values[self.header[index]] = number
        if not values:
            return None
        return MetricRecord(values, as_count(step), epoch if epoch is not None and math.isfinite(epoch) else None,
                            roles=self._roles)
