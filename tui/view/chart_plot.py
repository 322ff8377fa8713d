"""Draw chart lines into a grid of braille cells (2x4 dots each), headless: the widget only colours it."""
from __future__ import annotations

import math
from dataclasses import dataclass

from tui.view.chart_data import ChartData

BRAILLE_BASE = 0x2800
# Dot bit for (column 0-1, row 0-3) inside one braille cell.
_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
# What marks what on a chart; the chart's border says it too (chart_legend).
MARKERS = {"restart": "┊", "lr-change": "╎", "lr-user": "┃"}
MARKER_NAMES = {"restart": "new run", "lr-change": "LR step", "lr-user": "you"}  # short: 3 legends share 80 columns
MIN_MARKER_GAP = 3  # columns between two markers: closer ones (a cyclic schedule) would hide the curve


@dataclass
class PlotGrid:
    """Cells of a drawn chart: the character and the style role of each, plus the y range."""

    width: int
    height: int
    chars: list[list[str]]
    roles: list[list[str]]
    y_low: float
    y_high: float
    x_low: float
    x_high: float

    def runs(self, row: int) -> list[tuple[str, str]]:
        """(text, role) runs of one row, so the widget styles a run at a time, not a cell."""
        result: list[tuple[str, str]] = []
        for char, role in zip(self.chars[row], self.roles[row]):
            if result and result[-1][1] == role:
                result[-1] = (result[-1][0] + char, role)
            else:
                result.append((char, role))
        return result


def _scale_y(value: float, log_scale: bool) -> float:
    return math.log10(value) if log_scale else value


def plot_chart(chart: ChartData, width: int, height: int) -> PlotGrid | None:
    """Rasterise the chart's lines into ``width`` x ``height`` cells; None when nothing to draw."""
    lines = [line for line in chart.lines if line.xs]
    if not lines or width < 2 or height < 1:
        return None
    log_scale = chart.log_scale
    # Lines for comparison only (a parent that blew up to 3e6) never set the y scale: they are cut
    # at the chart's edge; the x range is theirs too, so the run's history stays in sight.
    scaled = [line for line in lines if not line.context] or lines
    ys = [_scale_y(y, log_scale) for line in scaled for y in line.ys if math.isfinite(y) and (y > 0 or not log_scale)]
    xs = [x for line in lines for x in line.xs if math.isfinite(x)]
    if not ys or not xs:
        return None
    y_low, y_high = min(ys), max(ys)
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 0.5 * (abs(y_low) or 1), y_high + 0.5 * (abs(y_high) or 1)
    x_low, x_high = min(xs), max(xs)
    if x_high - x_low < 1e-12:
        x_high = x_low + 1
    dots_wide, dots_high = width * 2, height * 4
    bits = [[0] * width for _ in range(height)]
    roles = [[""] * width for _ in range(height)]

    def to_dot(x: float, y: float) -> tuple[int, int]:
        column = round((x - x_low) / (x_high - x_low) * (dots_wide - 1))
        row = round((y_high - _scale_y(y, log_scale)) / (y_high - y_low) * (dots_high - 1))
        return column, row

    def set_dot(column: int, row: int, role: str) -> None:
        if 0 <= column < dots_wide and 0 <= row < dots_high:
            cell_row, cell_column = row // 4, column // 2
            bits[cell_row][cell_column] |= _DOT_BITS[row % 4][column % 2]
            roles[cell_row][cell_column] = role

    # Raw ghosts first so the smoothed lines are drawn over them.
    for line in sorted(lines, key=lambda line: not line.raw):
        role = f"{line.role}-raw" if line.raw else line.role
        previous: tuple[int, int] | None = None
        for x, y in zip(line.xs, line.ys):
            if not (math.isfinite(x) and math.isfinite(y)) or (log_scale and y <= 0):
                previous = None
                continue
            dot = to_dot(x, y)
            if previous is None:
                set_dot(*dot, role)
            else:
                _draw_segment(previous, dot, role, set_dot)
            previous = dot
    chars = [[chr(BRAILLE_BASE + bits[row][column]) if bits[row][column] else " " for column in range(width)]
             for row in range(height)]
    taken: list[int] = []
    for role, positions in marker_positions(chart):  # the user's changes first: they are never thinned out
        for x in positions:
            column = round((x - x_low) / (x_high - x_low) * (dots_wide - 1)) // 2
            if not 0 <= column < width or any(abs(column - other) < MIN_MARKER_GAP for other in taken):
                continue
            taken.append(column)
            for row in range(height):
                if chars[row][column] == " ":
                    chars[row][column], roles[row][column] = MARKERS[role], role
    if log_scale:
        y_low, y_high = 10 ** y_low, 10 ** y_high
    return PlotGrid(width, height, chars, roles, y_low, y_high, x_low, x_high)


def marker_positions(chart: ChartData) -> list[tuple[str, list[float]]]:
    """(role, x positions) of each kind of marker, in the order they claim columns."""
    return [("lr-user", chart.user_lr_changes), ("restart", chart.restarts), ("lr-change", chart.lr_changes)]


def chart_legend(chart: ChartData) -> str:
    """What the chart's markers mean, for the kinds it has: "┃ you  ┊ new run"."""
    return "  ".join(f"{MARKERS[role]} {MARKER_NAMES[role]}" for role, positions in marker_positions(chart)
                     if positions)


def _draw_segment(start: tuple[int, int], end: tuple[int, int], role: str, set_dot) -> None:
    """Bresenham between two dots, so steep drops stay connected."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    step_x, step_y = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        set_dot(x0, y0, role)
        if x0 == x1 and y0 == y1:
            return
        doubled = 2 * error
        if doubled >= dy:
            error += dy
            x0 += step_x
        if doubled <= dx:
            error += dx
            y0 += step_y
