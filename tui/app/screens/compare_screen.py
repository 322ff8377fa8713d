"""Runs compared side by side: their loss and main metric on shared charts (aligned by step, or
by epoch with `a`), a column per run in the metrics table, and what differs in their commands and
configs. Opened from the runs screen with two or more runs marked (space, then c)."""
from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.app.widgets.metric_chart import MetricChart
from tui.follow.whole_run import read_whole_run
from tui.readers import UnreadableLog
from tui.runs.run_record import NotOurRun, is_run_dir, load_run_record
from tui.view.run_compare import RUN_ROLES, ComparedRun, Comparison, compare


class CompareScreen(Screen[None]):
    BINDINGS = [Binding("a", "align", "step/epoch"), Binding("escape", "back", "back")]

    def __init__(self, paths: list[str], names: list[str]) -> None:
        super().__init__()
        self.paths, self.names = paths, names
        self.unit: str | None = None  # by step when every run has steps, else by epoch; a toggles
        self.runs: list[ComparedRun] = []
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"comparing {', '.join(self.names)}: reading…"), id="compare-title")
        with Horizontal(id="compare-charts"):
            yield MetricChart(id="compare-loss")
            yield MetricChart(id="compare-metric")
        with VerticalScroll(id="compare-body"):
            yield DataTable(id="compare-table", cursor_type="none")
            yield Static("", id="compare-differences")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _load(self) -> None:
        runs = []
        for path, name in zip(self.paths, self.names):
            try:
                model = read_whole_run(path)
            except (OSError, UnreadableLog) as error:
                self.app.call_from_thread(self.app.notify, f"{name}: {error}", severity="warning")
                continue
            command: list[str] = []
            if is_run_dir(path):
                try:
                    command = load_run_record(path).command
                except NotOurRun:
                    pass  # compared by its log alone
            runs.append(ComparedRun(name, model, command))
        self.app.call_from_thread(self._loaded, runs)

    def _loaded(self, runs: list[ComparedRun]) -> None:
        self.runs = runs
        self._show()

    def _show(self) -> None:
        if not self.is_mounted or not self.runs:
            return
        self.comparison = comparison = compare(self.runs, self.unit)
        self.unit = comparison.charts[0].x_unit
        self.query_one("#compare-title", Static).update(Text(
            f"comparing {', '.join(comparison.names)} · aligned by {self.unit} (a: by "
            f"{'epoch' if self.unit == 'step' else 'step'})"))
        for chart_id, chart in zip(("compare-loss", "compare-metric"), comparison.charts):
            widget = self.query_one(f"#{chart_id}", MetricChart)
            widget.border_title = Text(chart.title)
            legend = Text()
            for index, name in enumerate(comparison.names):
                legend.append(f" ━ {name}", style=widget.get_component_rich_style(
                    f"metric-chart--{RUN_ROLES[index % len(RUN_ROLES)]}"))
            widget.border_subtitle = legend
            widget.chart = chart
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("metric: best / last", key="metric")
        for name in comparison.names:
            table.add_column(Text(name), key=name)
        for metric, cells in comparison.rows:
            table.add_row(Text(metric), *(Text(cell) for cell in cells))
        lines = [Text("what differs (flags and config):", style="bold")] if comparison.differences else [
            Text("their commands and configs are the same (or not recorded)")]
        for key, values in comparison.differences:
            lines.append(Text(f"  {key}: " + " | ".join(values)))
        self.query_one("#compare-differences", Static).update(Text("\n").join(lines))

    def action_align(self) -> None:
        self.unit = "epoch" if self.unit == "step" else "step"
        self._show()

    def action_back(self) -> None:
        self.dismiss(None)
