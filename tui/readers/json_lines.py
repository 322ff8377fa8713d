"""JSON-lines metric logs: detectron2 metrics.json, DETR/DeiT log.txt, anything one dict a line."""
from __future__ import annotations

import json

from tui.readers.parser_base import LineParser
from tui.readers.values import JSON_ERRORS, record_from_mapping
from tui.records import ReaderNotice, Record


class JsonLinesParser(LineParser):
    format_name = "json_lines"

    def __init__(self) -> None:
        self.skipped_lines = 0

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
                records.append(record)
        if self.skipped_lines > skipped_before:
            records.append(ReaderNotice(f"skipped {self.skipped_lines - skipped_before} line(s) that are not JSON"))
        return records
