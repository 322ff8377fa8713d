"""Rules on training health and the data: divergence, blank_collapse, small_val_set, class_imbalance,
data_warning."""
from __future__ import annotations

import math
from statistics import mean, median

from tui.diagnosis.finding import Finding
from tui.diagnosis.segment_view import SegmentView
from tui.diagnosis.signal import margin, noise_level
from tui.model.number_format import finite_or_none, fmt, int_or_none, when
from tui.model.run_model import RunModel

Thresholds = dict[str, dict]
# Losses that cannot be negative: a negative value means the loss computation is broken.
NON_NEGATIVE_LOSS_WORDS = ("ctc", "nll", "cross_entropy", "crossentropy", "ce", "bce", "mse", "mae")


def check_divergence(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    rules = thresholds["divergence"]
    for series in view.segment.series.values():
        meta = series.meta
        if not meta.is_loss or not meta.is_metric:
            continue
        bad = series.nan_count + series.inf_count
        if bad and bad < len(series):  # NaN at every point: never computed (YOLO's val losses), not a blow-up
            first = next(i for i, v in enumerate(series.values) if not math.isfinite(v))
            epoch, step = series.epochs[first], series.steps[first]
            evidence = (f"{series.name} is NaN/Inf at {bad} of {len(series)} points, first at "
                        f"{when(finite_or_none(epoch), finite_or_none(step))} (last finite value before: "
                        f"{fmt(next((v for v in reversed(series.values[:first]) if math.isfinite(v)), None))})")
            return Finding("divergence", "critical", f"Divergence: {series.name} became NaN/Inf", evidence,
                           finite_or_none(epoch), int_or_none(step), segment)
        negative = [v for v in series.values if v < 0] if series.below_zero() else []
        words = meta.base.split("_")
        must_be_positive = any(word in NON_NEGATIVE_LOSS_WORDS for word in words)
        # Negative throughout by design (SI-SNR, a log-likelihood of a density) is no sign; crossing zero is.
        starts_positive = next((v >= 0 for v in series.values if math.isfinite(v)), False)
        if negative and (must_be_positive or (starts_positive and len(negative) >= rules["negative_fraction"] * len(series))):
            first = next(i for i, v in enumerate(series.values) if v < 0)
            epoch, step = series.epochs[first], series.steps[first]
            evidence = (f"{series.name} is negative at {len(negative)} of {len(series)} points (min {fmt(min(negative))}),"
                        f" first at {when(finite_or_none(epoch), finite_or_none(step))}: a likelihood loss cannot go below 0")
            return Finding("divergence", "critical", f"Divergence: impossible values of {series.name}", evidence,
                           finite_or_none(epoch), int_or_none(step), segment)
    return _rising_loss(view, rules, segment)


def _rising_loss(view: SegmentView, rules: dict, segment: int) -> Finding | None:
    """Training loss climbs to rise_factor x its low (from the start: above its first values) and stays
    there, by more than its own noise explains (LR too high)."""
    train = view.train_loss
    if train is None or len(train) < 4:
        return None
    values = train.values
    # The lasting low: the least median of three consecutive points, not one lucky minibatch.
    lasting = [median(values[max(0, i - 1): i + 2]) for i in range(len(values))] if len(values) >= 10 else values
    low_index = min(range(len(lasting)), key=lasting.__getitem__)
    low, start = lasting[low_index], lasting[0]
    after = values[low_index + 1:]
    if low <= 0 or len(after) < 3:
        return None
    tail = median(after[-max(3, len(after) // 4):])  # where the loss is now, not one bad batch
    risen = [v for v in after if v >= rules["rise_factor"] * low]
    rise_needed = margin(noise_level(values), len(values), rules["noise_multiple"])
    exploded = sum(v >= rules["explosion_factor"] * low for v in after) >= 3
    # A loss that fell over decades and comes back a little is judged on its log scale, against the fall.
    fell = math.log(start / low) if start > low else 0.0
    if (tail - low <= rise_needed or not (exploded or len(risen) >= rules["sustained_fraction"] * len(after))
            or math.log(max(tail, low) / low) < rules["min_rise_of_drop"] * fell):
        return None
    epoch, step = train.time_at(low_index)
    from_start = low_index <= max(1, len(values) // 20)
    begin = (f"{train.name} rose from its start ({fmt(low)}) without falling first" if from_start else
             f"{train.name} fell to {fmt(low)} at {when(epoch, step)}, then rose")
    evidence = (f"{begin} to {fmt(tail)} now ({tail / low:.1f}x; its noise ±{fmt(noise_level(values))}), above "
                f"{rules['rise_factor']:g}x for {len(risen)} of {len(after)} points")
    lr = view.lr
    if lr is not None:
        evidence += f"; LR peaked at {fmt(max(lr.values))}"
    finding = Finding("divergence", "critical", f"Divergence: {train.name} rising", evidence, epoch, int_or_none(step),
                      segment)
    if from_start:  # no good checkpoint to go back to: start again with a lower LR
        finding.action, finding.preset, finding.resume = "restart with preset 'lower-lr' from scratch", "lower-lr", "none"
    return finding


def check_blank_collapse(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    rules = thresholds["blank_collapse"]
    decodes = view.segment.decodes
    if decodes:
        latest_epoch = decodes[-1].epoch
        recent = [d for d in decodes if d.epoch == latest_epoch][-64:] if latest_epoch is not None else decodes[-64:]
        past_early = latest_epoch is None or latest_epoch > rules["early_epochs"]
        if past_early and recent:
            short = [d for d in recent if len(d.hypothesis.split()) <= rules["short_ratio"] * len(d.reference.split())]
            mean_wer = mean(d.wer for d in recent)
            ref_words = sum(len(d.reference.split()) for d in recent) or 1
            hyp_words = sum(len(d.hypothesis.split()) for d in recent)
            distinct_refs = len({d.reference for d in recent})
            distinct_hyps = len({d.hypothesis for d in recent})
            empty = sum(d.empty for d in recent)
            too_short = len(short) >= rules["short_fraction"] * len(recent) or (
                hyp_words <= 0.5 * ref_words and mean_wer >= rules["high_error"])
            degenerate = (len(recent) >= rules["min_samples"] and distinct_refs >= rules["min_samples"]
                          and distinct_hyps <= rules["distinct_ratio"] * distinct_refs and mean_wer >= rules["high_error"])
            if too_short or degenerate:
                evidence = (f"{len(recent)} decodes at {when(latest_epoch, decodes[-1].step)}: {empty} empty, "
                            f"{len(short)} under {rules['short_ratio']:.0%} of the target length; "
                            f"{hyp_words} predicted words for {ref_words} target words; {distinct_hyps} distinct "
                            f"predictions for {distinct_refs} targets; mean WER {mean_wer:.0%}")
                return Finding("blank_collapse", "critical", "Blank collapse: predictions empty or far too short",
                               evidence, latest_epoch, decodes[-1].step, segment)
    return _stuck_error_rate(view, rules, segment)


def _stuck_error_rate(view: SegmentView, rules: dict, segment: int) -> Finding | None:
    """An error rate pinned at 100% past the first evaluations: the model outputs nothing."""
    for series in view.val_series:
        if series.meta.base not in ("wer", "cer", "uer"):
            continue
        values = [v for v in series.values if math.isfinite(v)]
        scale = 100.0 if max(values) > 1.5 else 1.0
        run, longest, longest_end = 0, 0, -1
        for index, value in enumerate(values):
            run = run + 1 if index >= 1 and value / scale >= rules["stuck_error"] else 0
            if run > longest:
                longest, longest_end = run, index
        # Stuck for stuck_evals evaluations, or for every one after the first when the run is shorter.
        whole_run = longest_end == len(values) - 1 and longest >= max(3, len(values) - 1)
        if longest >= rules["stuck_evals"] or whole_run:
            start = longest_end - longest + 1
            epoch, step = series.epochs[start], series.steps[start]
            recovered = longest_end < len(values) - 1
            evidence = (f"{series.name} stayed at {fmt(values[start])}+ for {longest} evaluations"
                        f" ({when(finite_or_none(epoch), finite_or_none(step))} to {when(finite_or_none(series.epochs[longest_end]), finite_or_none(series.steps[longest_end]))})"
                        + (f"; it later fell to {fmt(min(values))}" if recovered else ": still there"))
            return Finding("blank_collapse", "warning" if recovered else "critical",
                           f"Blank collapse: {series.name} stuck at 100%", evidence, finite_or_none(epoch), int_or_none(step), segment)
    return None


def check_small_val_set(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    rules = thresholds["small_val_set"]
    stated = view.model.dataset_sizes.get("val") if view.model is not None else None
    for series in view.val_series:
        if not series.meta.bounded or series.meta.goal != "max":
            continue
        values = [v for v in series.values if math.isfinite(v)]
        scale = 100.0 if max(values) > 1.5 else 1.0
        fractions = [v / scale for v in values]
        size = stated if stated is not None else _granularity(fractions, rules)
        if size is None or size > rules["max_samples"]:
            continue
        last = fractions[-1]
        low, high = _wilson(last, size)
        how = "stated in the log" if stated is not None else f"every value is k/{size}"
        evidence = (f"validation has about {size} samples ({how}); {series.name} {last:.1%} has a 95% interval "
                    f"of {low:.1%}-{high:.1%}, so changes under ±{(high - low) / 2:.0%} are noise")
        return Finding("small_val_set", "warning", f"Validation set too small: ~{size} samples", evidence,
                       None, None, segment)
    return None


def _granularity(fractions: list[float], rules: dict) -> int | None:
    """The smallest n with every value a multiple of 1/n, when the values say so clearly."""
    distinct = sorted(set(round(f, 6) for f in fractions))
    if len(distinct) < rules["min_distinct"]:
        return None
    for n in range(2, int(rules["max_samples"]) + 1):
        if all(abs(f * n - round(f * n)) <= rules["tolerance"] * n for f in distinct):
            return n
    return None


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    p = min(1.0, max(0.0, p))  # an accuracy logged past 100% or below 0 would make the root negative
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def check_class_imbalance(view: SegmentView, thresholds: Thresholds, segment: int) -> Finding | None:
    """Per-class validation results (val_acc_<class>) far apart: a class is left behind."""
    rules = thresholds["class_imbalance"]
    main = view.main_val
    if main is None:
        return None
    prefix = main.name + "_"
    classes = {name[len(prefix):]: s for name, s in view.segment.series.items() if name.startswith(prefix) and len(s)}
    if len(classes) < 2:
        return None
    last = {name: s.values[-1] for name, s in classes.items() if math.isfinite(s.values[-1])}
    if len(last) < 2:
        return None
    scale = 100.0 if max(last.values()) > 1.5 else 1.0
    best_class, worst_class = max(last, key=last.get), min(last, key=last.get)
    spread = (last[best_class] - last[worst_class]) / scale
    if spread < rules["min_spread"] or last[worst_class] / scale > rules["max_worst"]:
        return None
    evidence = (f"at the last evaluation {prefix}{worst_class} is {fmt(last[worst_class])} while {prefix}{best_class} is "
                f"{fmt(last[best_class])}; per class: " + ", ".join(f"{k} {fmt(v)}" for k, v in last.items()))
    epoch, step = main.time_at(len(main) - 1)
    return Finding("class_imbalance", "warning", f"Class imbalance: '{worst_class}' left behind", evidence,
                   epoch, int_or_none(step), segment)


def check_data_warning(model: RunModel) -> Finding | None:
    if not model.warnings:
        return None
    first = model.warnings[0]
    distinct = list(dict.fromkeys(w.text for w in model.warnings))
    evidence = (f"{model.warning_count} data-pipeline warning line(s), first at {when(first.epoch, first.step)}: "
                + "; ".join(text[:160] for text in distinct[:3]))
    return Finding("data_warning", "warning", "Data warnings in the run's output", evidence, first.epoch, first.step,
                   len(model.segments) - 1)


def check_straggler(model: RunModel, thresholds: dict) -> Finding | None:
    """A multi-process run whose other ranks wait for one rank at every step: the rank that waits
    least at trainwatch's safe point is the one the others wait for (trainers/session.py)."""
    timing = model.rank_timing
    if timing is None or timing.seconds_per_step <= 0:
        return None
    rules = thresholds["straggler"]
    waiting = timing.waiting
    slowest = min(range(len(waiting)), key=waiting.__getitem__)
    others = median(wait for rank, wait in enumerate(waiting) if rank != slowest)
    lag = others - waiting[slowest]
    if lag < rules["min_seconds"] or lag < rules["min_share"] * timing.seconds_per_step:
        return None
    milliseconds = lambda seconds: f"{seconds * 1000:.1f} ms"
    evidence = (f"the other {len(waiting) - 1} ranks wait {milliseconds(others)} per step for rank {slowest} "
                f"(it waits {milliseconds(waiting[slowest])}); a step takes {milliseconds(timing.seconds_per_step)}, "
                f"so {lag / timing.seconds_per_step:.0%} of every rank's time but rank {slowest}'s is waiting"
                + (f" (at step {timing.step})" if timing.step is not None else ""))
    return Finding("straggler", "warning", f"Rank {slowest} is a straggler", evidence, None, timing.step,
                   len(model.segments) - 1)

