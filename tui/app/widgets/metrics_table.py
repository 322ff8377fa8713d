"""The metrics table: last train and val side by side, best and when, the last change, a sparkline."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.model.number_format import table_value
from tui.view.metric_rows import MetricRow, sparkline_text

SPARKLINE_WIDTH = 6
COLUMNS = (("metric", 10), ("train", 9), ("val", 9), ("best", 9), ("at", 5), ("Δ", 9), ("trend", SPARKLINE_WIDTH + 1))


class MetricsTable(DataTable):
    DEFAULT_CSS = """
    MetricsTable { height: 1fr; }
    """
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "metrics-table--train", "metrics-table--val", "metrics-table--better", "metrics-table--worse"}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.cell_padding = 0  # columns carry their own gap: every width below is one more than its content
        for label, width in COLUMNS:
            self.add_column(Text(label, justify="left" if label == "metric" else "right"), width=width)

    def show_rows(self, rows: list[MetricRow]) -> None:
        """Replace the rows, keeping the cursor on the same metric."""
        keep = self.cursor_row
        train = self.get_component_rich_style("metrics-table--train")
        val = self.get_component_rich_style("metrics-table--val")
        self.clear()
        for row in rows:
            change = Text("—" if row.change is None else f"{row.change:+.2g}", justify="right")
            improved = row.improved()
            if improved is not None:
                change.stylize(self.get_component_rich_style(
                    "metrics-table--better" if improved else "metrics-table--worse"))
            trend_style = val if row.val_name else train
            self.add_row(
                Text(row.label),  # a str cell is parsed as markup: `val_[/bold]loss` would end the app
                _number(row.train_last, train) if row.train_name else "",
                _number(row.val_last, val) if row.val_name else "",
                _number(row.best) if row.goal else "",
                Text(row.best_when, justify="right") if row.goal else "",
                change,
                Text(sparkline_text(row.trend, SPARKLINE_WIDTH), style=trend_style, justify="right"),
                key=row.label,
            )
        if rows:
            self.move_cursor(row=min(keep, len(rows) - 1), animate=False)


def _number(value: float | None, style=None) -> Text:
    return Text(table_value(value), style=style or "", justify="right")
