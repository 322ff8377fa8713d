"""The key charts as data: which curves, smoothed how, on which x axis, with restarts and LR changes marked."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from tui.view.chart_downsample import display_curve, envelope
from tui.model.curves import Curve, SegmentCurves
from tui.model.number_format import fmt, printed_zero_bound
from tui.model.smoothing import debiased_ema
from tui.model.run_model import RunModel
from tui.model.series import Series

# Charts never hold more points than this per line; a terminal is at most a few hundred dots wide.
MAX_POINTS_PER_LINE = 2048
# An LR step of this ratio between two logged points is a change worth marking (a cut, a restart,
# a change made from the UI), unlike a smooth schedule's small steps. However many there are, each
# is kept: the plot thins markers that would stand too close together (chart_plot).
LR_MARK_RATIO = 1.3


@dataclass(slots=True)
class ChartLine:
    """One drawn line: ``role`` picks its colour (train, val, lr) and whether it is the raw ghost."""

    role: str
    label: str
    xs: list[float]
    ys: list[float]
    raw: bool = False
    context: bool = False  # drawn for comparison only (a restarted run's parent): never sets the scale


@dataclass
class ChartData:
    title: str
    lines: list[ChartLine] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)  # where a new run starts in the log
    lr_changes: list[float] = field(default_factory=list)  # the schedule's (or the script's) LR steps
    user_lr_changes: list[float] = field(default_factory=list)  # changes made with trainwatch (acks)
    log_scale: bool = False
    x_unit: str = "step"
    note: str = ""  # what the chart leaves out and why ("lr 0 printed: < 0.005, not drawn")

    @property
    def empty(self) -> bool:
        return not any(line.xs for line in self.lines)


def _xs_of(curve: Curve, unit: str) -> list[float]:
    if unit == "step":
        return list(curve.steps)
    if unit == "epoch":
        return list(curve.epochs)
    return [float(index) for index in range(len(curve))]


def _shared_unit(curves: list[Curve]) -> str:
    if all(curve.steps and all(math.isfinite(s) for s in curve.steps) for curve in curves):
        return "step"
    if all(curve.epochs and all(math.isfinite(e) for e in curve.epochs) for curve in curves):
        return "epoch"
    return "point"


def _thin(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    if len(xs) <= MAX_POINTS_PER_LINE:
        return xs, ys
    stride = math.ceil(len(xs) / MAX_POINTS_PER_LINE)
    return xs[::stride] + xs[-1:], ys[::stride] + ys[-1:]


def key_charts(model: RunModel, smoothing: float) -> list[ChartData]:
    """Train vs. val loss, the main validation metric with its training twin, and the LR."""
    charts = {"loss": ChartData("loss"), "metric": ChartData("metric"), "lr": ChartData("lr", log_scale=True)}
    offset = 0.0
    placements: list[tuple[str, float, float]] = []  # (unit, start, shift) of each drawn segment
    for position, segment in enumerate(model.segments):
        if not segment.series:
            continue
        view = SegmentCurves(segment)
        picks: dict[str, list[tuple[str, Curve]]] = {"loss": [], "metric": [], "lr": []}
        if view.train_loss is not None:
            picks["loss"].append(("train", view.train_loss))
        if view.val_loss is not None:
            picks["loss"].append(("val", view.val_loss))
        main = view.main_val
        if main is not None and not segment.series[main.name].meta.is_loss:
            charts["metric"].title = main.name
            twin = view.train_twin(main)
            if twin is not None:
                picks["metric"].append(("train", twin))
            picks["metric"].append(("val", main))
        if view.lr is not None:
            picks["lr"].append(("lr", _printed_zeros_left_out(view.lr, charts["lr"])))
        curves = [curve for chosen in picks.values() for _, curve in chosen]
        if not curves:
            continue
        unit = _shared_unit(curves)
        start = min((min(_xs_of(c, unit)) for c in curves if len(c)), default=0.0)
        end = max((max(_xs_of(c, unit)) for c in curves if len(c)), default=0.0)
        shift = offset - start if position and start < offset else 0.0
        placements.append((unit, start, shift))
        if position and any(chart.lines for chart in charts.values()):
            for chart in charts.values():
                chart.restarts.append(start + shift)
        for key, chosen in picks.items():
            chart = charts[key]
            chart.x_unit = unit
            for role, curve in chosen:
                series = segment.series.get(curve.name)
                if role != "lr" and series is not None and len(series) > MAX_POINTS_PER_LINE:
                    _add_long_curve(chart, role, series, unit, shift, smoothing)
                else:
                    _add_curve(chart, role, curve, [x + shift for x in _xs_of(curve, unit)], smoothing)
        offset = end + shift
    lr_chart = charts["lr"]
    user = _user_lr_changes(model, placements)
    lr_chart.user_lr_changes = user
    # A jump that follows a change made with trainwatch is that change, marked as the user's.
    lr_chart.lr_changes = [x for line in lr_chart.lines for before, x in _lr_jumps(line)
                           if not any(before <= change <= x for change in user)]
    if lr_chart.lines:
        values = [y for line in lr_chart.lines for y in line.ys]
        lr_chart.log_scale = min(values) > 0 and max(values) / min(values) > 10
    return list(charts.values())


def _add_curve(chart: ChartData, role: str, curve: Curve, xs: list[float], smoothing: float) -> None:
    """Smoothing runs over every point before thinning, as TensorBoard does, so it means the same
    at any zoom; the raw curve stays as a faint ghost when smoothing is on."""
    ys = list(curve.values)
    if not ys:
        return
    if smoothing > 0 and role != "lr":
        chart.lines.append(ChartLine(role, curve.name, *_thin(xs, ys), raw=True))
        ys = debiased_ema(ys, smoothing)
    chart.lines.append(ChartLine(role, curve.name, *_thin(xs, ys)))


def _add_long_curve(chart: ChartData, role: str, series: Series, unit: str, shift: float, smoothing: float) -> None:
    """A long series from its display buckets (chart_downsample): smoothed over every point, then
    drawn as at most 1024 buckets, the raw ghost as each bucket's low-high band."""
    xs, lows, highs, ends = display_curve(series, unit, max(smoothing, 0.0)).buckets()
    xs = [x + shift for x in xs]
    raw_xs, raw_ys = envelope(xs, lows, highs)
    if smoothing > 0:
        chart.lines.append(ChartLine(role, series.name, raw_xs, raw_ys, raw=True))
        chart.lines.append(ChartLine(role, series.name, xs, list(ends)))
    else:
        chart.lines.append(ChartLine(role, series.name, raw_xs, raw_ys))


