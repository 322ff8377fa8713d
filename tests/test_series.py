"""Series keeps its best point as it grows; it must agree with a full scan."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tui.series import Series

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
