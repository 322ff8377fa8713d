"""Every run at a glance: one row per run under ./runs, restarts indented under the run they came
from, refreshed every RUNS_REFRESH_SECONDS from the runs' tails (view/run_table.py) in a worker.
Enter opens a run; Esc in the run's view comes back here; space marks runs and c compares them."""
from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.app.screens.compare_screen import CompareScreen
from tui.view.run_table import RunRow, lineage_order

RUNS_REFRESH_SECONDS = 2.0
# (label, width), each one more than its content (the columns carry their own gap: 80 columns
# leave the finding 22); the finding takes what is left.
RUN_COLUMNS = (("run", 19), ("state", 13), ("progress", 13), ("best", 8), ("last", 8))
GPU_WIDTH = 13  # "4 GPUs 85%" and a gap
SEVERITY_MARKS = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}


class RunsScreen(Screen[str | None]):
    BINDINGS = [Binding("enter", "open_run", "open", priority=True),
                Binding("space", "mark", "mark"),
                Binding("c", "compare", "compare marked"),
                Binding("q", "quit_app", "quit"),
                Binding("escape", "back", "back")]

    def __init__(self, tables: list, clock=time.time) -> None:
        """``tables``: this machine's RunTable first, then a RemoteRunTable per other host."""
        super().__init__()
        self.tables = tables
        self.clock = clock
        self.rows: list[RunRow] = []
        self.refresh_seconds: list[float] = []  # how long each refresh took (the benchmark reads it)
        self.marked: list[str] = []  # paths marked for comparing, in the order marked

    def compose(self) -> ComposeResult:
        places = [f"{self.tables[0].host} in ./{self.tables[0].root}", *(table.root for table in self.tables[1:])]
        yield Static(Text("runs on " + ", ".join(places)), id="runs-title")
        yield RunsTable(id="runs-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="runs-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.cell_padding = 0
        self._gpu_column = False
        self._set_columns(table)
        table.focus()
        self._refresh_rows()
        self.set_interval(RUNS_REFRESH_SECONDS, self._refresh_rows)

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def _refresh_rows(self) -> None:
        started = time.monotonic()
        # Stats and small reads of each run's log (two ssh round trips per other host): off the UI thread.
        rows = [row for table in self.tables for row in table.rows(self.clock())]
        self.refresh_seconds.append(time.monotonic() - started)
        self.app.call_from_thread(self._show, rows)

    def _set_columns(self, table: DataTable) -> None:
        table.clear(columns=True)
        for label, width in RUN_COLUMNS:
            table.add_column(label, width=width, key=label)
        if self._gpu_column:
            table.add_column("gpu", width=GPU_WIDTH, key="gpu")
        table.add_column("top finding", key="finding")

    def _show(self, rows: list[RunRow]) -> None:
        if not self.is_mounted:
            return
        table = self.query_one("#runs-table", DataTable)
        chosen = self.chosen_path()
        self.rows = rows
        if any(row.gpu for row in rows) != self._gpu_column:  # a column only while some run uses GPUs
            self._gpu_column = not self._gpu_column
            self._set_columns(table)
        table.clear()
        for depth, row in lineage_order(rows):
            host = f"{row.host}:" if row.host != self.tables[0].host else ""  # another machine's run
            name = ("● " if row.path in self.marked else "") + ("  " * (depth - 1) + "└ " if depth else "") + host + row.name
            finding = Text(f"{SEVERITY_MARKS[row.severity]} ", style=table.severity_style(row.severity)) \
                if row.severity in SEVERITY_MARKS else Text("")
            finding.append(row.finding or ("—" if row.state != "unreadable" else row.state_detail))
            cells = [Text(name), Text(row.state, style=table.state_style(row.state)),
                     Text(row.progress.split(" · ")[0] if row.progress else "—"),  # the epoch (or step) is enough
                     Text(row.best), Text(row.last)]
            if self._gpu_column:
                cells.append(Text(row.gpu.split(" · ")[0]))  # "GPU 87%"; the memory is in the line below
            table.add_row(*cells, finding, key=row.path)
        if chosen is not None and chosen in {row.path for row in rows}:
            table.move_cursor(row=table.get_row_index(chosen), animate=False)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def chosen_path(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def _show_detail(self) -> None:
        path = self.chosen_path()
        row = next((row for row in self.rows if row.path == path), None)
        detail = self.query_one("#runs-detail", Static)
        if row is None:
            detail.update("no runs yet: `trainwatch run -- CMD` starts one")
            return
        parts = [f"{row.name}: {row.state}" + (f" ({row.state_detail})" if row.state_detail else "")]
        if row.metric:
            parts.append(f"{row.metric} best {row.best}, last {row.last}")
        if row.gpu:
            parts.append(row.gpu)
        if row.finding:
            parts.append(f"{row.severity}: {row.finding}")  # the whole title: the column may cut it
        detail.update(Text(" · ".join(parts)))

    def action_open_run(self) -> None:
        path = self.chosen_path()
        row = next((row for row in self.rows if row.path == path), None)
        if row is not None and row.state not in ("unreadable", "unreachable"):
            self.dismiss(path)

    def action_mark(self) -> None:
        path = self.chosen_path()
        row = next((row for row in self.rows if row.path == path), None)
        if row is None or row.state in ("unreadable", "unreachable"):
            return
        if row.host != self.tables[0].host:
            self.app.notify("runs of other hosts are not compared yet: open it with Enter", timeout=4)
            return
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        self._show(self.rows)

    def action_compare(self) -> None:
        marked = [row for path in self.marked for row in self.rows if row.path == path]
        if len(marked) < 2:
            self.app.notify("mark two or more runs with space, then c compares them", timeout=4)
            return
        self.app.push_screen(CompareScreen([row.path for row in marked], [row.name for row in marked]))

    def action_back(self) -> None:
        self.dismiss(None)  # back to the run it came from; with none followed yet, trainwatch ends

    def action_quit_app(self) -> None:
        self.app.exit()


class RunsTable(DataTable):
    """The runs' rows; severity and state colours come from the theme (app.tcss)."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "runs-table--critical", "runs-table--warning", "runs-table--info", "runs-table--live", "runs-table--bad"}

    def severity_style(self, severity: str):
        return self.get_component_rich_style(f"runs-table--{severity}")

    def state_style(self, state: str):
        if state in ("running", "live", "completing"):
            return self.get_component_rich_style("runs-table--live")
        if state.startswith(("crashed", "failed", "gone", "timeout", "cancelled", "out of memory", "node fail",
                             "unreadable")):
            return self.get_component_rich_style("runs-table--bad")
        return ""
