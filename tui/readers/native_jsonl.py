"""The native trainwatch event log (see ``trainers.runlog`` for the schema)."""
from __future__ import annotations

import json
from typing import Any

from tui.readers.bulk_columns import native_jsonl_records
from tui.readers.parser_base import LineParser
from tui.readers.values import COUNT_LIMIT, JSON_ERRORS, as_count, to_float
from tui.model.records import (AckRecord, CheckpointRecord, DatasetSizeRecord, DecodeRecord, MetricRecord,
                         RankTimingRecord, ReaderNotice, Record, RunStartRecord, StatusRecord, TextRecord)


def _int_or_none(value: Any) -> int | None:
    return as_count(value if type(value) is int else to_float(value))


def _float_or_none(value: Any) -> float | None:
    number = to_float(value)
    return number if number is not None and number == number else None


class NativeJsonlParser(LineParser):
    format_name = "trainwatch_jsonl"
    reads_in_bulk = True

    def __init__(self) -> None:
        self.skipped_lines = 0

    def parse_lines(self, lines: list[str]) -> list[Record]:
        bad_before = self.skipped_lines
        records = self.records_of_lines(lines)
        if self.skipped_lines > bad_before:
            records.append(ReaderNotice(f"skipped {self.skipped_lines - bad_before} line(s) that are not trainwatch events"))
        return records

    def parse_bulk(self, data: bytes) -> list[Record] | None:
        """Complete lines of a big read in columns (readers/bulk_columns.py); None: read them as lines."""
        return native_jsonl_records(data, self)

    def records_of_lines(self, lines: list[str]) -> list[Record]:
        """The records of ``lines``; bad lines are counted in ``skipped_lines``, with no notice."""
        records: list[Record] = []
        for event in self._events_of(lines):
            if type(event) is dict and event.get("event") == "metrics":
                metric = _metrics_record(event)  # nine lines in ten: kept on a short path
                if metric is not None:
                    if metric.values:
                        records.append(metric)
                    continue
            record = self._record_of(event) if isinstance(event, dict) else None
            if record is None:
                self.skipped_lines += 1
            else:
                records.extend(record)
        return records

    def _events_of(self, lines: list[str]) -> list[Any]:
        """The decoded lines. Many lines at once are decoded as one JSON array, about twice as fast
        as line by line; a bad line anywhere sends that batch the slow way, which skips just it."""
        lines = [line for line in lines if line.strip()]
        if len(lines) > 1:
            try:
                events = json.loads("[" + ",".join(lines) + "]")
                if len(events) == len(lines):  # a line holding two values ("1, 2") would shift the rest
                    return events
            except JSON_ERRORS:
                pass
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except JSON_ERRORS:
                self.skipped_lines += 1
        return events

    def _record_of(self, event: dict[str, Any]) -> list[Record] | None:
        kind = event.get("event")
        wall_time = _float_or_none(event.get("time"))
        step, epoch = _int_or_none(event.get("step")), _float_or_none(event.get("epoch"))
        if kind == "metrics":
            raw = event.get("metrics")
            if not isinstance(raw, dict):
                return None
            values = {str(name): number for name, value in raw.items() if (number := to_float(value)) is not None}
            return [MetricRecord(values, step, epoch, wall_time)] if values else []
        if kind == "decode":
            return [DecodeRecord(str(event.get("reference") or ""), str(event.get("hypothesis") or ""), step, epoch,
                                 _float_or_none(event.get("blank_ratio")), _str_or_none(event.get("sample")))]
        if kind == "run_start":
            records: list[Record] = [RunStartRecord(
                resumed=bool(event.get("resumed_from")), resumed_from=_str_or_none(event.get("resumed_from")),
                start_epoch=_float_or_none(event.get("start_epoch")), start_step=_int_or_none(event.get("start_step")),
                config=event.get("config") if isinstance(event.get("config"), dict) else {}, wall_time=wall_time,
                controllable=event.get("control") is True)]
            sizes = event.get("dataset_sizes")
            if isinstance(sizes, dict):
                records += [DatasetSizeRecord(str(split), count) for split, size in sizes.items()
                            if (count := _int_or_none(size)) is not None]
            return records
        if kind == "status":
            return [StatusRecord(str(event.get("state") or "running"), _int_or_none(event.get("exit_code")),
                                 str(event.get("message") or ""), wall_time)]
        if kind == "ack":
            detail = event.get("detail")
            return [AckRecord(str(event.get("command_id") or ""), str(event.get("action") or ""),
                              bool(event.get("applied")), detail if isinstance(detail, dict) else {},
                              str(event.get("message") or ""), wall_time)]
        if kind == "checkpoint":
            return [CheckpointRecord(str(event.get("path") or ""), step, epoch, str(event.get("tag") or "last"))]
        if kind == "text":
            return [TextRecord(str(event.get("text") or ""), str(event.get("stream") or "stdout"))]
        if kind == "rank_timing":
            per_step, waiting = _float_or_none(event.get("seconds_per_step")), event.get("waiting")
            if per_step is None or not isinstance(waiting, list) or len(waiting) < 2:
                return None
            values = [_float_or_none(value) for value in waiting]
            return [RankTimingRecord(step, per_step, values)] if None not in values else None
        return None


def _metrics_record(event: dict[str, Any]) -> MetricRecord | None:
    """A metrics event the way RunLog writes it, with plain numbers; None for anything unusual
    (the general path then reads it). Same result as ``_record_of``, several times faster."""
    raw, step, epoch, stamp = event.get("metrics"), event.get("step"), event.get("epoch"), event.get("time")
    if type(raw) is not dict or not (step is None or (type(step) is int and -COUNT_LIMIT < step < COUNT_LIMIT)) \
            or not (epoch is None or type(epoch) is int or (type(epoch) is float and epoch == epoch)) \
            or not (stamp is None or type(stamp) is float or type(stamp) is int):
        return None
    values: dict[str, float] = {}
    try:
        for name, value in raw.items():
            kind = type(value)
            if kind is float or kind is int:
                values[name] = float(value)
            elif kind is not bool:
                number = to_float(value)
                if number is not None:
                    values[name] = number
        return MetricRecord(values, step, None if epoch is None else float(epoch),
                            None if stamp is None else float(stamp))
    except OverflowError:  # an int of 309+ digits somewhere: the general path reads it as inf
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
