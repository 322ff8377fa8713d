"""Series keeps its best point as it grows; it must agree with a full scan."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tui.model.series import Series

VALUES = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 0.5, 1.0])),
                  max_size=60)


def scanned_best(values: list[float], goal: str) -> int | None:
    best = None
    for index, value in enumerate(values):
        if math.isfinite(value) and (best is None or (value < values[best] if goal == "min" else value > values[best])):
            best = index
    return best


@given(VALUES, st.sampled_from(["val_loss", "val_accuracy", "lr"]))
def test_incremental_best_matches_a_full_scan(values, name):
    series = Series(name)
    for step, value in enumerate(values):
        series.append(value, step, None)
    goal = series.meta.goal
    assert series.best_index() == (scanned_best(values, goal) if goal else None)


def test_a_per_step_learning_rate_reads_as_its_changes():
    """A million-step LR is kept for the rules as its changes (with the end of each flat stretch),
    so a cut after a flat stretch is still a cut and a smooth schedule still reads as smooth."""
    series = Series("lr")
    for step in range(100_000):
        series.append(1e-3 if step < 40_000 else 1e-4, step, step / 1000)
    values, steps, _ = series.changes()
    assert values == [1e-3, 1e-3, 1e-4, 1e-4] and steps == [0, 39_999, 40_000, 99_999]
    cosine = Series("learning_rate")
    for step in range(100_000):
        cosine.append(1e-3 * (1 + math.cos(math.pi * step / 100_000)) / 2 + 1e-6, step, None)
    values, steps, _ = cosine.changes()
    assert 100 < len(values) < 20_000 and steps[-1] == 99_999
    # Between two kept points the LR moved by at most the tolerance.
    assert all(abs(b - a) <= 1e-3 * a + 1e-12 or steps[i + 1] - steps[i] == 1
               for i, (a, b) in enumerate(zip(values, values[1:])))


def test_long_curves_are_smoothed_over_every_point_then_bucketed():
    from tui.view.chart_downsample import MAX_BUCKETS, display_curve
    from tui.model.smoothing import debiased_ema

    series = Series("loss")
    values = [1.0 / (1 + step / 100) + (5.0 if step == 12_345 else 0.0) for step in range(50_000)]
    for step, value in enumerate(values[:30_000]):
        series.append(value, step, None)
    display_curve(series, "step", 0.9)  # built once, then folded forward as points arrive
    for step, value in enumerate(values[30_000:], 30_000):
        series.append(value, step, None)
    xs, lows, highs, ends = display_curve(series, "step", 0.9).buckets()
    assert len(xs) <= MAX_BUCKETS
    smoothed = debiased_ema(values, 0.9)
    assert all(math.isclose(end, smoothed[int(x)], rel_tol=1e-9) for x, end in zip(xs, ends))
    assert max(highs) == max(values)  # a one-point spike survives the bucketing
    assert min(lows) == min(values) and xs[-1] == 49_999


def test_a_constant_series_has_a_flat_sparkline():
    """Bucket means of one repeated value can differ in their last bit; the trend must stay flat."""
    from tui.view.metric_rows import SPARK_BLOCKS, sparkline_text

    assert sparkline_text([0.003] * 17, 6) == SPARK_BLOCKS[3] * 6
    assert sparkline_text([1.0, 2.0, 3.0], 3) == SPARK_BLOCKS[0] + SPARK_BLOCKS[len(SPARK_BLOCKS) // 2] + SPARK_BLOCKS[-1]
