"""Many metric records at once, as columns: what the bulk readers make of a big log (no Python
object per record), and what the run model applies in blocks (RunModel._apply_columns)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from tui.model.records import MetricRecord


@dataclass(eq=False)
class MetricColumns:
    """Consecutive metric records of one log, in file order.

    Each row has a shape: the names it holds a value for, in the order the log wrote them (the
    first is the record's kind, as RunModel reads it). ``values`` holds a float64 numpy column per
    name, meaningful where the row's shape has the name. ``steps``, ``epochs`` and ``wall_times``
    are float64 columns with NaN for none (steps are whole numbers within int64).
    """

    shapes: list[tuple[str, ...]]
    shape_of_row: object  # numpy int32 array: an index into shapes, per row
    values: dict[str, object]
    steps: object
    epochs: object
    wall_times: object
    roles: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.shape_of_row)

    def record(self, row: int) -> MetricRecord:
        """Row ``row`` as the record a line reader would have made of it."""
        shape = self.shapes[int(self.shape_of_row[row])]
        step, epoch, stamp = float(self.steps[row]), float(self.epochs[row]), float(self.wall_times[row])
        return MetricRecord({name: float(self.values[name][row]) for name in shape},
                            None if math.isnan(step) else int(step), None if math.isnan(epoch) else epoch,
                            None if math.isnan(stamp) else stamp, self.roles)

    def records(self, start: int = 0, stop: int | None = None) -> list[MetricRecord]:
        return [self.record(row) for row in range(start, len(self) if stop is None else stop)]

    def timing_rows(self, newest: int) -> list[int]:
        """The first row with a wall time and the last ``newest`` rows with one (how fast the run goes)."""
        import numpy as np

        timed = np.flatnonzero(~np.isnan(self.wall_times))
        if len(timed) <= newest + 1:
            return timed.tolist()
        return [int(timed[0]), *timed[-newest:].tolist()]


def expand_columns(records: list) -> list:
    """``records`` with every MetricColumns block turned back into its MetricRecords (for the few
    consumers that reorder records one by one)."""
    if not any(type(record) is MetricColumns for record in records):
        return records
    expanded: list = []
    for record in records:
        if type(record) is MetricColumns:
            expanded.extend(record.records())
        else:
            expanded.append(record)
    return expanded
