"""JSON-lines metric logs: detectron2 metrics.json, DETR/DeiT log.txt, anything one dict a line."""
from __future__ import annotations

import json

from tui.readers.parser_base import LineParser
from dataclasses import replace

from tui.model.metric_names import parse_metric_name
from tui.readers.values import JSON_ERRORS, record_from_mapping
from tui.model.records import MetricRecord, ReaderNotice, Record

# Keys of an mmengine training row (LoggerHook's scalars.json); its evaluation rows carry none of them.
_MMENGINE_TRAINING_KEYS = ("iter", "lr", "loss")


class JsonLinesParser(LineParser):
    format_name = "json_lines"

    def __init__(self) -> None:
        self.skipped_lines = 0
        # mmengine writes training rows with "iter" (and "epoch" when it trains by epoch) and
        # evaluation rows with only "step", which then counts epochs; nothing in their names says val.
        self._mmengine_epochs: bool | None = None

    def parse_lines(self, lines: list[str]) -> list[Record]:
        records: list[Record] = []
        skipped_before = self.skipped_lines
        for line in lines:
            if not line.strip():
                continue
            try:
                mapping = json.loads(line)
            except JSON_ERRORS:
                self.skipped_lines += 1
                continue
            record = record_from_mapping(mapping) if isinstance(mapping, dict) else None
            if record is not None:
                records.append(self._mmengine_row(mapping, record))
        if self.skipped_lines > skipped_before:
            records.append(ReaderNotice(f"skipped {self.skipped_lines - skipped_before} line(s) that are not JSON"))
        return records

    def _mmengine_row(self, mapping: dict, record: MetricRecord) -> MetricRecord:
        """An mmengine evaluation row placed where it belongs (its "step" is the epoch when training
        counts epochs) and its unprefixed names (accuracy/top1, coco/bbox_mAP) read as validation."""
        if "iter" in mapping and "step" in mapping:
            self._mmengine_epochs = self._mmengine_epochs or "epoch" in mapping
            return record
        if self._mmengine_epochs is None or any(key in mapping for key in (*_MMENGINE_TRAINING_KEYS, "epoch")):
            return record
        roles = {name: "val" for name in record.values if not parse_metric_name(name).split}
        if self._mmengine_epochs and record.step is not None:
            return replace(record, step=None, epoch=float(record.step), roles=roles)
        return replace(record, roles=roles)
