"""Pick one of several runs: the live ones under ./runs (the ones that cannot be read are listed,
not offered), or the TensorBoard runs of a folder given to `trainwatch tail`."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.runs.run_listing import RunEntry
from tui.model.number_format import duration


class RunPickerScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, runs: list[RunEntry], now: float, title: str | None = None) -> None:
        super().__init__()
        self.runs = runs
        self.now = now
        self.title_text = title

    def compose(self) -> ComposeResult:
        # Run names are directory names anyone could pick: shown as text, never as markup.
        options = [Option(Text(self._describe(run)), id=run.path, disabled=not run.readable) for run in self.runs]
        title = self.title_text or ("Several runs are live — pick one (Enter):" if any(run.readable for run in self.runs)
                                    else "No run here can be read (Esc quits):")
        with Vertical(id="picker-body"):
            yield Static(Text(title), id="picker-title")  # a folder's name: never markup
            yield OptionList(*options, id="picker-list")

    def _describe(self, run: RunEntry) -> str:
        if not run.readable:
            return f"{run.name}  unreadable: {run.problem}"
        return (f"{run.name}  {'live' if run.live else 'idle'}  last write "
                f"{duration(self.now - run.modified_at)} ago")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
