"""The metrics table: last train and val side by side, best and when, the last change, a sparkline."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.model.number_format import table_value
from tui.view.metric_rows import MetricRow, sparkline_text

SPARKLINE_WIDTH = 6
# Every width is one more than its content: the columns carry their own gap ("s3799" needs 6).
COLUMNS = (("metric", 7), ("train", 9), ("val", 9), ("best", 9), ("at", 6), ("Δ", 9), ("trend", SPARKLINE_WIDTH + 1))
WIDTHS = dict(COLUMNS)
MIN_NAME_WIDTH = WIDTHS["metric"]  # the header's width: short names (loss, wer) leave the rest to the numbers
WANTED_NAME_WIDTH = 16  # names this long are kept whole before the sparkline gets room
DROPPED_WHEN_NARROW = ("trend", "at")  # the least useful first: the last change beats where the best was
MIN_VISIBLE_ROWS = 5


def table_columns(width: int, rows: list[MetricRow]) -> tuple[int, tuple[str, ...]]:
    """The name column's width and the other columns that fit in ``width``: a column no row fills
    (val on a log without validation) is left out, then the sparkline and "at" when names would be cut."""
    labels = [label for label, _ in COLUMNS[1:]
              if not rows or (label != "train" or any(r.train_name for r in rows))
              and (label != "val" or any(r.val_name for r in rows))]
    longest = max((len(row.label) + 1 for row in rows), default=MIN_NAME_WIDTH)
    wanted = min(max(longest, MIN_NAME_WIDTH), WANTED_NAME_WIDTH)
    for drop in DROPPED_WHEN_NARROW:
        if width - sum(WIDTHS[label] for label in labels) >= wanted:
            break
        labels.remove(drop)
    room = width - sum(WIDTHS[label] for label in labels)
    return min(max(MIN_NAME_WIDTH, room), max(MIN_NAME_WIDTH, longest)), tuple(labels)


class MetricsTable(DataTable):
    DEFAULT_CSS = """
    MetricsTable { height: 1fr; }
    """
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "metrics-table--train", "metrics-table--val", "metrics-table--better", "metrics-table--worse"}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.cell_padding = 0  # columns carry their own gap: every width below is one more than its content
        self._layout: tuple[int, tuple[str, ...]] = (0, ())
        self._rows: list[MetricRow] = []
        self._set_columns(table_columns(self.size.width - 1, []))

    def on_resize(self) -> None:
        if self._rows and self._fitted(self._rows) != self._layout:
            self.show_rows(self._rows)  # the columns take the room they now have

    def _fitted(self, rows: list[MetricRow]) -> tuple[int, tuple[str, ...]]:
        return table_columns(self.size.width - 1, rows)  # one column spare for a vertical scrollbar

    def _set_columns(self, layout: tuple[int, tuple[str, ...]]) -> None:
        if layout == self._layout:
            return
        self._layout = layout
        name_width, labels = layout
        self.clear(columns=True)
        self.add_column(Text("metric", justify="left"), width=name_width, key="metric")
        for label in labels:
            self.add_column(Text(label, justify="right"), width=WIDTHS[label], key=label)

    def show_rows(self, rows: list[MetricRow]) -> None:
        """Replace the rows, keeping the cursor on the same metric."""
        self._rows = rows
        keep = self.cursor_row
        train = self.get_component_rich_style("metrics-table--train")
        val = self.get_component_rich_style("metrics-table--val")
        self._set_columns(self._fitted(rows))
        name_width, labels = self._layout
        self.clear()
        for row, name in zip(rows, fit_names([row.label for row in rows], name_width - 1)):
            change = Text("—" if row.change is None else f"{row.change:+.2g}", justify="right")
            improved = row.improved()
            if improved is not None:
                change.stylize(self.get_component_rich_style(
                    "metrics-table--better" if improved else "metrics-table--worse"))
            cells = {
                "train": (Text(f"<{table_cell(row.zero_bound)}", style=train, justify="right")
                          if row.zero_bound is not None and row.train_last == 0
                          else _number(row.train_last, train) if row.train_name else ""),
                "val": _number(row.val_last, val) if row.val_name else "",
                "best": _number(row.best) if row.goal else "",
                "at": Text(row.best_when, justify="right") if row.goal else "",
                "Δ": change,
                "trend": Text(sparkline_text(row.trend, SPARKLINE_WIDTH), style=val if row.val_name else train,
                              justify="right"),
            }
            self.add_row(Text(name),  # a str cell would be parsed as markup
                         *(cells[label] for label in labels), key=row.label)
        if rows:
            self.move_cursor(row=min(keep, len(rows) - 1), animate=False)
        box = self.parent
        if box is not None:
            # Room for five rows when there are five (a header line and the border's two besides).
            box.styles.min_height = min(len(rows), MIN_VISIBLE_ROWS) + 3


def fit_names(names: list[str], width: int) -> list[str]:
    """Names cut in their middle where they must be: the start and the end tell metrics apart
    (``fast_rcnn/loss_cls``, ``fast_rcnn/loss_box_reg``), the middle rarely does. Where two cut
    names would read the same (``fast_rcnn/cls_accuracy``, ``fast_rcnn/fg_cls_accuracy``), the cut
    moves towards the start, keeping more of the ends, until they differ."""
    default_head = (width - 1) // 2
    for head in range(default_head, -1, -1):
        fitted = [_cut(name, width, head) for name in names]
        if len(set(fitted)) == len(set(names)):
            return fitted
    return [_cut(name, width, default_head) for name in names]


def _cut(name: str, width: int, head: int) -> str:
    if len(name) <= width:
        return name
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


def _number(value: float | None, style=None) -> Text:
    return Text(table_cell(value), style=style or "", justify="right")


def table_cell(value: float | None, width: int = 8) -> str:
    """A value that fits its column with a gap: a perplexity of 4.97e+14 is written so, not in full."""
    text = table_value(value)
    if len(text) > width and value is not None:
        for digits in (2, 1, 0):
            text = f"{value:.{digits}e}"
            if len(text) <= width:
                break
    return text
