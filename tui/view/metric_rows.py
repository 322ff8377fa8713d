"""The metrics table as data: one row per metric, train and val of the same metric side by side."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui.model.number_format import finite_or_none, printed_zero_bound
from tui.model.metric_names import SPEED_NAMES, MetricName, main_metric_rank
from tui.model.run_model import RunModel
from tui.model.series import Series

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class MetricRow:
    """A metric's row: the names it covers, last values, best so far and the recent trend."""

    label: str
    goal: str | None
    train_name: str | None = None
    val_name: str | None = None
    train_last: float | None = None
    val_last: float | None = None
    best: float | None = None
    best_when: str = ""
    change: float | None = None  # of the row's main series (val when there is one) since its previous point
    trend: list[float] = field(default_factory=list)  # the main series, coarse, for the sparkline
    zero_bound: float | None = None  # an LR printed too coarsely: its 0 means below this (``lr 0.00``)

    @property
    def main_name(self) -> str:
        return self.val_name or self.train_name or self.label

    def improved(self) -> bool | None:
        """Whether the last change went the goal's way (None without a goal or a change)."""
        if self.goal is None or self.change is None or self.change == 0:
            return None
        return (self.change < 0) == (self.goal == "min")


def _row_order(meta: MetricName) -> tuple:
    if meta.is_lr:
        return (2, 0, meta.base)
    if not meta.is_metric:
        return (3, 0, meta.base)
    return (0 if meta.is_loss else 1, main_metric_rank(meta.base), meta.base)


def metric_rows(model: RunModel) -> list[MetricRow]:
    """Rows for every series of the latest segment, losses first, bookkeeping last."""
    segment = model.current if model.current.series else next(
        (s for s in reversed(model.segments) if s.series), model.current)
    rows: dict[str, MetricRow] = {}
    order: dict[str, tuple] = {}
    shared_bases: set[str] = set()  # bases two metrics of one split share: each row then named in full
    for name, series in segment.series.items():
        meta = series.meta
        if not meta.is_metric and meta.base in SPEED_NAMES:
            continue  # speed and clock figures: the header's business, not a row
        key = meta.base if meta.split in ("train", "val", "") and meta.is_metric else name
        if meta.split == "test":
            key = name
        taken = rows.get(key)
        if taken is not None and (taken.val_name if meta.split == "val" else
                                  taken.train_name if meta.split == "train" else None):
            key = name  # a second metric of the same base and split (YOLO's box (B) and mask (M) mAP): its own row
            shared_bases.add(meta.base)
        row = rows.get(key)
        if row is None:
            row = rows[key] = MetricRow(label=meta.base if key == meta.base else name, goal=meta.goal)
            order[key] = _row_order(meta)
        if meta.split in ("val", "test"):
            # A held-out evaluation, as the diagnosis reads a test metric when nothing says val: the
            # evaluation column (test_ metrics keep a row of their own, named in full).
            row.val_name, row.val_last = name, finite_or_none(series.last)
        elif row.train_name is None or meta.split == "train":
            row.train_name, row.train_last = name, finite_or_none(series.last)
        if meta.is_lr and series.last == 0:
            row.zero_bound = printed_zero_bound(series.values)
    for key, row in rows.items():
        if key in shared_bases:
            row.label = row.main_name  # "metrics/mAP50(B)" beside "metrics/mAP50(M)", not "map50"
        _fill_best_and_trend(row, model, segment.series[row.main_name])
    return [rows[key] for key in sorted(rows, key=lambda key: order[key])]


def _fill_best_and_trend(row: MetricRow, model: RunModel, series: Series) -> None:
    summary = model.summary_of(row.main_name)
    row.best = summary["best"]
    if summary["best_epoch"] is not None:
        row.best_when = f"e{summary['best_epoch']}"
    elif summary["best_step"] is not None:
        step = summary["best_step"]
        row.best_when = f"s{step // 1000}k" if step >= 10000 else f"s{step}"
    finite = [value for value in series.values[-2:] if math.isfinite(value)]
    if len(series) >= 2 and len(finite) == 2:
        row.change = finite[1] - finite[0]
    row.trend = series.coarse()[0]


def sparkline_text(values: list[float], width: int) -> str:
    """Block characters for the last ``width`` buckets of ``values`` (bucket means when longer)."""
    values = [value for value in values if math.isfinite(value)]
    if not values or width <= 0:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [sum(chunk) / len(chunk) for chunk in
                  (values[int(i * size):max(int((i + 1) * size), int(i * size) + 1)] for i in range(width))]
    low, high = min(values), max(values)
    span = high - low
    if span <= 1e-9 * max(abs(high), abs(low)):  # flat: bucket means of one value differ in the last bit
        return SPARK_BLOCKS[3] * len(values)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((value - low) / span * top)] for value in values)


