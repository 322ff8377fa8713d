"""The header: which run, its state, how far along, how fast, and when it will be done."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.view.run_overview import RunOverview

_STATE_CLASSES = {"running": "live", "live": "live", "finished": "done", "stopped": "done",
                  "crashed": "bad", "gone": "bad", "idle": "quiet", "waiting": "quiet"}


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
        second = Text.assemble(
            (" elapsed ", label), overview.elapsed, ("  ·  ", label), overview.position,
            ("  ·  ", label), overview.throughput, ("  ·  ETA ", label), overview.eta,
            ("  ·  ", label), (overview.format_name, label),
            ("  ·  smoothing ", label), f"{self.smoothing:.2f}",
        )
        for line in (first, second):
            line.truncate(max(self.size.width, 1), overflow="ellipsis")
        return Text("\n").join([first, second])
