"""MLflow file-store metric files: ``<timestamp_ms> <value> <step>`` per line, named for the metric."""
from __future__ import annotations

import os
import re

from tui.readers.parser_base import LineParser
from tui.readers.values import as_count, to_float
from tui.model.records import MetricRecord, Record

LINE_RE = re.compile(r"^\s*(\d{9,14})\s+(\S+)\s+(-?\d+)\s*$")


def looks_like_mlflow_metric(lines: list[str]) -> bool:
    useful = [line for line in lines if line.strip()]
    return bool(useful) and all(LINE_RE.match(line) for line in useful[:20])


class MlflowMetricParser(LineParser):
    format_name = "mlflow_metric"

    def __init__(self, source_name: str) -> None:
        self.metric_name = os.path.basename(source_name) or "value"

    def parse_lines(self, lines: list[str]) -> list[Record]:
        records: list[Record] = []
        for line in lines:
            match = LINE_RE.match(line)
            if not match:
                continue
            value, step = to_float(match.group(2)), as_count(match.group(3))
            if value is not None and step is not None:
                records.append(MetricRecord({self.metric_name: value}, step=step,
                                            wall_time=int(match.group(1)) / 1000.0))
        return records
