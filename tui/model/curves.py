"""The curves a run's judgement and its charts are read from: each series' finite points with where
they lie in time (Curve), and the pick of one segment's curves, made once for both the diagnosis
and the charts, so that a chart shows the curves a finding speaks of (SegmentCurves): the main
validation metric, its training twin, the train and validation losses, the LR. Plain data, no I/O."""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

from tui.model.metric_names import main_metric_rank
from tui.model.number_format import when
from tui.model.run_model import Segment
from tui.model.series import Series

# An accuracy whose values are all k/n for some n up to this is over too few samples to judge by.
TRUSTED_MIN_SAMPLES = 30


@dataclass
class Curve:
    """The finite points of one series, with where each point lies in time."""

    name: str
    goal: str | None
    values: list[float]
    epochs: list[float]
    steps: list[float]
    bounded: bool = False

    def __len__(self) -> int:
        return len(self.values)

    def time_at(self, index: int) -> tuple[float | None, float | None]:
        epoch, step = self.epochs[index], self.steps[index]
        return (epoch if math.isfinite(epoch) else None, step if math.isfinite(step) else None)

    def where(self, index: int) -> str:
        """Where a point lies for the user: ``epoch 10.3``, else its step, else its evaluation's number."""
        epoch, step = self.time_at(index)
        return when(epoch, step) if epoch is not None or step is not None else f"evaluation {index + 1}"

    @property
    def percent(self) -> bool:
        """Bounded metrics written as 0-100 rather than 0-1."""
        return self.bounded and max(abs(v) for v in self.values) > 1.5


def curve_of(series: Series, coarse: bool = False, changes: bool = False, copies: frozenset[int] = frozenset()) -> Curve:
    """The finite points of a series; ``coarse``: as bucket means; ``changes``: only where an LR changed;
    ``copies``: indices of points that repeat an earlier evaluation, left out."""
    if copies:
        keep = [i for i, value in enumerate(series.values) if i not in copies and math.isfinite(value)]
        values, steps, epochs = ([series.values[i] for i in keep], [series.steps[i] for i in keep],
                                 [series.epochs[i] for i in keep])
    else:
        values, steps, epochs = series.coarse() if coarse else series.changes() if changes else series.finite()
    if series.meta.split in ("val", "test") and values and values[0] == 0 and any(values):
        # Exact zeros before the first real value mean "not evaluated yet" (YOLO with val=False),
        # not a perfect loss or a zero accuracy.
        first = next(i for i, v in enumerate(values) if v != 0)
        values, steps, epochs = values[first:], steps[first:], epochs[first:]
    return Curve(series.name, series.meta.goal, values, epochs, steps, series.meta.bounded)


def _significant_digits(value: float) -> int:
    """Digits of a value as it was printed (0.046325 -> 5, 0.45 -> 2)."""
    return len(repr(abs(value)).split("e")[0].replace(".", "").strip("0"))


def _time_key(curve: Curve, index: int) -> float | None:
    step = curve.steps[index]
    return step if math.isfinite(step) else None


