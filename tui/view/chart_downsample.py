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
