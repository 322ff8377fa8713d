"""The help screen: every key, what it does, and which ones need a run launched by trainwatch."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "close help")]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        """``keys``: (key, what it does, note) rows, taken from the app's bindings."""
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        table.add_column("note", style="dim")
        for key, description, note in self.keys:
            table.add_row(key, description, note)
        with VerticalScroll(id="help-body"):
            yield Static("trainwatch — keys", id="help-title")
            yield Static(table)
            yield Static("Quit never stops the run. Esc or ? closes this screen.", id="help-hint")

    def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
