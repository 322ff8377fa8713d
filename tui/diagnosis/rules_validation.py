"""Rules that read the validation curves: overfitting, plateau, no_learning, unstable_val.

Each judges a change against the metric's own noise (SegmentView.noise, one estimate per metric)
through signal.margin, which asks more of a short series than of a long one."""
from __future__ import annotations

import math
from statistics import median

from tui.diagnosis.finding import Finding
from tui.diagnosis.segment_view import SegmentView
from tui.model.curves import Curve, align, per_evaluation
from tui.diagnosis.signal import (best_index, gain, kendall_tau, margin, median_spread, noise_level,
                                  quantum, theil_sen_slope)
from tui.model.smoothing import debiased_ema
from tui.model.number_format import fmt, int_or_none, printed_step

Thresholds = dict[str, dict]


def needed_change(view: SegmentView, curve: Curve, multiple: float, level: float, relative_floor: float) -> float:
    """The change of ``curve`` its noise does not explain, at least its printing step and a sliver of its level."""
    return margin(view.noise(curve), len(curve), multiple, max(view.quantum(curve), relative_floor * abs(level)))


def lasting_values(values: list[float]) -> list[float]:
    """Each evaluation as the median of it and its two neighbours (one at the ends): what lasted."""
    if len(values) < 3:
        return list(values)
    return [values[0]] + [median(values[i - 1: i + 2]) for i in range(1, len(values) - 1)] + [values[-1]]


def learned(view: SegmentView, curve: Curve, multiple: float = 1.0, relative_floor: float = 0.0) -> bool:
    """A gain beyond its noise from the first evaluation that lasts (the best median of three
    consecutive evaluations, so one lucky evaluation is not learning): the run learned something.
    ``relative_floor``: a gain of less than this share of the level is none, however smooth the
    curve (an AUC of 0.50018 -> 0.50020 is a model at chance, steadily)."""
    values = curve.values
    lasting = [median(values[i: i + 3]) for i in range(1, max(2, len(values) - 2))]  # three after the first
    best = lasting[best_index(lasting, curve.goal)]
    return gain(best, values[0], curve.goal) > needed_change(view, curve, multiple, values[0], relative_floor)


