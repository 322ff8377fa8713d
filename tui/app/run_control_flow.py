"""The run-control keys of the app (stop, LR, checkpoint, presets, restart): each checks what the
run allows, asks on a screen, and sends off the UI thread; a command is pending until acknowledged.

A mixin of the App (TrainWatch): it reads the app's followed run (``run_handle``, ``live``) and
notifies through it."""
from __future__ import annotations

from collections.abc import Callable

from textual import work

from tui.runs.control_client import ControlError, describe_lr_request
from tui.runs.presets import PresetError, load_presets, plan_restart
from tui.runs.restart import RestartProposal, propose_restart, restart_run
from tui.view.checkpoint_choice import MainMetricAtCheckpoints
from tui.runs.run_control import RunHandle
from tui.runs.run_record import NotOurRun
from tui.view.live_run import LiveRun
from tui.app.screens.action_screens import ConfirmScreen, LrScreen, PresetScreen, RestartChoice

CONTROL_ACTIONS = {"stop": "stop the run", "lr": "change the learning rate", "restart": "restart with a preset",
                   "presets": "pick a preset", "checkpoint": "checkpoint now"}


class RunControlFlow:
    """The control keys' flow, mixed into the App."""

    def action_control(self, action: str) -> None:
        handle = self.run_handle
        if handle is None:
            # A tailed log has no process or control channel behind it; say so rather than do nothing.
            self.notify(f"Can't {CONTROL_ACTIONS[action]}: this log is only being read. Stop, LR, checkpoint and "
                        "restart act on runs launched with `trainwatch run`.", severity="warning", timeout=6)
            return
        if action in ("presets", "restart") and handle.remote:
            # A preset rewrites the command and launches it: that needs trainwatch where the run is.
            self.notify(f"Can't {CONTROL_ACTIONS[action]} over ssh: on {self.follower.host}, run `trainwatch restart "
                        f"{handle.run_dir} --preset NAME`. Stop, LR and checkpoint work from here.",
                        severity="warning", timeout=10)
            return
        if action == "presets":
            presets, problems = load_presets()
            for problem in problems:
                self.notify(problem, severity="warning")
            self.push_screen(PresetScreen(presets, self.chosen_preset or self.suggested_preset(),
                                          "Presets: what each would change in this run's command"),
                             self._preset_chosen)
            return
        if action == "restart":
            presets, _ = load_presets()
            # The cause's fix whole: its preset and where to resume from (a blow-up from the start
            # restarts from scratch, not from a checkpoint of the blown-up weights).
            preset, resume = (self.chosen_preset, None) if self.chosen_preset else self.suggested_fix()
            # "best" is the checkpoint the main validation metric (the findings' one) rates best.
            metric = MainMetricAtCheckpoints(self.live.model) if self.live is not None else None
            judge = metric.judge if metric is not None and metric.curve is not None else None
            self.push_screen(PresetScreen(presets, preset, f"Restart {handle.record.name} with a preset (stops it first)",
                                          propose=lambda name, resume: propose_restart(handle.run_dir, name, resume,
                                                                                       judge),
                                          resume=resume, metric=metric),
                             self._restart_chosen)
            return
        self._check_run_then(action, handle)

    @work(thread=True, group="control", exit_on_error=False)
    def _check_run_then(self, action: str, handle: RunHandle) -> None:
        """Is the run alive, does it read commands? Asked off the UI thread: over ssh each is a round trip."""
        try:
            if not handle.remote:
                handle.refresh()  # a remote run's record is kept current by its stream
            alive = handle.alive
            handle.reads_control = handle.reads_control or (self.live is not None and self.live.model.controllable)
            controllable = alive and handle.controllable
        except (ControlError, NotOurRun) as error:
            self.call_from_thread(self.notify, str(error), severity="error")
            return
        self.call_from_thread(self._open_control, action, handle, alive, controllable)

    def _open_control(self, action: str, handle: RunHandle, alive: bool, controllable: bool) -> None:
        if not alive:
            code = handle.record.exit_code
            self.notify(f"Can't {CONTROL_ACTIONS[action]}: {handle.record.name} is not running"
                        + (f" (exit code {code})" if code is not None else "")
                        + ("" if handle.remote else "; r restarts it"), severity="warning")
            return
        if action == "stop":
            how = ("graceful: checkpoint, then exit" if controllable
                   else "no trainwatch callback: SIGINT, then SIGTERM, SIGKILL")
            self.push_screen(ConfirmScreen(f"Stop {handle.record.name}? ({how})"), self._stop_confirmed)
        elif not controllable:
            self.notify(f"Can't {CONTROL_ACTIONS[action]}: this trainer has no trainwatch callback (LR change and "
                        "checkpoint need it; x stops it by signal). See trainers/ in the README.", severity="warning",
                        timeout=8)
        elif action == "lr":
            self.push_screen(LrScreen(self._current_lr(), handle.record.name), self._lr_entered)
        elif action == "checkpoint":
            self._send_command(lambda: (handle.checkpoint(), "checkpoint"))

    def _current_lr(self) -> float | None:
        if self.live is None:
            return None
        series = self.live.model.current.series.get("lr") or self.live.model.current.series.get("learning_rate")
        return series.last if series is not None else None

    def suggested_preset(self) -> str | None:
        """The preset of the first finding (causes first) that applies to this run's command."""
        return self.suggested_fix()[0]

    def suggested_fix(self) -> tuple[str | None, str | None]:
        """(preset, resume) of the first finding (causes first) whose preset applies to this run's command;
        resume None: the preset's own default."""
        applicable = self.applicable_presets()
        finding = next((f for f in (self.live.findings if self.live else []) if f.preset in applicable), None)
        return (finding.preset, finding.resume) if finding is not None else (None, None)

    def applicable_presets(self) -> set[str]:
        """The presets that apply to the followed run's command: none for a tailed log or a run over ssh."""
        handle = self.run_handle
        if handle is None or handle.remote:
            return set()
        key = (tuple(handle.record.command), handle.record.cwd)
        if self._applicable[0] != key:
            presets, _ = load_presets()
            fits = set()
            for name, preset in presets.items():
                try:
                    plan_restart(list(key[0]), key[1], preset)
                except PresetError:
                    continue
                fits.add(name)
            self._applicable = (key, fits)
        return self._applicable[1]

    @work(thread=True, group="control", exit_on_error=False)
    def _send_command(self, send: Callable[[], tuple[str, str]]) -> None:
        """Send a command (off the UI thread); it is pending until the trainer's ack is read."""
        try:
            command_id, what = send()
        except ControlError as error:
            self.call_from_thread(self.notify, str(error), severity="error")
            return
        self.call_from_thread(self._mark_pending, command_id, what)

    def _mark_pending(self, command_id: str, what: str) -> None:
        self.pending[command_id] = what
        self.notify(f"{what}: sent; pending until the trainer acknowledges", timeout=4)
        if self.live is not None:
            self._settle_pending(self.live)  # the ack may have been read before the send returned
        self._refresh_header()

    def _settle_pending(self, live: LiveRun) -> None:
        for ack in live.model.acks:
            what = self.pending.pop(ack.command_id, None)
            if what is not None:
                self.notify(f"{what}: {'applied' if ack.applied else 'NOT applied'} — {ack.message}",
                            severity="information" if ack.applied else "warning", timeout=8)
        self._refresh_header()

    def _lr_entered(self, request: dict | None) -> None:
        handle = self.run_handle
        if not request or handle is None:
            return
        self._send_command(lambda: (handle.send_lr(request), describe_lr_request(request)))

    def _stop_confirmed(self, confirmed: bool | None) -> None:
        if confirmed and self.run_handle is not None:
            self.notify(f"stopping {self.run_handle.record.name}…", timeout=4)
            self._stop_run(self.run_handle)

    @work(thread=True, group="control", exit_on_error=False)
    def _stop_run(self, handle: RunHandle) -> None:
        def progress(text: str) -> None:
            self.call_from_thread(self.notify, text, timeout=4)
        try:
            progress(handle.stop(self.stop_timeouts, progress))
        except ControlError as error:
            self.call_from_thread(self.notify, str(error), severity="error")

    def _preset_chosen(self, name: str | None) -> None:
        if name:
            self.chosen_preset = name
            self.notify(f"preset {name} chosen: r restarts the run with it", timeout=4)

    def _restart_chosen(self, choice: RestartChoice | None) -> None:
        if choice is None or self.run_handle is None:
            return
        proposal = choice.proposal
        self.chosen_preset = proposal.preset.name
        self.notify(f"restarting {proposal.parent.name} with {proposal.preset.name}…", timeout=4)
        self._restart_run(proposal)

    @work(thread=True, group="control", exit_on_error=False)
    def _restart_run(self, proposal: RestartProposal) -> None:
        def progress(text: str) -> None:
            self.call_from_thread(self.notify, text, timeout=4)
        try:
            record = restart_run(proposal, self.stop_timeouts, progress)
        except (ControlError, PresetError, NotOurRun, OSError) as error:
            self.call_from_thread(self.notify, f"restart failed: {error}", severity="error")
            return
        self.call_from_thread(self._follow_child, record.run_dir, record.name)

    def _follow_child(self, run_dir: str, name: str) -> None:
        """Follow the restarted run; its parent is read from disk and drawn faint, for comparison."""
        self.start_following(run_dir)
        self.notify(f"now following {name} (its parent stays faint on the charts)", timeout=6)
