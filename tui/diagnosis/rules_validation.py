"""Rules that read the validation curves: overfitting, plateau, no_learning, unstable_val."""
from __future__ import annotations

import math
from statistics import median

from tui.diagnosis.finding import Finding
from tui.diagnosis.segment_view import Curve, SegmentView, align
from tui.diagnosis.signal import finite_or_none, int_or_none, best_index, debiased_ema, fmt, gain, noise_level, when

Thresholds = dict[str, dict]


def smoothing_for(curve: Curve, thresholds: Thresholds) -> float:
    common = thresholds["common"]
    if len(curve) < 10:
        return 0.0
    return common["smoothing_long"] if len(curve) >= common["long_series"] else common["smoothing_short"]


def quantum(values: list[float]) -> float:
    """The printing precision of a series: its smallest step between distinct values."""
    distinct = sorted(set(values))
    steps = [b - a for a, b in zip(distinct, distinct[1:]) if b - a > 0]
    return min(steps) if steps else 0.0


def check_overfitting(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Validation worse than its best (beyond noise) while training still improves."""
    rules = thresholds["overfitting"]
    # The metric people watch first, so the evidence speaks their language (val MAE, not val loss).
    for curve in [c for c in (view.main_val, view.val_loss) if c is not None]:
        finding = _overfitting_on(view, curve, rules, thresholds, segment)
        if finding:
            return finding
    return None


def _still_improving(main: Curve, rules: dict, thresholds: Thresholds) -> bool:
    """A new record of the main metric just now, and a real gain over the last quarter of the run
    (a WER creeping down by 0.5 a point over twenty epochs while the loss climbs is not a reason to wait)."""
    if best_index(main.values, main.goal) < len(main) - 2:
        return False
    smoothed = debiased_ema(main.values, smoothing_for(main, thresholds))
    window = max(3, len(main) // 4)
    if len(smoothed) <= window:
        return True
    earlier = smoothed[-1 - window]
    return gain(smoothed[-1], earlier, main.goal) > rules["decoupled_min_gain"] * max(abs(earlier), 1e-12)


def _overfitting_on(view: SegmentView, val: Curve, rules: dict, thresholds: Thresholds,
                    segment: int) -> Finding | None:
    n = len(val)
    if n < thresholds["common"]["min_evals"] or val.goal is None:
        return None
    main = view.main_val
    decoupled = main is not None and view.segment.series[main.name].meta.base in ("wer", "cer", "uer")
    if decoupled and main.name != val.name and len(main) >= 3 and main.goal:
        if _still_improving(main, rules, thresholds):
            return None  # the metric people watch still clearly improves (eval loss up, WER down is fine)
    twin = view.train_twin(val)
    if twin is None:
        return None
    train = align(val, twin)
    smoothed = debiased_ema(val.values, smoothing_for(val, thresholds))
    best = best_index(smoothed, val.goal)
    after = n - 1 - best
    # Training's best since validation's best: a late wobble of the train loss does not hide that it
    # kept improving long after validation stopped.
    train_since = [t for t in train[best:] if t is not None]
    train_at_best = train[best]
    train_last = (min(train_since) if val.goal == "min" else max(train_since)) if train_since else None
    if after < rules["min_evals_after_best"] or train_at_best is None or train_last is None:
        return None
    train_gain = gain(train_last, train_at_best, val.goal)
    if train_gain <= rules["min_train_gain"] * max(abs(train_at_best), 1e-12) and not (
            val.bounded and train_gain > rules["min_train_gain"] * 0.2):
        return None
    worse_by = -gain(smoothed[-1], smoothed[best], val.goal)
    noise = noise_level(val.values)
    level = max(abs(smoothed[best]), 1e-12)
    # Beyond the noise band; or so large (4x the minimum rise) that even a noisy curve cannot explain it.
    rose = (worse_by > max(rules["noise_multiple"] * noise, rules["min_rise"] * level)
            or worse_by > 4 * rules["min_rise"] * level)
    gap_best, gap_last = _gap(smoothed[best], train_at_best, val.goal), _gap(smoothed[-1], train_last, val.goal)
    gap_grew = (worse_by > 0 and gap_best > 0 and gap_last >= rules["gap_growth"] * gap_best
                and after >= max(5, rules["gap_patience_fraction"] * n))
    if not (rose or gap_grew):
        return None
    epoch, step = val.time_at(best)
    raw_best = best_index(val.values, val.goal)
    evidence = (f"{val.name} best {fmt(val.values[raw_best])} at {when(*val.time_at(raw_best))}, now {fmt(val.values[-1])}"
                f" (smoothed {'+' if val.goal == 'min' else '-'}{fmt(abs(worse_by))}, {worse_by / level:.0%})"
                f" while {twin.name} went {fmt(train_at_best)} -> {fmt(train_last)};"
                f" train/val gap {fmt(gap_best)} -> {fmt(gap_last)}")
    return Finding("overfitting", "warning", f"Overfitting: {val.name} worse since {when(epoch, step)}",
                   evidence, epoch, int_or_none(step), segment)


def _gap(val_value: float, train_value: float, goal: str) -> float:
    return val_value - train_value if goal == "min" else train_value - val_value


def check_plateau(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """No new best of the main validation metric beyond noise for the last evaluations."""
    rules = thresholds["plateau"]
    val = view.trusted_val
    if val is None:
        return _train_plateau(view, rules, segment)
    n = len(val)
    if n < rules["min_evals"] or val.goal is None:
        return None
    noise = noise_level(val.values[n // 2:])  # the noise of the recent part, not of early spikes
    anchor, anchor_index = val.values[0], 0
    for index, value in enumerate(val.values[1:], 1):
        min_delta = max(rules["noise_multiple"] * noise, rules["min_relative_delta"] * abs(anchor))
        if gain(value, anchor, val.goal) > min_delta:
            anchor, anchor_index = value, index
    patience = min(rules["max_patience"], max(rules["min_patience"], round(rules["patience_fraction"] * n)))
    stalled = n - 1 - anchor_index
    if stalled < patience:
        return None
    epoch, step = val.time_at(anchor_index)
    best = best_index(val.values, val.goal)
    evidence = (f"{val.name} {fmt(anchor)} at {when(epoch, step)}; {stalled} evaluations since without a gain beyond "
                f"noise (±{fmt(max(noise, 0))}); best {fmt(val.values[best])}, last {fmt(val.values[-1])}")
    return Finding("plateau", "warning", f"Plateau: {val.name} flat for {stalled} evaluations", evidence,
                   epoch, int_or_none(step), segment)


def _train_plateau(view: SegmentView, rules: dict, segment: int) -> Finding | None:
    """Without validation: the training loss stopped falling after having learned something."""
    train = view.train_loss
    if train is None or len(train) < rules["train_min_points"]:
        return None
    values = train.values
    n = len(values)
    quarter = max(1, n // 4)
    third_quarter = sum(values[n - 2 * quarter: n - quarter]) / quarter
    last_quarter = sum(values[n - quarter:]) / quarter
    start = values[0]
    if min(values) <= 0 or start <= third_quarter * (1 + rules["train_prior_gain"]):
        return None  # never learned (no_learning's case) or a loss that crosses zero
    change = (third_quarter - last_quarter) / abs(third_quarter)
    if change > rules["train_window_change"]:
        return None
    epoch, step = train.time_at(n - 2 * quarter)
    evidence = (f"{train.name} {fmt(start)} -> {fmt(third_quarter)} (mean of 3rd quarter) -> {fmt(last_quarter)} "
                f"(last quarter): {change:.1%} better over the last quarter of the run; no validation to judge by")
    return Finding("plateau", "warning", f"Plateau: {train.name} stopped falling", evidence, epoch, int_or_none(step), segment)


def check_no_learning(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """The best validation result is the first one, or training never leaves its start."""
    rules = thresholds["no_learning"]
    val = view.trusted_val
    if val is not None and len(val) >= thresholds["common"]["min_evals"] and val.goal:
        n = len(val)
        best = best_index(val.values, val.goal)
        later = val.values[best + 1:]
        noise = noise_level(val.values)
        if best < max(1.0, rules["early_best_fraction"] * n) and later and \
                -gain(median(later), val.values[best], val.goal) > max(noise, 1e-12):
            epoch, step = val.time_at(best)
            evidence = (f"best {val.name} {fmt(val.values[best])} is at {when(epoch, step)}, evaluation {best + 1} of {n};"
                        f" the {len(later)} since are worse (median {fmt(median(later))}, last {fmt(val.values[-1])})")
            return Finding("no_learning", "critical", f"No learning: best {val.name} is the first evaluation",
                           evidence, epoch, int_or_none(step), segment)
    return _train_no_learning(view, rules, segment)


def _train_no_learning(view: SegmentView, rules: dict, segment: int) -> Finding | None:
    train = view.train_loss
    seg = view.segment
    started_at_start = (seg.start_epoch is None or seg.start_epoch <= 1.0) and (
        seg.start_step is None or seg.start_step <= 100 or (seg.start_epoch is not None and seg.start_epoch <= 1.0))
    if train is None or len(train) < rules["train_min_points"] or not started_at_start:
        return None
    values = train.values
    head = values[: max(1, len(values) // 20)]
    start = sum(head) / len(head)
    smoothed = debiased_ema(values, 0.6)
    low = min(smoothed)
    negative = sum(v < 0 for v in values) / len(values)
    if max(values) == min(values):
        evidence = f"{train.name} is exactly {fmt(values[0])} at all {len(values)} points: no gradient signal"
    elif negative >= 0.25 and "loss" in train.name.lower():
        evidence = (f"{train.name} is negative at {negative:.0%} of {len(values)} points (min {fmt(min(values))}):"
                    f" the loss is broken, so its movement is not learning")
    elif start > 0 and (start - low) / start < rules["train_min_gain"]:
        evidence = (f"{train.name} {fmt(start)} at the start, best smoothed {fmt(low)}: only "
                    f"{(start - low) / start:.1%} lower after {len(values)} points")
    else:
        return None
    epoch, step = train.time_at(0)
    return Finding("no_learning", "critical", f"No learning: {train.name} never leaves its starting level",
                   evidence, epoch, int_or_none(step), segment)


def relative_noise(curve: Curve, values: list[float] | None = None) -> float:
    values = curve.values if values is None else values
    noise, step = noise_level(values), quantum(values)
    scale = (100.0 if curve.percent else 1.0) if curve.bounded else median(abs(v) for v in values)
    if noise <= 2 * step or (step and median(abs(v) for v in values) < 20 * step):
        return 0.0  # values printed with too few digits: their jitter is rounding, not swings
    return noise / scale if scale else 0.0


def check_unstable_val(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Validation swings between evaluations far more than training (or the val loss) does."""
    rules = thresholds["unstable_val"]
    for val in [c for c in (view.main_val, view.val_loss) if c is not None]:
        if len(val) < rules["min_evals"]:
            continue
        skip = max(2, len(val) // 10)
        values = val.values[skip:]
        val_noise = relative_noise(val, values)
        references = []  # (name, relative noise, big swings) of what validation is compared with
        twin = view.train_twin(val)
        if twin is not None:
            aligned = [v for v in align(val, twin)[skip:] if v is not None]
            if len(set(aligned)) >= rules["min_evals"] - 2:
                references.append((twin.name, relative_noise(twin, aligned), _swings(twin, aligned, rules["min_swing"])))
        if view.val_loss is not None and view.val_loss.name != val.name and len(view.val_loss) == len(val):
            loss_values = view.val_loss.values[skip:]
            references.append((view.val_loss.name, relative_noise(view.val_loss, loss_values),
                               _swings(view.val_loss, loss_values, rules["min_swing"])))
        if not references:
            continue
        reference_name, reference_noise, reference_swings = min(references, key=lambda item: item[1])
        big_swings = _swings(val, values, rules["min_swing"])
        noisy = val_noise >= 0.02 and len(values) >= 10 and val_noise >= rules["train_ratio"] * reference_noise
        # Spikes escape a robust noise estimate; count them, against the reference's own spikes.
        spiky = (big_swings >= max(2, rules["min_swing_fraction"] * len(values))
                 and big_swings >= rules["train_ratio"] * reference_swings
                 and val_noise > 0 and val_noise >= reference_noise)
        if noisy or spiky:
            evidence = (f"{val.name} moves {val_noise:.1%} between evaluations (robust noise) vs {reference_noise:.1%}"
                        f" for {reference_name}; {big_swings} swings of 10%+ in {len(values)} evaluations"
                        f" (range {fmt(min(values))}-{fmt(max(values))})")
            epoch, step = val.time_at(skip)
            return Finding("unstable_val", "warning", f"Unstable validation: {val.name} swings", evidence,
                           epoch, int_or_none(step), segment)
    return None


def _swings(curve: Curve, values: list[float], min_swing: float) -> int:
    count = 0
    for index in range(len(values)):
        window = values[max(0, index - 2): index + 3]
        centre = median(window)
        scale = (100.0 if curve.percent else 1.0) if curve.bounded else (median(abs(v) for v in window) or 1e-12)
        count += abs(values[index] - centre) / scale >= min_swing
    return count

