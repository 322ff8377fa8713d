"""Small numeric helpers the rules share: noise, margins, trends, comparison by goal."""
from __future__ import annotations

import math
from statistics import median


def noise_level(values: list[float]) -> float:
    """Robust estimate of the point-to-point noise of a series, trends excluded.

    Second differences cancel a locally straight trend; for white noise their spread is
    sqrt(6) times the noise's, and the median absolute deviation ignores single spikes.
    """
    if len(values) < 4:
        return 0.0
    second = [values[i + 1] - 2 * values[i] + values[i - 1] for i in range(1, len(values) - 1)]
    centre = median(second)
    spread = median(abs(d - centre) for d in second)
    moving = [d for d in second if d != 0]
    if spread == 0 and moving:
        # Exactly flat for most of its length (a metric stuck at 0): its noise is what the rest shows.
        spread = median(abs(d) for d in moving)
    return 1.4826 * spread / math.sqrt(6)


def quantum(values: list[float]) -> float:
    """The printing precision of a series: its smallest step between distinct values."""
    distinct = sorted(set(values))
    steps = [b - a for a, b in zip(distinct, distinct[1:]) if b - a > 0]
    return min(steps) if steps else 0.0


def margin(noise: float, n: int, multiple: float, floor: float = 0.0, spread: float = math.sqrt(2)) -> float:
    """The smallest change the noise does not explain: ``multiple`` standard deviations of the
    difference compared (``spread`` x the noise; sqrt 2 for two single evaluations, see median_spread),
    widened for a short series, whose noise estimate is itself uncertain, so fewer points need more."""
    return max(multiple * spread * noise * (1 + 2 / math.sqrt(max(n, 1))), floor)


def median_spread(first: int, second: int) -> float:
    """The standard deviation, in noise units, of the difference of two medians of ``first`` and
    ``second`` noisy points (a median of m points varies as pi/2 / m times the noise's variance)."""
    return math.sqrt(math.pi / 2 * (1 / first + 1 / second)) if first > 1 or second > 1 else math.sqrt(2)


def gain(new: float, old: float, goal: str) -> float:
    """How much better ``new`` is than ``old`` (negative when worse)."""
    return (old - new) if goal == "min" else (new - old)


def best_index(values: list[float], goal: str) -> int:
    pick = min if goal == "min" else max
    target = pick(values)
    return values.index(target)


def relative(change: float, level: float) -> float:
    return change / abs(level) if level else (math.inf if change else 0.0)


def bucket_means(values: list[float], buckets: int = 200) -> list[float]:
    """At most ``buckets`` means of consecutive values: rank statistics over all pairs grow with the
    square of the length, and 200 bucket means keep a trend."""
    if len(values) <= buckets:
        return list(values)
    size = len(values) / buckets
    return [sum(chunk) / len(chunk) for chunk in
            (values[int(i * size): int((i + 1) * size)] for i in range(buckets)) if chunk]


def kendall_tau(values: list[float]) -> float:
    """Kendall's rank correlation of a series with time: -1 always falling, +1 always rising, 0 no trend."""
    values = bucket_means(values)
    concordant = discordant = 0
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            concordant += b > a
            discordant += b < a
    pairs = concordant + discordant
    return (concordant - discordant) / pairs if pairs else 0.0


def theil_sen_slope(values: list[float]) -> float:
    """The median of the slopes between every pair of points, per position: a trend that a few outliers
    do not move (Theil-Sen). 0 for fewer than two points."""
    reduced = bucket_means(values)
    width = len(values) / len(reduced) if reduced else 1.0
    slopes = sorted((b - a) / ((j - i) * width) for i, a in enumerate(reduced)
                    for j, b in enumerate(reduced[i + 1:], start=i + 1))
    return median(slopes) if slopes else 0.0
