"""The screens behind the control keys: confirm a stop, type an LR, pick a preset, confirm a restart.

Each destructive action costs exactly one extra key press (y, or Enter on the restart screen).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.model.number_format import command_text
from tui.runs.control_client import ControlError, is_large_lr_change, lr_change_factor, parse_lr_request
from tui.runs.presets import Preset, PresetError
from tui.runs.restart import RestartProposal, command_lines
from tui.runs.run_record import NotOurRun
from tui.view.checkpoint_choice import MainMetricAtCheckpoints, resume_line


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


class LrScreen(ModalScreen[dict | None]):
    """Type an absolute LR or a factor; a bad value is explained here and the screen stays open.
    A change of more than 10x either way is sent only on a second Enter.
    Returns the parsed request ({"lr": 1e-4} or {"factor": 0.5}), or None."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: float | None, run_name: str) -> None:
        super().__init__()
        self.current = current
        self.run_name = run_name
        self._confirming: dict | None = None  # a large change shown once, sent on the next Enter

    def compose(self) -> ComposeResult:
        now = f"now {command_text(self.current)}" if self.current is not None else "current LR not logged yet"
        with Vertical(id="lr-body", classes="action-body"):
            yield Static(Text(f"Change the learning rate of {self.run_name} ({now})"), classes="action-title")
            yield Input(placeholder="1e-4, or a factor: x0.5, /2", id="lr-input")
            yield Static("Enter: send (applied at the trainer's next safe point)   Esc: cancel",
                         id="lr-hint", classes="action-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            request = parse_lr_request(event.value)
        except ControlError as error:
            self.query_one("#lr-hint", Static).update(Text(str(error), style="bold"))  # it quotes the input
            return
        if is_large_lr_change(request, self.current) and request != self._confirming:
            self._confirming = request
            factor = lr_change_factor(request, self.current)
            self.query_one("#lr-hint", Static).update(Text(
                f"that moves the LR x{factor:.3g}: Enter again to send it, or change it", style="bold"))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class RestartChoice:
    """What the restart screen returns: the planned restart the user confirmed with Enter."""

    proposal: RestartProposal


class PresetScreen(ModalScreen[RestartChoice | str | None]):
    """The presets, with the diff each would make to this run's command; Enter chooses.

    For a restart, ``propose(name, resume)`` plans it and n/l/b pick the checkpoint to resume from;
    Enter returns a RestartChoice. Planning reads run.json and the event log, so it runs in a worker,
    once per (preset, resume), never on the UI thread. For picking only, ``propose`` is None and
    Enter returns the preset's name.
    """

    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("n", "resume('none')", "fresh start"),
                Binding("l", "resume('last')", "resume last"), Binding("b", "resume('best')", "resume best")]

    def __init__(self, presets: dict[str, Preset], chosen: str | None, title: str,
                 propose: Callable[[str, str | None], RestartProposal] | None = None,
                 resume: str | None = None, metric: MainMetricAtCheckpoints | None = None) -> None:
        super().__init__()
        self.metric = metric  # tells what a checkpoint holds: "epoch 12: val_wer 41.2"
        self.presets = presets
        self.chosen = chosen if chosen in presets else next(iter(sorted(presets)), None)
        self.title_text = title
        self.propose = propose
        self.resume = resume  # None: the preset's own default; a finding may say (none: from scratch)
        self._planned: dict[tuple[str, str | None], RestartProposal | Exception] = {}
        self._choose_when_planned = False  # Enter came before the plan did

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

    @property
    def _key(self) -> tuple[str, str | None]:
        return (self.chosen, self.resume)

    def _show_diff(self) -> None:
        diff = self.query_one("#preset-diff", Static)
        if self.chosen is None:
            diff.update("no presets")
            return
        preset = self.presets[self.chosen]
        if self.propose is None:
            diff.update(Text(preset.description))
            return
        planned = self._planned.get(self._key)
        if planned is None:
            diff.update(Text(f"{preset.description}\n  planning the restart…"))
            self._plan(*self._key)
            return
        if isinstance(planned, Exception):
            diff.update(Text.assemble(f"{preset.description}\n", (f"cannot apply: {planned}", "bold")))
            return
        lines = [preset.description] + [f"  {change}" for change in planned.plan.changes + planned.plan.skipped]
        resume = resume_line(planned, self.metric)
        if resume:
            lines.append(f"  {resume}")
        lines += [f"  {line}" for line in command_lines(planned)]  # all of what Enter will run
        diff.update(Text("\n".join(lines)))

    @work(thread=True, group="plan", exit_on_error=False)
    def _plan(self, name: str, resume: str | None) -> None:
        try:
            planned: RestartProposal | Exception = self.propose(name, resume)
        except (PresetError, NotOurRun) as error:  # the diff says why; nothing is started
            planned = error
        self.app.call_from_thread(self._planned_one, (name, resume), planned)

    def _planned_one(self, key: tuple[str, str | None], planned: RestartProposal | Exception) -> None:
        self._planned[key] = planned
        if key == self._key and self.is_mounted:
            self._show_diff()
            if self._choose_when_planned:
                self._choose_when_planned = False
                self._choose()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.chosen = event.option.id
        if self.propose is None:
            self.dismiss(self.chosen)
        else:
            self._choose()

    def _choose(self) -> None:
        planned = self._planned.get(self._key)
        if planned is None:
            self._choose_when_planned = True  # Enter right after n/l/b: chosen once planned
            self._show_diff()
        elif not isinstance(planned, Exception):  # a plan that cannot apply: the diff says why
            self.dismiss(RestartChoice(planned))

    def action_resume(self, which: str) -> None:
        if self.propose is not None:
            self.resume = which
            self._choose_when_planned = False
            self._show_diff()

    def action_cancel(self) -> None:
        self.dismiss(None)
