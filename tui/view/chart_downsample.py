"""Long curves for display: TensorBoard's debiased EMA over every point first, then min/max buckets.

A chart is a few hundred dots wide, so a million-point curve is drawn from at most 1024 buckets:
the raw ghost as each bucket's lowest and highest value (a spike stays visible), the smoothed line
as the smoothed value at each bucket's end. Smoothing runs before the bucketing, over every point,
so it means what it means in TensorBoard at any length. The state is kept per series, x unit and
smoothing weight and folded forward as points arrive: a redraw costs the new points, not the curve.
"""
from __future__ import annotations

import math
import weakref

from tui.model.series import Series

MAX_BUCKETS = 1024
# A curve first drawn with this many points is folded in numpy at once (a history read whole).
BULK_FOLD_POINTS = 20_000

# Series -> {(unit, weight): DisplayCurve}; entries go with their series (a reset drops them).
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class DisplayCurve:
    """One series on one x unit at one smoothing weight, bucketed."""

    __slots__ = ("weight", "unit", "consumed", "count", "ema", "bucket_size", "xs", "lows", "highs", "ends",
                 "open_count", "open_x", "open_low", "open_high", "open_end")

    def __init__(self, weight: float, unit: str) -> None:
        self.weight, self.unit = weight, unit
        self.consumed = 0  # points of the series already folded in
        self.count = 0  # finite points among them
        self.ema = 0.0
        self.bucket_size = 1
        self.xs: list[float] = []
        self.lows: list[float] = []
        self.highs: list[float] = []
        self.ends: list[float] = []  # the smoothed value at each bucket's last point
        self._reset_open()

    def _reset_open(self) -> None:
        self.open_count, self.open_x, self.open_low, self.open_high, self.open_end = 0, 0.0, math.inf, -math.inf, 0.0

    def update(self, series: Series) -> None:
        if len(series.values) - self.consumed >= BULK_FOLD_POINTS and self.consumed == 0:
            self._fold_all(series)
            return
        values = series.values
        places = series.steps if self.unit == "step" else series.epochs if self.unit == "epoch" else None
        weight, isfinite = self.weight, math.isfinite
        for index in range(self.consumed, len(values)):
            value = values[index]
            if not isfinite(value):
                continue
            self.count += 1
            self.ema = self.ema * weight + (1 - weight) * value
            smoothed = self.ema / (1 - weight ** self.count) if weight > 0 else value
            self.open_x = places[index] if places is not None else float(self.count - 1)
            if value < self.open_low:
                self.open_low = value
            if value > self.open_high:
                self.open_high = value
            self.open_end = smoothed
            self.open_count += 1
            if self.open_count >= self.bucket_size:
                self._close_bucket()
        self.consumed = len(values)

    def _fold_all(self, series: Series) -> None:
        """``update`` from nothing over a long series, in numpy: the same buckets (2^k finite points
        each, the smallest k that keeps them under MAX_BUCKETS) and the same debiased EMA (polars'
        adjusted exponential mean is TensorBoard's debiased one), equal to the point-by-point fold
        up to rounding in the last digits."""
        import numpy as np

        values, steps, epochs = series.arrays()
        finite = np.isfinite(values)
        places = (steps if self.unit == "step" else epochs if self.unit == "epoch" else None)
        kept = values[finite]
        count = len(kept)
        self.consumed, self.count = len(values), count
        if not count:
            return
        xs = places[finite] if places is not None else np.arange(count, dtype="float64")
        weight = self.weight
        if weight > 0:
            import polars as pl

            smoothed = pl.Series(kept).ewm_mean(alpha=1 - weight, adjust=True).to_numpy()
            # The fold goes on from the biased EMA: debiased * (1 - w^n).
            self.ema = float(smoothed[-1]) * (1 - weight ** count)
        else:
            smoothed = kept
            self.ema = float(kept[-1])
        size = 1
        while count // size >= MAX_BUCKETS:
            size *= 2
        closed = count // size
        self.bucket_size = size
        shaped = kept[:closed * size].reshape(closed, size)
        self.xs = xs[size - 1:closed * size:size].tolist()
        self.lows = shaped.min(axis=1).tolist()
        self.highs = shaped.max(axis=1).tolist()
        self.ends = smoothed[size - 1:closed * size:size].tolist()
        rest = count - closed * size
        self._reset_open()
        if rest:
            tail = kept[closed * size:]
            self.open_count, self.open_x = rest, float(xs[-1])
            self.open_low, self.open_high, self.open_end = float(tail.min()), float(tail.max()), float(smoothed[-1])

    def _close_bucket(self) -> None:
        self.xs.append(self.open_x)
        self.lows.append(self.open_low)
        self.highs.append(self.open_high)
        self.ends.append(self.open_end)
        self._reset_open()
        if len(self.xs) >= MAX_BUCKETS:  # halve the resolution: merge neighbours
            self.xs = self.xs[1::2]
            self.lows = [min(a, b) for a, b in zip(self.lows[::2], self.lows[1::2])]
            self.highs = [max(a, b) for a, b in zip(self.highs[::2], self.highs[1::2])]
            self.ends = self.ends[1::2]
            self.bucket_size *= 2

    def buckets(self) -> tuple[list[float], list[float], list[float], list[float]]:
        """(xs, lows, highs, smoothed ends), the open bucket included."""
        if not self.open_count:
            return self.xs, self.lows, self.highs, self.ends
        return (self.xs + [self.open_x], self.lows + [self.open_low], self.highs + [self.open_high],
                self.ends + [self.open_end])


def display_curve(series: Series, unit: str, weight: float) -> DisplayCurve:
    """The up-to-date display state of a series (built on first use, then folded forward)."""
    per_series = _CACHE.setdefault(series, {})
    curve = per_series.get((unit, weight))
    if curve is None or curve.consumed > len(series):
        curve = per_series[(unit, weight)] = DisplayCurve(weight, unit)
    curve.update(series)
    return curve


def envelope(xs: list[float], lows: list[float], highs: list[float]) -> tuple[list[float], list[float]]:
    """A bucket's lowest and highest value as two points at its x: drawn as a line, the band the raw
    points cover."""
    out_x: list[float] = []
    out_y: list[float] = []
    for x, low, high in zip(xs, lows, highs):
        out_x.append(x)
        out_y.append(low)
        if high != low:
            out_x.append(x)
            out_y.append(high)
    return out_x, out_y
