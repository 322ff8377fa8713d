"""Acting on a launched run: LR change, checkpoint, stop (by command, then by signals)."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from tui.launch.control_client import ControlError, parse_lr_request, send_command
from tui.launch.process_state import pid_alive
from tui.launch.run_record import RunRecord, load_run_record

from trainers.runlog import EVENT_LOG_NAME, read_events


class RunNotRunning(ControlError):
    """The run's process is gone: there is nothing to send a command to."""


@dataclass(slots=True)
class StopTimeouts:
    """How long each stage of a stop may take before the next, harder one."""

    graceful: float = 120.0  # the trainer checkpoints, then exits
    interrupt: float = 20.0  # after SIGINT (KeyboardInterrupt in Python)
    terminate: float = 10.0  # after SIGTERM; then SIGKILL


def trainer_reads_control(run_dir: str) -> bool:
    """Did the trainer announce (run_start ``control: true``) that it reads the control channel?"""
    return any(event.get("control") is True for event in read_events(os.path.join(run_dir, EVENT_LOG_NAME), "run_start"))


def find_ack(run_dir: str, command_id: str) -> dict | None:
    return next((event for event in read_events(os.path.join(run_dir, EVENT_LOG_NAME), "ack", must_contain=command_id)
                 if event.get("command_id") == command_id), None)


class RunHandle:
    """One launched run, by its directory. Every action first checks the run is ours and alive."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.record: RunRecord = load_run_record(run_dir)

    def refresh(self) -> RunRecord:
        self.record = load_run_record(self.run_dir)
        return self.record

    @property
    def alive(self) -> bool:
        return pid_alive(self.record.pid, self.record.pid_start_ticks)

    @property
    def controllable(self) -> bool:
        return trainer_reads_control(self.run_dir)

    def _require_alive(self, what: str) -> None:
        self.refresh()
        if not self.alive:
            how = (f"exited with code {self.record.exit_code}" if self.record.exit_code is not None
                   else "its process is gone")
            raise RunNotRunning(f"cannot {what}: run {self.record.name} is not running ({how})")

    def _require_control(self, what: str) -> None:
        self._require_alive(what)
        if not self.controllable:
            raise ControlError(f"cannot {what}: {self.record.name}'s trainer has no trainwatch callback "
                               "(LR change and checkpoint need it; stop works by signal)")

    def set_lr(self, text: str) -> tuple[str, dict[str, float]]:
        request = parse_lr_request(text)
        self._require_control("change the LR")
        return send_command(self.run_dir, "set_lr", **request), request

    def checkpoint(self) -> str:
        self._require_control("checkpoint")
        return send_command(self.run_dir, "checkpoint")

    def wait_for_ack(self, command_id: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            ack = find_ack(self.run_dir, command_id)
            if ack is not None or time.monotonic() >= deadline or not self.alive:
                return ack or find_ack(self.run_dir, command_id)
            time.sleep(0.1)

    def _wait_exit(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            time.sleep(0.1)
        return not self.alive

    def _signal(self, signum: int) -> None:
        self.refresh()
        self.record.stop_signal = signal.Signals(signum).name
        self.record.save()
        try:
            os.killpg(self.record.pid, signum)  # the trainer's own group: it and its workers
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.record.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeouts: StopTimeouts | None = None, progress: Callable[[str], None] = lambda text: None) -> str:
        """Graceful first (checkpoint, then exit) when the trainer reads commands; then SIGINT,
        SIGTERM and SIGKILL, each after its timeout. Returns how the run ended."""
        timeouts = timeouts or StopTimeouts()
        self._require_alive("stop")
        if self.controllable:
            send_command(self.run_dir, "stop")
            progress("asked the trainer to checkpoint and stop")
            if self._wait_exit(timeouts.graceful):
                return self._ended("stopped gracefully")
            progress(f"no exit after {timeouts.graceful:.0f} s: sending SIGINT")
        for signum, wait in ((signal.SIGINT, timeouts.interrupt), (signal.SIGTERM, timeouts.terminate),
                             (signal.SIGKILL, 10.0)):
            self._signal(signum)
            progress(f"sent {signal.Signals(signum).name}")
            if self._wait_exit(wait):
                return self._ended(f"stopped by {signal.Signals(signum).name}")
        raise ControlError(f"run {self.record.name} (pid {self.record.pid}) did not exit even after SIGKILL")

    def _ended(self, how: str) -> str:
        # The supervisor records the exit code a moment after the process is gone.
        deadline = time.monotonic() + 5
        while self.refresh().exit_code is None and time.monotonic() < deadline:
            time.sleep(0.05)
        code = self.record.exit_code
        return f"{how} (exit code {code})" if code is not None else how
