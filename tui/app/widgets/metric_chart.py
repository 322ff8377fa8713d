"""A line chart of one key series pair (train vs. val), drawn in braille, with markers."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.view.chart_data import ChartData
from tui.view.chart_plot import plot_chart
from tui.model.number_format import epoch_number, table_value

AXIS_WIDTH = 9


class MetricChart(Widget):
    """Renders the ChartData it is given; ``train``/``val``/``lr`` and raw ghosts have their own colours."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; width: 1fr; }
    """
    COMPONENT_CLASSES = {"metric-chart--train", "metric-chart--val", "metric-chart--lr",
                         "metric-chart--train-raw", "metric-chart--val-raw", "metric-chart--lr-raw",
                         "metric-chart--restart", "metric-chart--lr-change", "metric-chart--lr-user",
                         "metric-chart--axis", "metric-chart--run0", "metric-chart--run1", "metric-chart--run2",
                         "metric-chart--run3"}

    chart: reactive[ChartData | None] = reactive(None, always_update=True)

    def render(self) -> Text:
        chart = self.chart
        axis = self.get_component_rich_style("metric-chart--axis")
        width, height = self.content_size.width, self.content_size.height
        if chart is None or chart.empty:
            return Text("no data yet" if chart is None else f"no {chart.title} series in this log", style=axis)
        plot_width = max(width - AXIS_WIDTH, 2)
        grid = plot_chart(chart, plot_width, max(height - 1, 1))
        if grid is None:
            return Text(f"{chart.title}: nothing finite to draw", style=axis)
        lines = []
        for row in range(grid.height):
            if row == 0:
                label = table_value(grid.y_high)
            elif row == grid.height - 1:
                label = table_value(grid.y_low)
            else:
                label = ""
            line = Text(label.rjust(AXIS_WIDTH - 1)[: AXIS_WIDTH - 1] + "│", style=axis)
            for text, role in grid.runs(row):
                line.append(text, style=self.get_component_rich_style(f"metric-chart--{role}") if role else axis)
            lines.append(line)
        footer = Text(" " * (AXIS_WIDTH - 1) + "└", style=axis)
        if chart.x_unit == "epoch":  # a tenth is enough, as everywhere epochs are shown
            span = f"epoch {epoch_number(grid.x_low)}…{epoch_number(grid.x_high)}"
        else:
            span = f"{chart.x_unit} {table_value(grid.x_low)}…{table_value(grid.x_high)}"
        footer.append(span[: max(plot_width, 0)], style=axis)
        lines.append(footer)
        return Text("\n").join(lines)