def _printed_zeros_left_out(curve: Curve, chart: ChartData) -> Curve:
    """``lr 0.00`` from a script printing two decimals is the log's value, not a zero LR: such
    points are not drawn (a log scale could not, a linear one would show a fall to 0), and the
    chart says so."""
    bound = printed_zero_bound(curve.values)
    if bound is None:
        return curve
    chart.note = f"{curve.name} printed 0: < {fmt(bound)}"
    kept = [index for index, value in enumerate(curve.values) if value != 0]
    return replace(curve, values=[curve.values[i] for i in kept], epochs=[curve.epochs[i] for i in kept],
                   steps=[curve.steps[i] for i in kept])


def _lr_jumps(line: ChartLine) -> list[tuple[float, float]]:
    """(x of the point before, x of the point after) of each LR step worth marking."""
    jumps = []
    for index in range(1, len(line.ys)):
        before, after = line.ys[index - 1], line.ys[index]
        if before > 0 and after > 0 and max(before, after) / min(before, after) >= LR_MARK_RATIO:
            jumps.append((line.xs[index - 1], line.xs[index]))
    return jumps


def _user_lr_changes(model: RunModel, placements: list[tuple[str, float, float]]) -> list[float]:
    """Where each LR change made from trainwatch applied (its ack's step or epoch), placed on the
    chart as the segment it fell in was (the latest one that had started by then)."""
    changes = []
    for ack in model.acks:
        if ack.action != "set_lr" or not ack.applied:
            continue
        for unit, start, shift in reversed(placements):
            at = ack.detail.get(unit) if unit in ("step", "epoch") else None
            if isinstance(at, (int, float)) and math.isfinite(at) and at >= start:
                changes.append(at + shift)
                break
    return changes