class SegmentCurves:
    """Picks one segment's curves once (each a cached property)."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment

    @cached_property
    def val_series(self) -> list[Series]:
        """Validation metrics with a goal; test metrics stand in when nothing says val."""
        chosen = [s for s in self.segment.series.values() if s.meta.split == "val" and s.meta.goal]
        if not chosen:
            chosen = [s for s in self.segment.series.values() if s.meta.split == "test" and s.meta.goal]
        # A metric evaluated only once (Lightning's final test row) says nothing about a trend.
        return [s for s in chosen if len(s) - s.nan_count - s.inf_count >= 2]

    @cached_property
    def copied_evaluations(self) -> frozenset[int]:
        """Rows that repeat the previous evaluation, to the last digit, in most validation metrics.

        YOLOv5 validating every other epoch writes the last results again on the epochs between (its
        val losses recomputed, its metrics copied), so each evaluation appears twice; counted twice it
        would halve the noise and make one lucky evaluation "last" (a median of three of which two are
        the same). Two or more metrics printed to 4+ significant digits must repeat exactly, and at
        least half of all: a k/n accuracy or a loss printed to two decimals repeats by itself on a
        real plateau, a value of 4+ digits does not."""
        series = self.val_series
        if len(series) < 2 or len({len(s) for s in series}) != 1:
            return frozenset()
        copies = set()
        for i in range(1, len(series[0])):
            repeats = [now for now, before in ((s.values[i], s.values[i - 1]) for s in series)
                       if now == before and math.isfinite(now)]
            if 2 * len(repeats) >= len(series) and sum(_significant_digits(v) >= 4 for v in repeats) >= 2:
                copies.add(i)
        return frozenset(copies)

    def _val_curve(self, series: Series) -> Curve:
        return curve_of(series, copies=self.copied_evaluations)

    @cached_property
    def main_val(self) -> Curve | None:
        """The validation metric people watch: an error rate or accuracy before a loss; for a model
        with several heads, the overall validation loss (RUBRIC.md: the fused one, not one head's)."""
        if not self.val_series:
            return None
        overall = self._overall_loss_of_heads()
        if overall is not None:
            return self._val_curve(overall)
        ranked = sorted(self.val_series, key=lambda s: (main_metric_rank(s.meta.base), -len(s)))
        return self._val_curve(ranked[0])

    def _overall_loss_of_heads(self) -> Series | None:
        """``val_loss`` when two or more heads have a loss of their own (Keras multi-output:
        ``val_power_loss``, ``val_efficiency_loss``): each head's accuracy or MAE is one part of the
        task, the summed loss is what the model was trained and checkpointed on."""
        overall = next((s for s in self.val_series if s.meta.base == "loss"), None)
        heads = [s for s in self.val_series if s.meta.base.endswith("_loss") and s.meta.base != "loss"
                 and not s.meta.base.startswith(("nll", "ctc", "total", "avg", "mean"))]
        return overall if overall is not None and len(heads) >= 2 else None

    @cached_property
    def trusted_val(self) -> Curve | None:
        """The main metric, unless it is an accuracy over so few samples (k/6, k/13) that its steps
        are coarser than any real progress; then the validation loss says more."""
        main = self.main_val
        if main is not None and main.bounded and self.val_loss is not None:
            scale = 100.0 if main.percent else 1.0
            distinct = sorted({round(v / scale, 6) for v in main.values})
            # A constant accuracy is not coarse but stuck: it stays the metric to judge.
            for samples in range(2, TRUSTED_MIN_SAMPLES + 1):
                if len(distinct) >= 2 and all(abs(v * samples - round(v * samples)) <= 1e-4 * samples for v in distinct):
                    return self.val_loss
        return main or self.val_loss

    @cached_property
    def val_loss(self) -> Curve | None:
        losses = [s for s in self.val_series if s.meta.is_loss]
        if not losses:
            return None
        losses.sort(key=lambda s: (s.meta.base != "loss", "_" in s.meta.base, -len(s)))
        return self._val_curve(losses[0])

    @cached_property
    def train_loss(self) -> Curve | None:
        """The training loss at full resolution when short, as bucket means when long."""
        series = self.train_loss_series
        return curve_of(series, coarse=len(series) > 2000) if series else None

    @cached_property
    def train_loss_series(self) -> Series | None:
        losses = [s for s in self.segment.series.values()
                  if s.meta.split in ("", "train") and s.meta.is_loss and s.meta.is_metric]
        if not losses:
            return None
        # 'loss' itself, then per-step logs (more points), then the rest (total_loss, ctc_loss).
        losses.sort(key=lambda s: (s.meta.base != "loss" and s.meta.base not in ("total_loss", "avg_loss"),
                                   -len(s)))
        return losses[0]

    def train_twin(self, val: Curve) -> Curve | None:
        """The training series of the same metric as a validation curve (val_wer -> train_wer)."""
        val_meta = self.segment.series[val.name].meta
        twins = [s for s in self.segment.series.values()
                 if s.meta.split in ("", "train") and s.meta.base == val_meta.base and s.meta.is_metric]
        if not twins and val_meta.is_loss:
            return self.train_loss
        if not twins:
            return None
        twins.sort(key=lambda s: -len(s))
        return curve_of(twins[0], coarse=len(twins[0]) > 2000)

    @cached_property
    def lr(self) -> Curve | None:
        # Finite points, as for val_series: an LR logged only as inf or nan has no curve to read.
        rates = [s for s in self.segment.series.values() if s.meta.is_lr and len(s) - s.nan_count - s.inf_count >= 2]
        if not rates:
            return None
        rates.sort(key=lambda s: -len(s))
        return curve_of(rates[0], changes=len(rates[0]) > 2000)


def per_evaluation(reference: Curve, other: Curve) -> list[float | None]:
    """For each evaluation of ``reference``, the mean of ``other``'s points since the previous one:
    a per-step training metric as epoch aggregates, to compare like with like (one lucky minibatch is
    not "training still improved"). A curve logged as often as the evaluations is just aligned."""
    if len(other) <= 1.5 * len(reference):
        return align(reference, other)
    ref_keys, other_keys = _common_time_keys(reference, other)
    if None in ref_keys or None in other_keys:
        return align(reference, other)
    means: list[float | None] = []
    start = 0
    for key in ref_keys:
        end = bisect_right(other_keys, key + 1e-9)
        chunk = other.values[start:end]
        means.append(sum(chunk) / len(chunk) if chunk else (means[-1] if means else None))
        start = max(start, end)
    return means


def _common_time_keys(reference: Curve, other: Curve) -> tuple[list, list]:
    """Both curves' positions in one unit: steps when both have them, else epochs (None where unknown)."""
    ref_keys = [_time_key(reference, i) for i in range(len(reference))]
    other_keys = [_time_key(other, i) for i in range(len(other))]
    if None in ref_keys or None in other_keys:
        ref_keys = [e if math.isfinite(e) else None for e in reference.epochs]
        other_keys = [e if math.isfinite(e) else None for e in other.epochs]
    return ref_keys, other_keys


def align(reference: Curve, other: Curve) -> list[float | None]:
    """For each point of ``reference``, the latest value of ``other`` at or before it.

    Steps are used when both curves have them, else epochs, else the position in the log.
    """
    ref_keys, other_keys = _common_time_keys(reference, other)
    if None in ref_keys or None in other_keys:
        if len(reference) == len(other):
            return list(other.values)
        return [None] * len(reference)
    aligned: list[float | None] = []
    for key in ref_keys:
        position = bisect_right(other_keys, key + 1e-9)
        aligned.append(other.values[position - 1] if position else None)
    return aligned
