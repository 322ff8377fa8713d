"""One metric's history, stored as columns of doubles (steps, epochs, values)."""
from __future__ import annotations

import math
from array import array

from tui.metric_names import MetricName, parse_metric_name

NAN = math.nan
COARSE_MAX_BUCKETS = 512


class Series:
    """Appends are O(1); a coarse view (bucket means, at most 512) is kept up to date as points
    arrive, so rules over million-step training curves never walk every point again."""

    __slots__ = ("name", "meta", "steps", "epochs", "values", "nan_count", "inf_count", "_bucket_size",
                 "_coarse_values", "_coarse_steps", "_coarse_epochs", "_open_sum", "_open_count", "_best")

    def __init__(self, name: str) -> None:
        self.name = name
        self.meta: MetricName = parse_metric_name(name)
        self.steps = array("d")
        self.epochs = array("d")
        self.values = array("d")
        self.nan_count = 0
        self.inf_count = 0
        self._bucket_size = 1
        self._coarse_values: list[float] = []
        self._coarse_steps: list[float] = []
        self._coarse_epochs: list[float] = []
        self._open_sum = 0.0
        self._open_count = 0
        self._best: int | None = None  # kept per append: the live UI asks for it at every redraw

    def __len__(self) -> int:
        return len(self.values)

    def append(self, value: float, step: int | None, epoch: float | None) -> None:
        self.values.append(value)
        self.steps.append(NAN if step is None else float(step))
        self.epochs.append(NAN if epoch is None else float(epoch))
        if math.isnan(value):
            self.nan_count += 1
            return
        if math.isinf(value):
            self.inf_count += 1
            return
        best = self._best
        if best is None or (value < self.values[best] if self.meta.goal == "min" else value > self.values[best]):
            self._best = len(self.values) - 1
        self._open_sum += value
        self._open_count += 1
        if self._open_count >= self._bucket_size:
            self._close_bucket(step, epoch)

    def _close_bucket(self, step: int | None, epoch: float | None) -> None:
        self._coarse_values.append(self._open_sum / self._open_count)
        self._coarse_steps.append(NAN if step is None else float(step))
        self._coarse_epochs.append(NAN if epoch is None else float(epoch))
        self._open_sum, self._open_count = 0.0, 0
        if len(self._coarse_values) >= COARSE_MAX_BUCKETS:
            # Halve the resolution: merge neighbours, double the bucket size.
            self._coarse_values = [(a + b) / 2 for a, b in zip(self._coarse_values[::2], self._coarse_values[1::2])]
            self._coarse_steps = self._coarse_steps[1::2]
            self._coarse_epochs = self._coarse_epochs[1::2]
            self._bucket_size *= 2

    def coarse(self) -> tuple[list[float], list[float], list[float]]:
        """(values, steps, epochs) as bucket means of finite points, the open bucket included."""
        values, steps, epochs = list(self._coarse_values), list(self._coarse_steps), list(self._coarse_epochs)
        if self._open_count:
            values.append(self._open_sum / self._open_count)
            steps.append(self.steps[-1])
            epochs.append(self.epochs[-1])
        return values, steps, epochs

    def finite(self) -> tuple[list[float], list[float], list[float]]:
        """(values, steps, epochs) of the finite points."""
        keep = [i for i, value in enumerate(self.values) if math.isfinite(value)]
        return ([self.values[i] for i in keep], [self.steps[i] for i in keep], [self.epochs[i] for i in keep])

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def best_index(self) -> int | None:
        """Index of the best finite value by the metric's goal (the first, on ties); None without a
        goal or values."""
        return self._best if self.meta.goal else None
