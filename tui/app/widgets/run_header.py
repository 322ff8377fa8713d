"""The header: which run, its state, how far along, how fast, and when it will be done."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.view.run_overview import RunOverview

_STATE_CLASSES = {"running": "live", "live": "live", "completing": "live", "finished": "done", "stopped": "done",
                  "preempted": "done", "crashed": "bad", "gone": "bad", "failed": "bad", "timeout": "bad",
                  "cancelled": "bad", "out of memory": "bad", "node fail": "bad", "idle": "quiet",
                  "waiting": "quiet", "pending": "quiet", "suspended": "quiet"}


class RunHeader(Widget):
    """Two lines: name, state, host and its GPUs; then elapsed, position, throughput, ETA and view settings."""

    DEFAULT_CSS = """
    RunHeader { height: 2; }
    """
    COMPONENT_CLASSES = {"run-header--name", "run-header--live", "run-header--done", "run-header--bad",
                         "run-header--quiet", "run-header--label"}

    overview: reactive[RunOverview | None] = reactive(None)
    smoothing: reactive[float] = reactive(0.6)
    pending: reactive[str] = reactive("")  # control commands sent, not yet acknowledged

    def render(self) -> Text:
        overview = self.overview
        label = self.get_component_rich_style("run-header--label")
        if overview is None:
            return Text("trainwatch · opening…", style=label)
        state_style = self.get_component_rich_style(f"run-header--{_STATE_CLASSES.get(overview.state, 'quiet')}")
        first = Text.assemble(
            (" trainwatch ", label), (overview.name, self.get_component_rich_style("run-header--name")),
            "  ", (f" {overview.state} ", state_style), " ", (overview.state_detail, label),
        )
        if self.pending:
            first.append(f"  pending: {self.pending}", style=state_style)
        first.append(f"  {overview.host}", style=label)
        if overview.connection:
            # Over ssh the link matters as much as the run: say when it is down and what is being tried.
            healthy = overview.connection == "connected"
            first.append(f" (ssh {overview.connection})",
                         style=label if healthy else self.get_component_rich_style("run-header--bad"))
        if overview.gpu:
            first.append(f"  {overview.gpu}", style=label)
        second = self._progress_line(overview, label)
        for line in (first, second):
            line.truncate(max(self.size.width, 1), overflow="ellipsis")
        return Text("\n").join([first, second])

    def _progress_line(self, overview: RunOverview, label) -> Text:
        """Elapsed, position, speed, ETA, format and smoothing, fitted to the width by closer
        separators, then by dropping the least useful fields first (the format, then what says
        nothing yet, "—"), never by cutting the last ones: smoothing is what `s`, `+` and `-`
        change, the position what the run has done."""
        # (label, value, value shown quiet, priority: the lowest is dropped first)
        fields = [("elapsed ", overview.elapsed, False, 3), ("", overview.position, False, 9),
                  ("", overview.throughput, False, 1 if overview.throughput == "—" else 4),
                  ("ETA ", overview.eta, False, 2 if overview.eta == "—" else 5),
                  ("", overview.format_name, True, 0), ("smoothing ", f"{self.smoothing:.2f}", False, 8)]
        fields = [field for field in fields if field[1]]
        width = max(self.size.width, 1)

        def joined(shown: list, separator: str) -> Text:
            line = Text()
            for index, (name, value, quiet, _) in enumerate(shown):
                line.append((separator if index else " ") + name, style=label)
                line.append(value, style=label if quiet else "")
            return line

        line = joined(fields, "  ·  ")
        while line.cell_len > width and len(fields) > 1:
            line = joined(fields, " · ")
            if line.cell_len > width:
                fields = [field for field in fields if field is not min(fields, key=lambda field: field[3])]
                line = joined(fields, " · ")
        return line
