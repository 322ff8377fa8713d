"""One metric's history, stored as columns (values as doubles; steps and epochs by what they repeat)."""
from __future__ import annotations

import math
from array import array

from tui.model.metric_names import MetricName, parse_metric_name
from tui.model.point_columns import PiecewiseColumn, StrideColumn

NAN = math.nan
COARSE_MAX_BUCKETS = 512
# A learning rate within this share of the last kept value is the same LR (see Series.changes).
KNOT_TOLERANCE = 1e-3


def _numpy():
    import numpy  # loaded on first use: `check` of a small log never needs it
    return numpy


class Series:
    """Appends are O(1), one point or a block of them at once (``extend``). The coarse view (bucket
    means, at most 512) is computed from the points when asked, in numpy, and kept until more points
    arrive: rules over million-step training curves never walk every point in Python."""

    __slots__ = ("name", "meta", "steps", "epochs", "values", "nan_count", "inf_count", "_coarse_cache", "_best",
                 "_knots", "_knot_value", "__weakref__")

    def __init__(self, name: str) -> None:
        self.name = name
        self.meta: MetricName = parse_metric_name(name)
        self.steps = StrideColumn()
        self.epochs = PiecewiseColumn()
        self.values = array("d")
        self.nan_count = 0
        self.inf_count = 0
        self._coarse_cache: tuple[int, tuple[list[float], list[float], list[float]]] | None = None
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

    def extend(self, values, steps, epochs) -> None:
        """Append a block of points given as numpy arrays of doubles (NaN: no step, no epoch): the
        same series as appending them one by one."""
        np = _numpy()
        first = len(self.values)
        values = np.ascontiguousarray(values, dtype="float64")
        self.values.frombytes(values.tobytes())
        self.steps.extend(np.asarray(steps, dtype="float64"))
        self.epochs.extend(np.asarray(epochs, dtype="float64"))
        finite = np.isfinite(values)
        nans = int(np.isnan(values).sum())
        self.nan_count += nans
        self.inf_count += len(values) - nans - int(finite.sum())
        if not finite.any():
            return
        if self._knots is not None:
            self._note_changes(first, values, finite)
        if self.meta.goal == "min":
            candidate = int(np.argmin(np.where(finite, values, np.inf)))
        else:
            candidate = int(np.argmax(np.where(finite, values, -np.inf)))
        best, value = self._best, float(values[candidate])
        if best is None or (value < self.values[best] if self.meta.goal == "min" else value > self.values[best]):
            self._best = first + candidate

    def _note_change(self, value: float) -> None:
        index, last = len(self.values) - 1, self._knot_value
        if last == last and abs(value - last) <= KNOT_TOLERANCE * abs(last):
            return
        knots = self._knots
        if knots and knots[-1] != index - 1 and last == last and math.isfinite(self.values[index - 1]):
            knots.append(index - 1)  # the end of the flat stretch: a later cut still reads as a cut
        knots.append(index)
        self._knot_value = value

    def _note_changes(self, first: int, values, finite) -> None:
        """``_note_change`` for a block: only a point that differs from the finite point before it
        can be a change (an equal one is within the tolerance of whatever the last kept value is)."""
        np = _numpy()
        positions = np.flatnonzero(finite)
        kept = values[positions]
        differs = np.ones(len(kept), dtype=bool)
        differs[1:] = kept[1:] != kept[:-1]
        if len(kept) and self._knot_value == self._knot_value:
            differs[0] = kept[0] != self._last_finite_before(first)
        all_values, knots, tolerance = self.values, self._knots, KNOT_TOLERANCE
        last = self._knot_value
        for offset in np.flatnonzero(differs).tolist():
            index = first + int(positions[offset])
            value = all_values[index]
            if last == last and abs(value - last) <= tolerance * abs(last):
                continue
            if knots and knots[-1] != index - 1 and last == last and math.isfinite(all_values[index - 1]):
                knots.append(index - 1)
            knots.append(index)
            last = value
        self._knot_value = last

    def _last_finite_before(self, index: int) -> float:
        for position in range(index - 1, -1, -1):
            if math.isfinite(self.values[position]):
                return self.values[position]
        return NAN

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

    def coarse(self) -> tuple[list[float], list[float], list[float]]:
        """(values, steps, epochs) as bucket means of the finite points, at most COARSE_MAX_BUCKETS:
        buckets of 2^k consecutive finite points (the smallest k that fits), each placed at its
        last point; a last, partial bucket is placed at the series' last point."""
        count = len(self.values)
        cached = self._coarse_cache
        if cached is None or cached[0] != count:
            cached = self._coarse_cache = (count, self._compute_coarse())
        values, steps, epochs = cached[1]
        return list(values), list(steps), list(epochs)

    def _compute_coarse(self) -> tuple[list[float], list[float], list[float]]:
        if not len(self.values):
            return [], [], []
        np = _numpy()
        everything = np.frombuffer(self.values, dtype="float64")
        positions = np.flatnonzero(np.isfinite(everything))
        finite = everything[positions]
        del everything  # a view holds the array's buffer: it could not grow while it lives
        size = 1
        while len(finite) // size >= COARSE_MAX_BUCKETS:
            size *= 2
        closed = len(finite) // size
        means = finite[:closed * size].reshape(closed, size).mean(axis=1).tolist()
        ends = positions[size - 1:closed * size:size]
        steps, epochs = self.steps.to_numpy(), self.epochs.to_numpy()
        coarse_steps, coarse_epochs = steps[ends].tolist(), epochs[ends].tolist()
        if len(finite) > closed * size:
            means.append(float(finite[closed * size:].mean()))
            coarse_steps.append(float(steps[-1]))
            coarse_epochs.append(float(epochs[-1]))
        return means, coarse_steps, coarse_epochs

    def finite(self) -> tuple[list[float], list[float], list[float]]:
        """(values, steps, epochs) of the finite points."""
        if len(self.values) < 256:
            keep = [i for i, value in enumerate(self.values) if math.isfinite(value)]
            return ([self.values[i] for i in keep], [self.steps[i] for i in keep], [self.epochs[i] for i in keep])
        np = _numpy()
        everything = np.frombuffer(self.values, dtype="float64")
        keep = np.flatnonzero(np.isfinite(everything))
        values = everything[keep].tolist()
        del everything
        return values, self.steps.to_numpy()[keep].tolist(), self.epochs.to_numpy()[keep].tolist()

    def below_zero(self) -> bool:
        """Any point below zero (a loss that cannot be), without a Python loop over a long series."""
        if len(self.values) < 256:
            return any(value < 0 for value in self.values)
        everything = _numpy().frombuffer(self.values, dtype="float64")
        found = bool((everything < 0).any())
        del everything
        return found

    def arrays(self):
        """(values, steps, epochs) as numpy arrays of doubles, every point (copies)."""
        np = _numpy()
        return (np.array(self.values, dtype="float64"), self.steps.to_numpy(), self.epochs.to_numpy())

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def best_index(self) -> int | None:
        """Index of the best finite value by the metric's goal (the first, on ties); None without a
        goal or values."""
        return self._best if self.meta.goal else None
