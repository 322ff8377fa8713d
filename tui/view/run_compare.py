"""Two or more runs side by side, headless: their curves on shared charts (aligned by step or by
epoch), a column per run for each metric's best and last, and what differs between their commands
and configs (flags, config keys), as the restart dialog shows a preset's changes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui.model.curves import Curve, SegmentCurves, curve_of
from tui.model.number_format import command_text, fmt
from tui.model.run_model import RunModel
from tui.view.chart_data import ChartData, ChartLine

# Chart roles of the compared runs, in order (app.tcss colours them from the theme); more runs
# than roles reuse them.
RUN_ROLES = ("run0", "run1", "run2", "run3")
MAX_COMPARED_POINTS = 2048


@dataclass
class ComparedRun:
    name: str
    model: RunModel
    command: list[str] = field(default_factory=list)  # a launched run's command; empty for a log


@dataclass
class Comparison:
    names: list[str]
    charts: list[ChartData]  # the loss, then the main validation metric
    rows: list[tuple[str, list[str]]]  # (metric, "best / last" per run)
    differences: list[tuple[str, list[str]]]  # (flag or config key, its value per run; "—" when absent)


def _latest(model: RunModel):
    return next((segment for segment in reversed(model.segments) if segment.series), None)


def compare(runs: list[ComparedRun], unit: str | None = None) -> Comparison:
    """``unit``: "step" or "epoch", the x axis the curves are aligned by; None: by step when every
    compared curve has steps, else by epoch."""
    if unit is None:
        unit = "step"
        comparison = compare(runs, "step")
        drawn = sum(len(chart.lines) for chart in comparison.charts)
        if drawn < sum(len(chart.lines) for chart in compare(runs, "epoch").charts):
            return compare(runs, "epoch")
        return comparison
    segments = [_latest(run.model) for run in runs]
    views = [SegmentCurves(segment) if segment is not None else None for segment in segments]
    first_main = next((view.main_val for view in views if view is not None and view.main_val is not None), None)
    loss_chart, metric_chart = ChartData("loss", x_unit=unit), ChartData(first_main.name if first_main else "metric",
                                                                         x_unit=unit)
    for index, (run, view) in enumerate(zip(runs, views)):
        if view is None:
            continue
        role = RUN_ROLES[index % len(RUN_ROLES)]
        loss = view.val_loss or view.train_loss
        if loss is not None:
            _add(loss_chart, role, run.name, loss, unit)
        main = _curve_named(view, first_main.name) if first_main is not None else None
        if main is not None:
            _add(metric_chart, role, run.name, main, unit)
    loss_chart.title = next((line.label.split(": ", 1)[1] for line in loss_chart.lines), "loss")
    return Comparison([run.name for run in runs], [loss_chart, metric_chart], _metric_rows(segments),
                      differences(runs))


def _curve_named(view: SegmentCurves, name: str) -> Curve | None:
    """The same metric in another run (a chart compares like with like: a run without it is not on it)."""
    series = view.segment.series.get(name)
    if series is None:
        return None
    if view.main_val is not None and view.main_val.name == name:
        return view.main_val
    return curve_of(series, coarse=len(series) > 2000)


def _add(chart: ChartData, role: str, name: str, curve: Curve, unit: str) -> None:
    positions = curve.steps if unit == "step" else curve.epochs
    points = [(x, y) for x, y in zip(positions, curve.values) if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return
    stride = max(1, math.ceil(len(points) / MAX_COMPARED_POINTS))
    points = points[::stride] + points[-1:]
    chart.lines.append(ChartLine(role, f"{name}: {curve.name}", [x for x, _ in points], [y for _, y in points]))


def _metric_rows(segments) -> list[tuple[str, list[str]]]:
    """Every validation metric (and loss) any run has, "best / last" per run."""
    names: list[str] = []
    for segment in segments:
        if segment is None:
            continue
        for name, series in segment.series.items():
            if series.meta.is_metric and (series.meta.split == "val" or series.meta.is_loss) and name not in names:
                names.append(name)
    rows = []
    for name in names:
        cells = []
        for segment in segments:
            series = segment.series.get(name) if segment is not None else None
            if series is None or not len(series):
                cells.append("—")
                continue
            index = series.best_index()
            best = fmt(series.values[index]) if index is not None else "—"
            cells.append(f"{best} / {fmt(series.values[-1])}")
        rows.append((name, cells))
    return rows


def command_flags(command: list[str]) -> dict[str, str]:
    """``--lr 3e-4``, ``--lr=3e-4`` and a bare ``--amp`` (true) as flag -> value."""
    flags: dict[str, str] = {}
    index = 0
    while index < len(command):
        part = command[index]
        if part.startswith("--") and len(part) > 2:
            if "=" in part:
                name, value = part[2:].split("=", 1)
            elif index + 1 < len(command) and not command[index + 1].startswith("--"):
                name, value = part[2:], command[index + 1]
                index += 1
            else:
                name, value = part[2:], "true"
            flags[name.replace("-", "_")] = value
        index += 1
    return flags


def differences(runs: list[ComparedRun]) -> list[tuple[str, list[str]]]:
    """The flags and config keys whose values differ between the runs (the same everywhere: left out)."""
    settings = []
    for run in runs:
        segment = _latest(run.model)
        values = {key: _setting_text(value) for key, value in (segment.config if segment is not None else {}).items()
                  if not isinstance(value, (dict, list))}
        values.update(command_flags(run.command))  # the command line wins over the logged config
        settings.append(values)
    keys = sorted(set().union(*settings)) if settings else []
    found = []
    for key in keys:
        cells = [values.get(key, "—") for values in settings]
        if len(set(cells)) > 1:
            found.append((key, cells))
    return found


def _setting_text(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (int, float)):
        return command_text(value)
    return str(value)
