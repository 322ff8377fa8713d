"""Curve smoothing shared by the charts and the rules."""
from __future__ import annotations


def debiased_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an EMA whose start is not biased towards zero."""
    if weight <= 0:
        return list(values)
    smoothed, last, steps = [], 0.0, 0
    for value in values:
        steps += 1
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight ** steps))
    return smoothed
