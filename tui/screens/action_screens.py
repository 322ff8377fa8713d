"""The screens behind the control keys: confirm a stop, type an LR, pick a preset, confirm a restart.

Each destructive action costs exactly one extra key press (y, or Enter on the restart screen).
"""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.launch.control_client import ControlError, parse_lr_request
from tui.launch.presets import Preset, PresetError
from tui.launch.restart import RestartProposal, command_lines


class ConfirmScreen(ModalScreen[bool]):
    """``y`` confirms; any other key cancels."""

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body", classes="action-body"):
            yield Static(Text(self.question), id="confirm-text")  # it names the run: never markup
            yield Static("y: yes   any other key: cancel", classes="action-hint")

    def on_key(self, event) -> None:
        event.stop()
        self.dismiss(event.key in ("y", "Y"))


class LrScreen(ModalScreen[str | None]):
    """Type an absolute LR or a factor; a bad value is explained here and the screen stays open."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: float | None, run_name: str) -> None:
        super().__init__()
        self.current = current
        self.run_name = run_name

    def compose(self) -> ComposeResult:
        now = f"now {self.current:.4g}" if self.current is not None else "current LR not logged yet"
        with Vertical(id="lr-body", classes="action-body"):
            yield Static(Text(f"Change the learning rate of {self.run_name} ({now})"), classes="action-title")
            yield Input(placeholder="1e-4, or a factor: x0.5, /2", id="lr-input")
            yield Static("Enter: send (applied at the trainer's next safe point)   Esc: cancel",
                         id="lr-hint", classes="action-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            parse_lr_request(event.value)
        except ControlError as error:
            self.query_one("#lr-hint", Static).update(Text(str(error), style="bold"))  # it quotes the input
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PresetScreen(ModalScreen[str | None]):
    """The presets, with the diff each would make to this run's command; Enter chooses.

    For a restart, ``propose(name, resume)`` plans it and n/l/b pick the checkpoint to resume from;
    the result is then ``"NAME:RESUME"``. For picking only, ``propose`` may be None.
    """

    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("n", "resume('none')", "fresh start"),
                Binding("l", "resume('last')", "resume last"), Binding("b", "resume('best')", "resume best")]

    def __init__(self, presets: dict[str, Preset], chosen: str | None, title: str,
                 propose: Callable[[str, str | None], RestartProposal] | None = None,
                 resume: str | None = None) -> None:
        super().__init__()
        self.presets = presets
        self.chosen = chosen if chosen in presets else next(iter(sorted(presets)), None)
        self.title_text = title
        self.propose = propose
        self.resume = resume  # None: the preset's own default; a finding may say (none: from scratch)

    def compose(self) -> ComposeResult:
        names = sorted(self.presets)
        with Vertical(id="preset-body", classes="action-body"):
            yield Static(Text(self.title_text), classes="action-title")
            yield OptionList(*[Option(Text(f"{name}: {self.presets[name].summary()}"), id=name) for name in names],
                             id="preset-list")
            yield Static("", id="preset-diff")
            hint = "Enter: restart with it   n/l/b: resume from none/last/best   Esc: cancel" if self.propose \
                else "Enter: choose (r restarts with it)   Esc: cancel"
            yield Static(hint, classes="action-hint")

    def on_mount(self) -> None:
        options = self.query_one("#preset-list", OptionList)
        if self.chosen is not None:
            options.highlighted = sorted(self.presets).index(self.chosen)
        options.focus()
        self._show_diff()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.chosen = event.option.id
        self._show_diff()

    def _show_diff(self) -> None:
        diff = self.query_one("#preset-diff", Static)
        if self.chosen is None:
            diff.update("no presets")
            return
        preset = self.presets[self.chosen]
        lines = [preset.description]
        if self.propose is not None:
            try:
                proposal = self.propose(self.chosen, self.resume)
            except PresetError as error:
                diff.update(Text.assemble(f"{preset.description}\n", (f"cannot apply: {error}", "bold")))
                return
            lines += [f"  {change}" for change in proposal.plan.changes + proposal.plan.skipped]
            if proposal.resume != "none" and proposal.resume_path is None:
                lines.append(f"  resume: the {proposal.resume} checkpoint the stop writes")
            lines += [f"  {line}" for line in command_lines(proposal)]  # all of what Enter will run
        diff.update(Text("\n".join(lines)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.chosen = event.option.id
        if self.propose is not None:
            try:
                self.propose(self.chosen, self.resume)
            except PresetError:
                return  # the diff already says why; nothing is started
            self.dismiss(f"{self.chosen}:{self.resume or self.presets[self.chosen].resume}")
        else:
            self.dismiss(self.chosen)

    def action_resume(self, which: str) -> None:
        if self.propose is not None:
            self.resume = which
            self._show_diff()

    def action_cancel(self) -> None:
        self.dismiss(None)
