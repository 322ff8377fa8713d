"""Pick one of several live runs under ./runs."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.run_listing import RunEntry
from tui.run_overview import format_duration


class RunPickerScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, runs: list[RunEntry], now: float) -> None:
        super().__init__()
        self.runs = runs
        self.now = now

    def compose(self) -> ComposeResult:
        options = [Option(f"{run.name}  {'live' if run.live else 'idle'}  last write "
                          f"{format_duration(self.now - run.modified_at)} ago", id=run.path) for run in self.runs]
        with Vertical(id="picker-body"):
            yield Static("Several runs are live — pick one (Enter):", id="picker-title")
            yield OptionList(*options, id="picker-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