def check_overfitting(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Validation worse after its best than its noise explains, while training improved over the stretch."""
    rules = thresholds["overfitting"]
    if _train_no_learning(view, thresholds["no_learning"], segment) is not None:
        return None  # a training loss that never left its start is not "training kept improving"
    # Where it starts (the val loss often shows it long before the task metric); on a tie the metric
    # people watch, so the evidence speaks their language (val MAE, not val loss).
    found = [finding for finding in (_overfitting_on(view, view.own(c), rules, segment)
                                     for c in (view.main_val, view.val_loss) if c is not None) if finding]
    return min(found, key=_onset, default=None)


def _onset(finding: Finding) -> tuple[float, float]:
    return (finding.epoch if finding.epoch is not None else math.inf,
            finding.step if finding.step is not None else math.inf)


def _overfitting_on(view: SegmentView, val: Curve, rules: dict, segment: int) -> Finding | None:
    values, goal = val.values, val.goal
    if goal is None or len(values) < 2:
        return None
    # The best that lasted (median of three consecutive evaluations): the best single evaluation of
    # many is lucky by about its noise, and a rise measured from it would be partly luck.
    lasting = lasting_values(values)
    best = best_index(lasting, goal)
    best_value = lasting[best]
    after = values[best + 1:]
    k = int(rules["min_evals_after_best"])
    if len(after) < k:
        return None
    # Everything since the best, as a median against the lasting best: worse beyond noise, and the
    # last evaluations still worse (not recovered by the end).
    needed = margin(view.noise(val), len(values), rules["noise_multiple"],
                    max(quantum(values), rules["min_rise"] * abs(best_value)), median_spread(3, len(after)))
    tail = after[-k:]
    worse = -gain(median(after), best_value, goal)
    if worse <= needed or -gain(median(tail), best_value, goal) <= needed:
        return None
    noise = view.noise(val)
    worse_at = [i for i, value in enumerate(after) if -gain(value, best_value, goal) > noise]
    if worse_at and any(-gain(value, best_value, goal) <= noise for value in after[max(worse_at[0], len(after) - k):]):
        # Once worse beyond its noise, one of the last evaluations came back within its noise of the
        # best: validation wobbles around a level, it has not got worse and stayed so (RUBRIC.md: not
        # recovered by the end). The evaluation beside the best shares its median, so it is no return.
        return None
    main = view.main_val
    if main is not None and main.name != val.name and main.goal:
        # Over-confidence, not overfitting: the val loss rises while the task metric is still making
        # new bests (its lasting best among the last evaluations) beyond its noise since val's best.
        # "Clearly", against "only creeps" (RUBRIC.md): it gains more, as a share of its level, than
        # the val loss loses (the demo's WER creeping 5% while its val loss climbs 15% is overfitting).
        main_at = [m for m in align(val, main)[best:] if m is not None]
        recent = lasting_values(main_at)
        if len(recent) > k and best_index(recent, main.goal) >= len(recent) - k:
            main_gain = gain(recent[best_index(recent, main.goal)], main_at[0], main.goal)
            if (main_gain > needed_change(view, main, 1.0, main_at[0], 0.0)
                    and main_gain / max(abs(main_at[0]), 1e-12) >= worse / max(abs(best_value), 1e-12)):
                return None
    twin = view.train_twin(val) or view.train_loss  # a metric not logged on training: its loss stands in
    if twin is None or twin.goal is None:
        return None
    train = per_evaluation(val, twin)
    train_best, train_since = train[best], [t for t in train[best + 1:] if t is not None]
    if train_best is None or not train_since:
        return None
    train_last = median(train_since[-k:])
    levels = [t for t in train if t is not None]
    train_needed = margin(noise_level(levels), len(levels), 1.0, rules["min_train_gain"] * abs(train_best))
    # How much training improved since val's best: its trend over the stretch (a Theil-Sen slope, which
    # one noisy epoch at either end does not move), or its last evaluations against that one, if more.
    stretch = [train_best] + train_since
    trend = -theil_sen_slope(stretch) * (len(stretch) - 1) * (1 if twin.goal == "min" else -1)
    if max(trend, gain(train_last, train_best, twin.goal)) <= train_needed:
        return None  # training did not improve either: a worse validation is not overfitting
    epoch, step = val.time_at(best)
    raw = best_index(values[: best + 2], goal)  # the best as the log prints it, the one every finding quotes
    lasting_note = ("" if values[raw] == best_value else
                    f"; lasting best {fmt(best_value)} (median of three) at {val.where(best)}")
    evidence = (f"{val.name} best {fmt(values[raw])} at {val.where(raw)}{lasting_note}; the last {k}"
                f" evaluations {', '.join(fmt(v) for v in tail)} (the {len(after)} since: median worse by {fmt(worse)},"
                f" its noise ±{fmt(view.noise(val))}) while {twin.name} went {fmt(train_best)} -> {fmt(train_last)}"
                f" over the same evaluations")
    return Finding("overfitting", "warning", f"Overfitting: {val.name} worse since {val.where(best)}",
                   evidence, epoch, int_or_none(step), segment)


def check_plateau(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """No new best of the main validation metric beyond its noise for the last evaluations, after learning."""
    rules = thresholds["plateau"]
    val = view.trusted_val
    if val is None:
        return _train_plateau(view, rules, segment)
    n, values, goal = len(val), val.values, val.goal
    if n < rules["min_evals"] or goal is None or not learned(view, val, rules["noise_multiple"], rules["min_relative_delta"]):
        return None  # too short to tell, or it never learned (no_learning's case)
    anchor_index, stalled, patience = _stall(view, val, rules)
    if stalled < patience:
        return None
    anchor = values[anchor_index]
    if (gain(values[-1], max(values[:-1]) if goal == "max" else min(values[:-1]), goal) > 0
            and gain(values[-1], anchor, goal) > rules["min_relative_delta"] * abs(anchor)):
        # The last evaluation is the run's best ever, by more than a sliver of its level: within the
        # noise of a jumpy curve (ValAcc 75.9 -> 77.2, its noise ±2.8), but as far as the log tells
        # the run ends improving (RUBRIC.md), and "stop the run" would stop it at its best. A creep
        # to a new best by less than the sliver (0.8996 -> 0.9004) is still a plateau.
        return None
    loss = view.val_loss
    if loss is not None and loss.name != val.name and len(loss) >= rules["min_evals"]:
        loss_stalled, loss_patience = _stall(view, loss, rules)[1:]
        if loss_stalled < loss_patience:
            # The validation loss still makes new bests: the model still improves, the metric has not
            # caught up yet, or sits at its ceiling (an accuracy of 99.7%): not a run to stop.
            return None
    epoch, step = val.time_at(anchor_index)
    best = best_index(values, goal)
    evidence = (f"{val.name} {fmt(anchor)} at {val.where(anchor_index)}; {stalled} evaluations since without a gain beyond "
                f"its noise (±{fmt(view.noise(val))}); best {fmt(values[best])}, last {fmt(values[-1])}")
    return Finding("plateau", "warning", f"Plateau: {val.name} flat for {stalled} evaluations", evidence,
                   epoch, int_or_none(step), segment)


def _stall(view: SegmentView, curve: Curve, rules: dict) -> tuple[int, int, int]:
    """(the last evaluation that was a new best beyond noise, evaluations since, the patience)."""
    values, goal = curve.values, curve.goal
    anchor, anchor_index = values[0], 0
    for index, value in enumerate(values[1:], 1):
        if gain(value, anchor, goal) > needed_change(view, curve, rules["noise_multiple"], anchor,
                                                      rules["min_relative_delta"]):
            anchor, anchor_index = value, index
    n = len(values)
    patience = min(rules["max_patience"], max(rules["min_patience"], round(rules["patience_fraction"] * n)))
    return anchor_index, n - 1 - anchor_index, patience


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
    """The best validation result is within noise of the first, or training never leaves its start."""
    rules = thresholds["no_learning"]
    val = view.trusted_val
    if val is not None:
        val = view.own(val)  # learning is judged from the run's own evaluations, not the checkpoint's
    if val is not None and view.segment.resumed and len(set(val.values)) > 1:
        # A run resumed from a checkpoint (or a log that begins at epoch 31) starts from what it had
        # learned: a flat validation from there is a converged model, no evidence of no learning.
        # One that never moves at all (val_accuracy 0.2000 at every evaluation) predicts one class.
        return None
    if val is not None and val.goal and len(val) >= thresholds["common"]["min_evals"]:
        if learned(view, val, rules["noise_multiple"], rules["min_relative_gain"]):
            # RUBRIC.md's other clause: a training loss that never leaves its starting level learned
            # nothing, whatever a validation metric near chance drifts to (0.13 -> 0.19 of 9 classes).
            return _train_no_learning(view, rules, segment)
        best = best_index(val.values, val.goal)
        epoch, step = val.time_at(0)
        evidence = (f"{val.name} {fmt(val.values[0])} at the first evaluation ({val.where(0)}), best "
                    f"{fmt(val.values[best])} ({val.where(best)}), last {fmt(val.values[-1])} over {len(val)}"
                    f" evaluations: no lasting gain beyond its noise (±{fmt(view.noise(val))}) or "
                    f"{rules['min_relative_gain']:.1%} of its level")
        return _fix_for_no_learning(view, Finding("no_learning", "critical", f"No learning: {val.name} never beats"
                                                  " its first evaluation", evidence, epoch, int_or_none(step), segment))
    return _train_no_learning(view, rules, segment)


def _fix_for_no_learning(view: SegmentView, finding: Finding) -> Finding:
    """An LR far too small: the losses fall together, steadily, and are still falling, yet the result
    does not move: the model learns, only too slowly (higher-lr). A training loss that does not move,
    or falls while the validation loss does not follow, points at the data instead."""
    train, val_loss = view.train_loss, view.val_loss
    if train is None or len(train) < 5:
        return finding
    values = train.values
    still_falling = kendall_tau(values) < -0.5 and kendall_tau(values[len(values) // 2:]) < -0.3
    followed = val_loss is None or len(val_loss) < 5 or kendall_tau(val_loss.values) < -0.5
    if still_falling and followed:
        head, tail = median(values[: max(2, len(values) // 10)]), median(values[-max(2, len(values) // 10):])
        finding.evidence += (f"; {train.name} is still falling steadily ({fmt(head)} -> {fmt(tail)})"
                             + (f" and {val_loss.name} with it" if val_loss is not None else "")
                             + ": learning, too slowly for the result to move (an LR far too small)")
        finding.action, finding.preset = "restart with preset 'higher-lr' (LR x5 with a warm-up)", "higher-lr"
    return finding


def _started_at_start(seg) -> bool:
    """The segment is a run from its first epoch or step, not a resume or the tail of a longer log."""
    if seg.resumed:
        return False
    # Epoch 1.38 (a Trainer log whose head was cut) has already trained for an epoch.
    return (seg.start_epoch is None or seg.start_epoch <= 1.0) and (
        seg.start_step is None or seg.start_step <= 100 or (seg.start_epoch is not None and seg.start_epoch <= 1.0))


def _train_no_learning(view: SegmentView, rules: dict, segment: int) -> Finding | None:
    train = view.train_loss
    if train is None or len(train) < rules["train_min_points"] or not _started_at_start(view.segment):
        return None
    values = train.values
    head = values[: max(1, len(values) // 20)]
    start = sum(head) / len(head)
    smoothed = debiased_ema(values, 0.6)
    low = min(smoothed)
    negative = sum(v < 0 for v in values) / len(values)
    if max(values) == min(values):
        evidence = f"{train.name} is exactly {fmt(values[0])} at all {len(values)} points: no gradient signal"
    elif negative >= 0.25 and values[0] >= 0 and "loss" in train.name.lower():
        # A loss that starts positive and crosses zero is broken; one negative throughout (SI-SNR) is by design.
        evidence = (f"{train.name} is negative at {negative:.0%} of {len(values)} points (min {fmt(min(values))}):"
                    f" the loss is broken, so its movement is not learning")
    elif start > 0 and (start - low) / start < rules["train_min_gain"]:
        evidence = (f"{train.name} {fmt(start)} at the start, best smoothed {fmt(low)}: only "
                    f"{(start - low) / start:.1%} lower after {len(values)} points")
    else:
        return None
    epoch, step = train.time_at(0)
    return _fix_for_no_learning(view, Finding("no_learning", "critical", f"No learning: {train.name} never leaves its"
                                              " starting level", evidence, epoch, int_or_none(step), segment))


def relative_noise(curve: Curve, values: list[float], noise: float | None = None) -> float:
    """Noise as a share of the level (of the range, for a bounded metric); ``noise``: the metric's own."""
    noise, step = noise_level(values) if noise is None else noise, quantum(values)
    scale = (100.0 if curve.percent else 1.0) if curve.bounded else median(abs(v) for v in values)
    if noise <= 2 * step or (step and median(abs(v) for v in values) < 20 * step):
        return 0.0  # values printed with too few digits: their jitter is rounding, not swings
    return noise / scale if scale else 0.0


def swings(values: list[float], min_swing: float) -> list[int]:
    """Where a curve turns: the indexes of its alternating highs and lows, each at least ``min_swing``
    of its level away from the one before (a zigzag with that hysteresis). A level printed with fewer
    than 20 decimal steps of precision (0.0003 to 4 decimals) turns by rounding: never counted there."""
    if len(values) < 3:
        return []
    precision = printed_step(values)

    def enough(move: float, level: float) -> bool:
        return abs(level) >= 20 * precision and abs(move) >= min_swing * abs(level)

    pivots, extreme, direction = [0], 0, 0
    for i, value in enumerate(values[1:], start=1):
        if direction == 0:
            if enough(value - values[0], values[0]):
                direction, extreme = (1 if value > values[0] else -1), i
            continue
        if (value - values[extreme]) * direction > 0:
            extreme = i  # the move goes on: a new high (or low)
        elif enough(value - values[extreme], values[extreme]):
            pivots.append(extreme)  # it turned back by a swing: the last extreme was a turn
            extreme, direction = i, -direction
    return pivots[1:]


def check_unstable_val(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Validation turns back by min_swing of its level again and again, train_ratio x as often as its
    training counterpart over the same evaluations (RUBRIC.md: reversals of 10%+ while training is smooth)."""
    rules = thresholds["unstable_val"]
    found = [swung for swung in (_swinging(view, val, rules) for val in (view.main_val, view.val_loss)
                                 if val is not None) if swung]
    if not found:
        return None
    # The curve with the largest swings tells it best (a val loss turning by 10%+ before an accuracy
    # turning by its 3% noise); on a tie the main metric, listed first.
    val, size, skip, val_turns, twin, train_turns = max(found, key=lambda swung: swung[1])
    values = val.values[skip:]
    shown = " -> ".join(f"{fmt(values[i])} ({val.where(i + skip)})" for i in _largest_swing(values, val_turns))
    evidence = (f"{val.name} turns back by {size:.0%}+ of its level {len(val_turns)} times in"
                f" {len(values)} evaluations (e.g. {shown}), {twin.name} {len(train_turns)} times over the"
                f" same evaluations; its noise ±{fmt(view.noise(val))}")
    epoch, step = val.time_at(skip + val_turns[0])
    return Finding("unstable_val", "warning", f"Unstable validation: {val.name} swings", evidence,
                   epoch, int_or_none(step), segment)


def _swinging(view: SegmentView, val: Curve, rules: dict) -> tuple | None:
    """(val, swing size, evaluations skipped, val's turns, the training curve, its turns) when ``val``
    turns repeatedly, and train_ratio x as often as training; else None."""
    if len(val) < rules["min_evals"]:
        return None
    skip = max(2, len(val) // 10)  # the fast early descent turns for reasons of its own
    values = val.values[skip:]
    twin = view.train_twin(val) or view.train_loss
    train = [t for t in (per_evaluation(val, twin)[skip:] if twin is not None else []) if t is not None]
    if len(train) < len(values) // 2 or len(set(train)) < 3:
        return None  # nothing to compare with: a jumpy validation alone may be the task's own noise
    # Repeatedly: more turns the longer the run, so that a long run's few spikes are not instability.
    repeated = max(3, rules["min_swing_fraction"] * len(values))
    for size in _swing_sizes(view, val, values, twin, train, rules):
        val_turns, train_turns = swings(values, size), swings(train, size)
        if len(val_turns) >= repeated and len(val_turns) >= rules["train_ratio"] * len(train_turns):
            return val, size, skip, val_turns, twin, train_turns
    return None


def _swing_sizes(view: SegmentView, val: Curve, values: list[float], twin: Curve, train: list[float],
                 rules: dict) -> list[float]:
    """The swings to count, as a share of the level: min_swing, and twice and three times it (a
    training loss that itself turns by 10% is no smooth curve, but a val mAP turning by 30%+ eighteen
    times while it does so four times is still far jumpier); and, on a long enough run whose
    evaluation-to-evaluation noise is at least a fifth of min_swing and train_ratio x training's, the
    noise itself (a val MAE of 1.7 that jumps by 0.14 again and again while training falls smoothly)."""
    sizes = [rules["min_swing"], 2 * rules["min_swing"], 3 * rules["min_swing"]]
    val_noise, train_noise = relative_noise(val, values, view.noise(val)), relative_noise(twin, train)
    if (len(values) >= 10 and rules["min_swing"] / 5 <= val_noise < rules["min_swing"]
            and val_noise >= rules["train_ratio"] * train_noise):
        sizes.append(val_noise)
    return sizes


def _largest_swing(values: list[float], turns: list[int]) -> list[int]:
    """Three consecutive turns with the largest moves between them: the example the evidence shows."""
    if len(turns) < 3:
        return turns
    size = [abs(values[turns[i + 1]] - values[turns[i]]) + abs(values[turns[i + 2]] - values[turns[i + 1]])
            for i in range(len(turns) - 2)]
    first = max(range(len(size)), key=size.__getitem__)
    return turns[first: first + 3]
