"""One metric's history, stored as columns of doubles (steps, epochs, values)."""
from __future__ import annotations

import math
from array import array

from tui.model.metric_names import MetricName, parse_metric_name

NAN = math.nan
COARSE_MAX_BUCKETS = 512
# A learning rate within this share of the last kept value is the same LR (see Series.changes).
KNOT_TOLERANCE = 1e-3


class Series:
    """Appends are O(1); a coarse view (bucket means, at most 512) is kept up to date as points
    arrive, so rules over million-step training curves never walk every point again."""

    __slots__ = ("name", "meta", "steps", "epochs", "values", "nan_count", "inf_count", "_bucket_size",
                 "_coarse_values", "_coarse_steps", "_coarse_epochs", "_open_sum", "_open_count", "_best",
                 "_knots", "_knot_value", "__weakref__")

    def __init__(self, name: str) -> None:
        self.name = name
        self.meta: MetricName = parse_metric_name(name)
        self.steps = array("d")
        # Float32 is exact for whole epochs and to 7 digits for fractional ones, and saves 4 bytes
        # a point: 40 MB on 10M points.
        self.epochs = array("f")
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
        # For a learning rate: the points where it changed (and the last point before each change),
        # so a per-step LR over a million steps reads as its few thousand changes.
        self._knots = array("l") if self.meta.is_lr else None
        self._knot_value = NAN

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
        if self._knots is not None:
            self._note_change(value)
        best = self._best
        if best is None or (value < self.values[best] if self.meta.goal == "min" else value > self.values[best]):
            self._best = len(self.values) - 1
        self._open_sum += value
        self._open_count += 1
        if self._open_count >= self._bucket_size:
            self._close_bucket(step, epoch)

    def _note_change(self, value: float) -> None:
        index, last = len(self.values) - 1, self._knot_value
        if last == last and abs(value - last) <= KNOT_TOLERANCE * abs(last):
            return
        knots = self._knots
        if knots and knots[-1] != index - 1 and last == last and math.isfinite(self.values[index - 1]):
            knots.append(index - 1)  # the end of the flat stretch: a later cut still reads as a cut
        knots.append(index)
        self._knot_value = value

    def changes(self) -> tuple[list[float], list[float], list[float]]:
        """(values, steps, epochs) at the points where a learning rate changed by more than 0.1%,
        each with the point before it, and the last point; the full finite series otherwise."""
        if self._knots is None:
            return self.finite()
        indices = list(self._knots)
        last = len(self.values) - 1
        if indices and indices[-1] != last and math.isfinite(self.values[last]):
            indices.append(last)
        return ([self.values[i] for i in indices], [self.steps[i] for i in indices], [self.epochs[i] for i in indices])

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
