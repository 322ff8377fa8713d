"""Rules about the learning-rate schedule and resuming: lr_wasted, lr_oscillation, resume_collapse."""
from __future__ import annotations

import math
from bisect import bisect_left

from tui.diagnosis.finding import Finding
from tui.diagnosis.rules_validation import lasting_values
from tui.diagnosis.segment_view import SegmentView
from tui.model.curves import Curve
from tui.diagnosis.signal import gain, margin
from tui.model.number_format import fmt, int_or_none, when

Thresholds = dict[str, dict]


def _time(curve: Curve, index: int) -> float:
    """A comparable position in time: the step when known, else the epoch, else the index."""
    step, epoch = curve.steps[index], curve.epochs[index]
    return step if math.isfinite(step) else (epoch if math.isfinite(epoch) else float(index))


def _eval_index_at(val: Curve, moment: float, lr: Curve) -> int:
    """The first evaluation at or after a moment on the LR curve's clock."""
    uses_steps = math.isfinite(lr.steps[0]) and math.isfinite(val.steps[0])
    keys = [(val.steps[i] if uses_steps else val.epochs[i]) for i in range(len(val))]
    if any(not math.isfinite(k) for k in keys):
        return min(len(val), int(moment))
    return bisect_left(keys, moment - 1e-9)


def _lr_time(lr: Curve, index: int, val: Curve) -> float:
    uses_steps = math.isfinite(lr.steps[index]) and math.isfinite(val.steps[0])
    value = lr.steps[index] if uses_steps else lr.epochs[index]
    return value if math.isfinite(value) else float(index)


