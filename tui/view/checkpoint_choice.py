"""Checkpoints told by the run's main validation metric, the one the findings speak of: which one
"best" resumes from, and what the restart dialog says each holds ("epoch 12: val_wer 41.2")."""
from __future__ import annotations

import bisect
import math

from tui.model.curves import Curve, SegmentCurves
from tui.model.number_format import fmt, when
from tui.model.run_model import RunModel
from tui.runs.restart import CheckpointChoice, RestartProposal


def _main_curve(model: RunModel) -> Curve | None:
    segment = next((s for s in reversed(model.segments) if s.series), None)
    return SegmentCurves(segment).main_val if segment is not None else None


def value_at(curve: Curve, choice: CheckpointChoice) -> float | None:
    """The metric's last evaluation at or before the checkpoint was saved; None when the
    checkpoint predates every evaluation or says neither its step nor its epoch."""
    for position, positions in ((choice.step, curve.steps), (choice.epoch, curve.epochs)):
        if position is None or not positions or not all(math.isfinite(p) for p in positions):
            continue
        index = bisect.bisect_right(positions, position + 1e-9) - 1
        return curve.values[index] if index >= 0 else None
    return None


class MainMetricAtCheckpoints:
    """The main validation metric, taken from the model once (on the UI thread: a restart is
    planned in a worker while records keep arriving), to judge and describe checkpoints by."""

    def __init__(self, model: RunModel) -> None:
        self.curve = _main_curve(model)

    def judge(self, choice: CheckpointChoice) -> float | None:
        """A CheckpointJudge: the metric there, lower is better; None with nothing to judge by."""
        value = value_at(self.curve, choice) if self.curve is not None else None
        if value is None or not math.isfinite(value):
            return None
        return value if self.curve.goal == "min" else -value

    def describe(self, choice: CheckpointChoice) -> str:
        """``epoch 12: val_wer 41.2`` (where the run saved it, and its main metric there)."""
        known = choice.epoch is not None or choice.step is not None
        where = when(choice.epoch, choice.step) if known else "when, the log does not say"
        value = value_at(self.curve, choice) if self.curve is not None else None
        return where if value is None else f"{where}: {self.curve.name} {fmt(value)}"


def resume_line(proposal: RestartProposal, metric: MainMetricAtCheckpoints | None) -> str | None:
    """The restart diff's line on where the child resumes from, with what that checkpoint holds."""
    if proposal.resume == "none":
        return None
    if proposal.resume_path is None:
        return f"resume: the {proposal.resume} checkpoint the stop writes"
    how = " (by the main validation metric)" if proposal.resume == "best" and proposal.judge is not None else ""
    held = f", {metric.describe(proposal.resume_at)}" if metric is not None and proposal.resume_at is not None else ""
    return f"resume: the {proposal.resume} checkpoint{how}{held}"
