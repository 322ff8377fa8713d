"""The trainwatch application: follows a run and shows metrics, charts, findings, decodes and output."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer, Log
from textual.worker import Worker, WorkerState

from tui.app.redraw_throttle import Throttle
from tui.app.run_control_flow import RunControlFlow
from tui.app.run_following import RunFollowing
from tui.app.screens.action_screens import ConfirmScreen, LrScreen, PresetScreen
from tui.app.screens.help_screen import HelpScreen
from tui.app.screens.run_picker_screen import RunPickerScreen
from tui.app.screens.compare_screen import CompareScreen
from tui.app.screens.runs_screen import RunsScreen
from tui.app.theme_choice import ThemeChoice
from tui.app.widgets.decodes_panel import DecodesPanel
from tui.app.widgets.findings_panel import FindingsPanel
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.metrics_table import MetricsTable
from tui.app.widgets.run_header import RunHeader
from tui.follow.follower import Follower
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.runs.run_listing import RunEntry, list_runs
from tui.runs.run_record import RUNS_DIR
from tui.model.run_model import RunModel
from tui.view.chart_data import key_charts
from tui.view.chart_plot import chart_legend
from tui.view.live_run import LiveRun
from tui.view.metric_rows import metric_rows
from tui.ssh.remote_target import parse_remote_target
from tui.view.remote_run_table import RemoteRunTable
from tui.view.run_table import RunTable
from tui.view.run_overview import describe_run, seconds_until_change

# TensorBoard's slider stops, cycled with `s`; `+`/`-` step by 0.05 in between.
SMOOTHING_STOPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
# The screen is redrawn at most this often, however fast records arrive; the diagnosis less often.
MIN_REDRAW_SECONDS = 0.05
MIN_CHART_SECONDS = 0.25
MIN_DIAGNOSIS_SECONDS = 0.5
NARROW_WIDTH = 90  # below this the findings panel shares the width instead of keeping 38 columns
PANELS = {"metrics": "#metrics-box", "charts": "#charts", "findings": "#findings-box", "decodes": "#decodes-box",
          "output": "#output-box"}
WORKER_TASKS = {"tail": "reading the log", "gpus": "reading the GPU use", "control": "a control command"}


class TrainWatch(RunFollowing, RunControlFlow, ThemeChoice, App[None]):
    """One run on one screen. The App owns the LiveRun; widgets are handed what to show."""

    CSS_PATH = "app.tcss"
    TITLE = "trainwatch"
    # The footer shows the short description of the keys that fit on 80 columns; help and the
    # palette (ctrl+p) show every key, with the tooltip, the whole sentence.
    BINDINGS = [
        Binding("q", "quit", "quit", tooltip="quit trainwatch (the run keeps going)"),
        Binding("question_mark,f1", "help", "help", key_display="?", tooltip="this help"),
        Binding("x", "control('stop')", "stop", tooltip="stop the run (graceful first)"),
        Binding("l", "control('lr')", "LR", tooltip="change the learning rate of the running job"),
        Binding("r", "control('restart')", "restart", tooltip="restart with a preset"),
        Binding("p", "control('presets')", "presets", show=False, tooltip="pick a preset"),
        Binding("k", "control('checkpoint')", "checkpoint", tooltip="checkpoint now"),
        Binding("s", "cycle_smoothing", "smooth", tooltip="cycle chart smoothing 0 / .6 / .8 / .9 / .95 / .99"),
        Binding("plus,equals_sign", "smoothing(0.05)", "smoothing +", show=False, key_display="+",
                tooltip="smooth the charts more (+0.05)"),
        Binding("minus", "smoothing(-0.05)", "smoothing -", show=False, key_display="-",
                tooltip="smooth the charts less (-0.05)"),
        Binding("m", "toggle_panel('metrics')", "metrics", show=False, tooltip="show/hide the metrics table"),
        Binding("c", "toggle_panel('charts')", "charts", show=False, tooltip="show/hide the charts"),
        Binding("f", "toggle_panel('findings')", "findings", show=False, tooltip="show/hide the findings"),
        Binding("n", "next_finding(1)", "finding", tooltip="show the next finding in full (causes first)"),
        Binding("N", "next_finding(-1)", "previous finding", show=False, key_display="N",
                tooltip="show the previous finding in full"),
        Binding("d", "toggle_panel('decodes')", "decodes", show=False, tooltip="show/hide the sample decodes"),
        Binding("o", "toggle_panel('output')", "output", show=False, tooltip="show/hide the run's own output"),
        Binding("t", "next_theme", "theme", show=False, tooltip="next trainwatch theme (remembered)"),
        Binding("escape", "runs", "runs", show=False, tooltip="every run under ./runs (Enter opens one)"),
    ]

    smoothing: reactive[float] = reactive(0.6)

    def __init__(self, target: str | None = None, *, theme: str | None = None, clock: Callable[[], float] = time.time,
                 hostname: str | None = None, thresholds: dict | None = None, runs_root: str = RUNS_DIR,
                 poll_seconds: float = 1.0, remember: bool = True, stop_timeouts: StopTimeouts | None = None,
                 follower: Follower | None = None, choices: list[RunEntry] | None = None,
                 runs_first: bool = False, hosts: list[str] | None = None) -> None:
        self._read_themes()
        super().__init__()
        self.target = target
        self.clock = clock
        self.hostname = hostname or socket.gethostname()  # this machine, for the header of a local run
        self.thresholds = thresholds
        self.runs_root = runs_root
        self.poll_seconds = poll_seconds
        self.remember = remember  # tests turn it off so they never write the user's config
        self.live: LiveRun | None = None
        self.follower: Follower | None = None
        self._prepared_follower = follower  # the target the CLI already opened (a remote one connected)
        self.choices = choices  # runs to pick from before following (a folder of several TensorBoard runs)
        self._register_themes(theme)
        # Redraws coalesce however fast records arrive; charts and the diagnosis are paced slower.
        self._redraws = Throttle(MIN_REDRAW_SECONDS, self._redraw, self._later)
        self._chart_draws = Throttle(MIN_CHART_SECONDS, self._draw_charts, self._later)
        self._diagnoses = Throttle(MIN_DIAGNOSIS_SECONDS, self._diagnose, self._later)
        self._header_timer: Timer | None = None
        self.run_active = False  # the followed run is running or its log is being written (the header says)
        self.last_state = ""  # the header's last state word, for the line printed after quitting
        self.gpu_text = ""  # "GPU 87% · 12.1/79.6 GiB" for the run's machine, while it runs
        self.stop_timeouts = stop_timeouts or StopTimeouts()
        self.run_handle: RunHandle | None = None  # set when the followed target is a launched run
        self._applicable: tuple[tuple | None, set[str]] = (None, set())  # (command, cwd) -> presets that apply
        self.pending: dict[str, str] = {}  # command id -> what was asked, until the trainer acknowledges
        self.parent_model: RunModel | None = None  # a restarted run's parent, read whole, drawn faint for comparison
        self.chosen_preset: str | None = None
        self.first_screen_at: float | None = None  # when a screen with data was first drawn (benchmarks)
        self.history_loaded_at: float | None = None  # when the whole history was in
        self.failure: str | None = None  # the line a worker's error ended the app with
        self.run_tables: list | None = None  # the runs screen's tails (this machine's, then each host's), kept
        self.runs_first = runs_first  # `trainwatch ls` in a terminal: the runs screen even for one run
        self.hosts = list(hosts or [])  # host:PATH whose runs the runs screen lists too (ls targets, config hosts:)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Textual's notify, plain text by default: messages carry paths, run and metric names and
        log text, and a `[/bold]` in any of them must show as written, not end the app."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def push_screen(self, screen, *args, **kwargs):
        """A control dialog opens on a clear screen: earlier notices would sit over its text at 80x24."""
        if isinstance(screen, (ConfirmScreen, LrScreen, PresetScreen)):
            self.clear_notifications()
        return super().push_screen(screen, *args, **kwargs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that raised ends the app with exit code 1 and one line in ``failure``, which the
        CLI prints once the screen has closed (Textual's own handling would print a traceback with
        locals). Ours run with exit_on_error=False so that this is the only handling."""
        if event.state != WorkerState.ERROR or self.failure is not None:
            return  # the first failure is the one to tell
        error = event.worker.error
        detail = (str(error).strip().splitlines() or [""])[0]
        task = WORKER_TASKS.get(event.worker.group, event.worker.name)
        self.failure = f"trainwatch: {task} failed: {type(error).__name__}" + (f": {detail}" if detail else "")
        self.exit(return_code=1)

    # Layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                with Vertical(id="metrics-box"):
                    yield MetricsTable(id="metrics")
                with VerticalScroll(id="decodes-box"):
                    yield DecodesPanel(id="decodes")
                with Vertical(id="output-box"):
                    yield Log(id="output", max_lines=2000, auto_scroll=True)
            with VerticalScroll(id="findings-box"):
                yield FindingsPanel(id="findings")
        with Horizontal(id="charts"):
            yield MetricChart(id="chart-loss")
            yield MetricChart(id="chart-metric")
            yield MetricChart(id="chart-lr")
        yield Footer()

    def on_mount(self) -> None:
        self._apply_start_theme()
        for error in self.theme_errors:
            self.notify(error, severity="warning")
        self.query_one("#metrics-box").border_title = "metrics"
        self.query_one("#findings-box").border_title = "findings"
        self.query_one("#decodes-box").border_title = "decodes"
        self.query_one("#output-box").border_title = "run output (o to hide)"
        self.query_one("#output-box").display = False
        for chart_id, title in (("chart-loss", "loss: train / val"), ("chart-metric", "main metric"),
                                ("chart-lr", "learning rate")):
            self.query_one(f"#{chart_id}").border_title = title
        self.query_one(FindingsPanel).show_findings([], diagnosed=False)
        self._fit_layout(self.size.width)
        self._schedule_header_tick()
        if self.target is not None:
            self.start_following(self.target)
        else:
            self._pick_run()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_layout(event.size.width)

    def _fit_layout(self, width: int) -> None:
        self.screen.set_class(width < NARROW_WIDTH, "-narrow")
        self.query_one(Footer).compact = width < NARROW_WIDTH  # every key's label fits on 80 columns

    def _pick_run(self) -> None:
        if self.choices:
            self.push_screen(RunPickerScreen(self.choices, self.clock(),
                                             f"{len(self.choices)} TensorBoard runs here — pick one (Enter):"),
                             self._picked_run)
            return
        runs = list_runs(self.runs_root, self.clock())
        if len(runs) > 1 or self.hosts or (runs and (self.runs_first or not runs[0].readable)):
            self.action_runs()  # every run at a glance; Enter opens one
        elif runs:
            self.start_following(runs[0].path)
        else:
            self.notify(f"no runs under ./{self.runs_root}; use `trainwatch tail FILE`", severity="error")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """On the runs screen the keys that act on the followed run are off (and out of the
        footer): x there must not stop a run the user is not looking at."""
        if isinstance(self.screen, (RunsScreen, CompareScreen)) and action not in (
                "quit", "help", "next_theme", "command_palette"):
            return False
        return True

    def action_runs(self) -> None:
        """The runs screen (bare `trainwatch` with several runs; Esc from a run opened there)."""
        if self.run_tables is None:
            if not self.hosts and not list_runs(self.runs_root, self.clock()):
                return  # a tailed file with no runs folder: Esc does nothing
            remote = [parse_remote_target(host) for host in self.hosts]
            self.run_tables = [RunTable(self.runs_root, self.thresholds, self.hostname),
                               *(RemoteRunTable(target, self.thresholds) for target in remote if target is not None)]
        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.run_tables, self.clock), self._picked_from_runs)

    def _picked_from_runs(self, path: str | None) -> None:
        if path is None and self.live is None:
            self.exit()  # nothing followed yet: leaving the runs screen leaves trainwatch
        elif path is not None and path != self.target:
            self.start_following(path)

    def _picked_run(self, path: str | None) -> None:
        if path is None:
            self.exit()
        else:
            self.start_following(path)

    # Drawing -----------------------------------------------------------------------------------

    def _later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """A deferred redraw, skipped when it comes due after quitting began: the widgets it
        draws into are being taken down by then."""
        def unless_quitting() -> None:
            if self.is_running:
                callback()
        return self.set_timer(delay, unless_quitting)

    def _request_redraw(self, immediate: bool = False) -> None:
        """A burst of batches costs one redraw per MIN_REDRAW_SECONDS; ``immediate`` (a whole history
        handed over) draws and diagnoses at once."""
        if immediate:
            self._diagnoses.request(now=True)
        self._redraws.request(now=immediate)

    def _redraw(self) -> None:
        live = self.live
        if live is None:
            return
        self.query_one(MetricsTable).show_rows(metric_rows(live.model))
        self._chart_draws.request()
        if self.first_screen_at is None and live.model.record_count:
            self.first_screen_at = time.monotonic()
        current = live.model.current
        decodes = current.decodes or next((s.decodes for s in reversed(live.model.segments) if s.decodes), [])
        self.query_one(DecodesPanel).show_decodes(decodes, live.model.decode_count)
        # A log without decodes gives their room to the metrics table.
        self.query_one("#decodes-box").set_class(not live.model.decode_count, "-empty")
        if live.diagnosis_stale or self._diagnoses.due():
            self._diagnoses.request()
        self._refresh_header()
        self._schedule_header_tick()  # a new write restarts the "last write" clock

    def _diagnose(self) -> None:
        live = self.live
        if live is None:
            return
        if live.diagnose() or not live.findings:
            self.query_one(FindingsPanel).show_findings(live.findings, diagnosed=bool(live.model.record_count),
                                                        partial=live.partial, presets=self.applicable_presets())

    def _draw_charts(self) -> None:
        """Charts follow a fast run at most every MIN_CHART_SECONDS (the table and header keep up at
        every redraw): drawing braille for three charts is most of what a redraw costs."""
        if self.live is None or not self.query_one("#charts").display:
            return
        charts = key_charts(self.live.model, self.smoothing)
        if self.parent_model is not None:
            _add_parent_lines(charts, key_charts(self.parent_model, self.smoothing))
        for chart_id, chart in zip(("chart-loss", "chart-metric", "chart-lr"), charts):
            widget = self.query_one(f"#{chart_id}", MetricChart)
            if chart_id == "chart-metric" and not chart.empty:
                widget.border_title = Text(chart.title)  # a metric's name: never markup
            legend = "  ".join(part for part in (chart_legend(chart), chart.note) if part)
            if chart_id != "chart-lr" and self.parent_model is not None and not chart.empty:
                legend = "  ".join(part for part in ("faint: parent", legend) if part)
            widget.border_subtitle = Text(legend)
            widget.chart = chart

    def _refresh_header(self) -> None:
        header = self.query_one(RunHeader)
        header.smoothing = self.smoothing
        header.pending = ", ".join(self.pending.values())
        if self.live is not None:
            name = self.run_handle.record.name if self.run_handle is not None else None
            host = (self.follower.host if self.follower is not None else None) or self.hostname
            overview = describe_run(self.live, self.clock(), host, name=name, gpu=self.gpu_text, run=self.run_handle)
            self.run_active = overview.state in ("running", "live")
            self.last_state = overview.state
            if overview != header.overview:  # the clock ticks every second; repaint only on change
                header.overview = overview

    def _schedule_header_tick(self) -> None:
        """Wake for the header exactly when its time texts change, not every second: an idle UI
        then costs close to nothing."""
        if self._header_timer is not None:
            self._header_timer.stop()
        delay = 1.0 if self.live is None else seconds_until_change(self.live, self.clock())
        self._header_timer = self._later(delay, self._header_tick)

    def _header_tick(self) -> None:
        self._refresh_header()
        self._schedule_header_tick()

    def watch_smoothing(self) -> None:
        self._chart_draws.request(now=True)
        if self.is_mounted:
            self.query_one(RunHeader).smoothing = self.smoothing

    # Actions -----------------------------------------------------------------------------------

    def get_system_commands(self, screen) -> Iterable[SystemCommand]:
        """The palette (ctrl+p) offers every key's action by its help text, then Textual's own."""
        for binding in self.BINDINGS:
            if binding.action == "quit":
                continue  # Textual's own Quit comes below
            key = binding.key_display or binding.key.split(",")[0]
            title = "help: every key" if binding.action == "help" else (binding.tooltip or binding.description).split(" (")[0]
            yield SystemCommand(title[:1].upper() + title[1:], f"key {key}",
                                lambda action=binding.action: self.run_action(action))
        yield from super().get_system_commands(screen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, str, str]]:
        rows = []
        for binding in self.BINDINGS:
            key = binding.key_display or binding.key.split(",")[0]
            note = "launched runs only" if binding.action.startswith("control(") else ""
            rows.append((key, binding.tooltip or binding.description, note))
        rows.append(("ctrl+p", "command palette: any theme, every key", ""))
        return rows

    def action_cycle_smoothing(self) -> None:
        later = [stop for stop in SMOOTHING_STOPS if stop > self.smoothing + 1e-9]
        self.smoothing = later[0] if later else SMOOTHING_STOPS[0]

    def action_smoothing(self, delta: float) -> None:
        self.smoothing = round(min(max(self.smoothing + delta, 0.0), 0.99), 2)

    def action_toggle_panel(self, panel: str) -> None:
        widget = self.query_one(PANELS[panel])
        widget.display = not widget.display
        if panel == "output" and widget.display:
            self.query_one("#decodes-box").display = False
        elif panel == "output":
            self.query_one("#decodes-box").display = True
        if panel == "charts" and widget.display:
            self._chart_draws.request(now=True)

    def action_next_finding(self, offset: int) -> None:
        self.query_one("#findings-box").display = True  # asking for a finding shows the panel
        self.query_one(FindingsPanel).select(offset)


def _add_parent_lines(charts: list, parent_charts: list) -> None:
    """The parent's smoothed curves, drawn faint under the child's (as raw ghosts are)."""
    for chart, parent in zip(charts, parent_charts):
        ghosts = [replace(line, raw=True, context=True, label=f"parent {line.label}")
                  for line in parent.lines if not line.raw]
        chart.lines[:0] = ghosts