def check_lr_wasted(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """The LR was cut, yet validation has not improved beyond noise since: neither the main metric
    nor the validation loss (a cut that lowered the val loss helped, even where an accuracy at 99% barely shows it)."""
    rules = thresholds["lr_wasted"]
    lr, val = view.lr, view.trusted_val
    if lr is None or val is None or val.goal is None or len(val) < 5:
        return None
    # A cut is a step down after a flat stretch (ReduceLROnPlateau, step decay); a smooth schedule
    # logged coarsely also drops between points, but nobody "cut" it.
    # A warm restart's cycle steps down too, but comes back up: a cut is a drop the LR never undoes.
    rates = lr.values
    later_peak = [max(rates[i:]) for i in range(len(rates))]
    cuts = [i for i in range(2, len(lr)) if rates[i - 1] > 0 and rates[i] <= rules["cut_ratio"] * rates[i - 1]
            and abs(rates[i - 2] - rates[i - 1]) <= 1e-3 * rates[i - 1] and later_peak[i] < rates[i - 1]]
    wasted_from = _first_wasted_cut(view, val, lr, cuts, rules)
    loss = view.val_loss
    if wasted_from is not None and loss is not None and loss.name != val.name and loss.goal and len(loss) >= 5:
        loss_wasted_from = _first_wasted_cut(view, loss, lr, cuts, rules)
        # From the first cut after which neither improved.
        wasted_from = None if loss_wasted_from is None else max(wasted_from, loss_wasted_from)
    if wasted_from is None:
        return None
    first_eval = _eval_index_at(val, _lr_time(lr, wasted_from, val), lr)
    evals_since = len(val) - first_eval
    if evals_since < rules["min_evals_after_cut"]:
        return None
    cuts_since = [c for c in cuts if c >= wasted_from]
    smoothed = lasting_values(val.values)
    pick = min if val.goal == "min" else max
    best_before, best_after = pick(smoothed[:first_eval]), pick(smoothed[first_eval:])
    if (gain(best_after, best_before, val.goal) > 1e-3 * abs(best_before)
            and evals_since < 2 * rules["min_evals_after_cut"]):
        # Better since the cut by a real amount (val_acc 76.9 -> 78.2) that only the noise (±3.5) keeps
        # from counting: too few evaluations to call the cut wasted; a longer look decides.
        return None
    epoch, step = lr.time_at(wasted_from)
    evidence = (f"LR cut {len(cuts_since)} time(s) since {when(epoch, step)} ({fmt(lr.values[wasted_from - 1])} -> "
                f"{fmt(lr.values[-1])}); {val.name} best {fmt(best_before)} before, {fmt(best_after)} in the "
                f"{evals_since} evaluations since (medians of three), where a gain needs"
                f" {fmt(_needed_gain(view, val, best_before, rules))} (its noise ±{fmt(view.noise(val))})")
    if loss is not None and loss.name != val.name:
        evidence += f"; {loss.name} no better beyond its noise either"
    return Finding("lr_wasted", "warning", f"LR cuts not helping {val.name}", evidence, epoch, int_or_none(step), segment)


def _needed_gain(view: SegmentView, curve: Curve, best_before: float, rules: dict) -> float:
    return max(margin(view.noise(curve), len(curve), rules["noise_multiple"]), 1e-3 * abs(best_before))


def _first_wasted_cut(view: SegmentView, curve: Curve, lr: Curve, cuts: list[int], rules: dict) -> int | None:
    """The first cut after which ``curve`` has made no gain beyond its noise (what lasted: medians of
    three, so one lucky evaluation is not a gain), with no helpful cut since; None when every cut helped."""
    smoothed = lasting_values(curve.values)
    pick = min if curve.goal == "min" else max
    wasted_from: int | None = None
    for cut in cuts:
        first_eval = _eval_index_at(curve, _lr_time(lr, cut, curve), lr)
        if first_eval <= 0 or first_eval >= len(curve):
            continue
        best_before, best_after = pick(smoothed[:first_eval]), pick(smoothed[first_eval:])
        if gain(best_after, best_before, curve.goal) > _needed_gain(view, curve, best_before, rules):
            wasted_from = None
        elif wasted_from is None:
            wasted_from = cut
    return wasted_from


def check_lr_oscillation(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Warm restarts or LR jumps that keep knocking validation back."""
    rules = thresholds["lr_oscillation"]
    lr, val = view.lr, view.main_val or view.val_loss
    if lr is None:
        return None
    restarts, peak = [], lr.values[0]
    for i in range(1, len(lr)):
        previous, current = lr.values[i - 1], lr.values[i]
        if previous > 0 and current >= rules["jump_ratio"] * previous and previous <= peak / rules["jump_ratio"]:
            restarts.append(i)
        peak = max(peak, current)
    if len(restarts) < rules["min_restarts"]:
        return None
    knocked = []
    if val is not None and val.goal:
        for restart in restarts:
            index = _eval_index_at(val, _lr_time(lr, restart, val), lr)
            if 0 < index < len(val) and gain(val.values[index], val.values[index - 1], val.goal) < 0:
                knocked.append((index, val.values[index - 1], val.values[index]))
    if val is not None and not knocked:
        return None
    epoch, step = lr.time_at(restarts[0])
    jumps = ", ".join(f"{fmt(lr.values[i - 1])}->{fmt(lr.values[i])}" for i in restarts[:4])
    evidence = f"LR jumped back up {len(restarts)} times ({jumps})"
    if knocked:
        evidence += f"; {val.name} got worse right after {len(knocked)} of them (" + ", ".join(
            f"{fmt(a)}->{fmt(b)}" for _, a, b in knocked[:3]) + ")"
    return Finding("lr_oscillation", "warning", "LR warm restarts knock validation back", evidence, epoch, int_or_none(step),
                   segment)


def check_resume_collapse(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Right after a resume, validation falls far below where the checkpoint was."""
    rules, previous = thresholds["resume_collapse"], view.previous
    if not view.segment.resumed:
        return None
    val = view.main_val or view.val_loss
    if val is None or val.goal is None or len(val) < 3:
        return None
    reference, where = val.values[0], f"the first evaluation ({when(*val.time_at(0))})"
    window = val.values[1: 1 + int(rules["first_evals"])]
    if previous is not None and val.name in previous.series and len(previous.series[val.name]):
        last_before = previous.series[val.name].values[-1]
        if math.isfinite(last_before):
            reference, where, window = last_before, "the last evaluation before the resume", val.values[:int(rules["first_evals"])]
    worst = min(window) if val.goal == "max" else max(window)
    if reference == 0:
        return None
    change = (worst - reference) / abs(reference)
    collapsed = change <= -rules["max_drop"] if val.goal == "max" else change >= rules["max_rise"]
    if not collapsed:
        return None
    index = val.values.index(worst)
    epoch, step = val.time_at(index)
    evidence = (f"{val.name} {fmt(reference)} at {where}, {fmt(worst)} at {when(epoch, step)} right after resuming "
                f"({change:+.0%}); the run restarted at {when(view.segment.start_epoch, view.segment.start_step)}")
    return Finding("resume_collapse", "critical", f"Collapse after resume: {val.name} {fmt(reference)} -> {fmt(worst)}",
                   evidence, epoch, int_or_none(step), segment)

