"""The metrics table: last train and val side by side, best and when, the last change, a sparkline."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.model.number_format import table_value
from tui.view.metric_rows import MetricRow, sparkline_text

SPARKLINE_WIDTH = 6
COLUMNS = (("metric", 10), ("train", 9), ("val", 9), ("best", 9), ("at", 5), ("Δ", 9), ("trend", SPARKLINE_WIDTH + 1))
MIN_NAME_WIDTH = COLUMNS[0][1]


class MetricsTable(DataTable):
    DEFAULT_CSS = """
    MetricsTable { height: 1fr; }
    """
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "metrics-table--train", "metrics-table--val", "metrics-table--better", "metrics-table--worse"}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.cell_padding = 0  # columns carry their own gap: every width below is one more than its content
        self._name_width = 0
        self._rows: list[MetricRow] = []
        self._set_columns(MIN_NAME_WIDTH)

    def on_resize(self) -> None:
        if self._rows and self._name_column_width(self._rows) != self._name_width:
            self.show_rows(self._rows)  # the name column takes the room it now has

    def _set_columns(self, name_width: int) -> None:
        if name_width == self._name_width:
            return
        self._name_width = name_width
        self.clear(columns=True)
        for label, width in ((COLUMNS[0][0], name_width), *COLUMNS[1:]):
            self.add_column(Text(label, justify="left" if label == "metric" else "right"), width=width)

    def _name_column_width(self, rows: list[MetricRow]) -> int:
        """As wide as the longest name (and a gap), within the room the other columns leave."""
        room = max(MIN_NAME_WIDTH, self.size.width - sum(width for _, width in COLUMNS[1:]) - 1)
        longest = max((len(row.label) + 1 for row in rows), default=MIN_NAME_WIDTH)
        return min(room, max(MIN_NAME_WIDTH, longest))

    def show_rows(self, rows: list[MetricRow]) -> None:
        """Replace the rows, keeping the cursor on the same metric."""
        self._rows = rows
        keep = self.cursor_row
        train = self.get_component_rich_style("metrics-table--train")
        val = self.get_component_rich_style("metrics-table--val")
        self._set_columns(self._name_column_width(rows))
        self.clear()
        for row in rows:
            change = Text("—" if row.change is None else f"{row.change:+.2g}", justify="right")
            improved = row.improved()
            if improved is not None:
                change.stylize(self.get_component_rich_style(
                    "metrics-table--better" if improved else "metrics-table--worse"))
            trend_style = val if row.val_name else train
            self.add_row(
                Text(fit_name(row.label, self._name_width - 1)),  # a str cell would be parsed as markup
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


def fit_name(name: str, width: int) -> str:
    """A name cut in its middle when it must be: the start and the end tell metrics apart
    (``fast_rcnn/loss_cls``, ``fast_rcnn/loss_box_reg``), the middle rarely does."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


def _number(value: float | None, style=None) -> Text:
    return Text(table_value(value), style=style or "", justify="right")
