"""Acting on a launched run: LR change, checkpoint, stop (by command, then by signals)."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tui.runs import slurm
from tui.runs.control_client import ControlError, append_command, new_command, parse_lr_request
from tui.runs.process_state import descendants, pid_alive, pid_problem
from tui.runs.run_record import NotOurRun, RunRecord, load_trusted_record

from trainers.runlog import EVENT_LOG_NAME, read_events


class RunNotRunning(ControlError):
    """The run's process is gone: there is nothing to send a command to."""


@dataclass(slots=True)
class StopTimeouts:
    """How long each stage of a stop may take before the next, harder one."""

    graceful: float = 120.0  # the trainer checkpoints, then exits
    interrupt: float = 20.0  # after SIGINT (KeyboardInterrupt in Python)
    terminate: float = 10.0  # after SIGTERM; then SIGKILL


class RunHost(Protocol):
    """Where a run's files and process are: this machine (LocalRunHost) or another one over ssh
    (tui/ssh/ssh_run_host.SshRunHost). RunHandle acts on a run only through these."""

    poll_seconds: float

    def describe(self, run_dir: str) -> str: ...
    def load_record(self, run_dir: str) -> RunRecord: ...
    def process_alive(self, record: RunRecord) -> bool: ...
    def events(self, run_dir: str, kind: str, must_contain: str | None = None) -> list[dict]: ...
    def send(self, run_dir: str, command: dict) -> None: ...
    def signal(self, record: RunRecord, signum: int) -> None: ...


class LocalRunHost:
    """Runs on this machine: files read directly, processes signalled directly. The ssh
    counterpart (tui/ssh/ssh_run_host.py) does the same things on another machine."""

    poll_seconds = 0.1  # how often a wait looks again: cheap here

    def describe(self, run_dir: str) -> str:
        return run_dir

    def load_record(self, run_dir: str) -> RunRecord:
        return load_trusted_record(run_dir)  # acted on: refused unless only we may write it

    def process_alive(self, record: RunRecord) -> bool:
        if record.slurm_job_id:
            # A job runs on a node of SLURM's choosing: SLURM says whether it is still there
            # (pending and requeued count: the run is not over).
            state = slurm.job_state(record.slurm_job_id)
            return not state.ended and state.state != "gone"
        return pid_alive(record.pid, record.pid_start_ticks)

    def events(self, run_dir: str, kind: str, must_contain: str | None = None) -> list[dict]:
        return list(read_events(os.path.join(run_dir, EVENT_LOG_NAME), kind, must_contain=must_contain))

    def send(self, run_dir: str, command: dict) -> None:
        append_command(run_dir, command)

    def signal(self, record: RunRecord, signum: int) -> None:
        problem = pid_problem(record.pid, record.pid_start_ticks)
        if problem:
            raise ControlError(f"refusing to signal run {record.name}: {problem}")
        if not pid_alive(record.pid, record.pid_start_ticks):
            return  # gone (or its pid recycled) since the last look: nothing of ours to signal
        record.stop_signal = signal.Signals(signum).name
        record.save()
        workers = descendants(record.pid)  # before the trainer goes: its orphans are init's
        try:
            os.killpg(record.pid, signum)  # the trainer's own group: it and its workers
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(record.pid, signum)  # it left its group
            except ProcessLookupError:
                pass
            except PermissionError:
                raise ControlError(f"cannot signal run {record.name} (pid {record.pid}): permission denied") from None
        for worker, ticks in workers:
            if not pid_alive(worker, ticks):  # gone, or its pid already someone else's
                continue
            try:
                if os.getpgid(worker) != record.pid:  # a session of its own (torchrun's ranks): not reached above
                    os.kill(worker, signum)
            except (ProcessLookupError, PermissionError):
                pass


def trainer_reads_control(run_dir: str, host: RunHost | None = None) -> bool:
    """Did the trainer announce (run_start ``control: true``) that it reads the control channel?"""
    return any(event.get("control") is True for event in (host or LocalRunHost()).events(run_dir, "run_start"))


def find_ack(run_dir: str, command_id: str, host: RunHost | None = None) -> dict | None:
    events = (host or LocalRunHost()).events(run_dir, "ack", must_contain=command_id)
    return next((event for event in events if event.get("command_id") == command_id), None)


class RunHandle:
    """One launched run, by its directory, here or (through an ssh host) on another machine.
    Every action first checks the run is ours and alive."""

    def __init__(self, run_dir: str, run_host: RunHost | None = None, record: RunRecord | None = None) -> None:
        self.run_dir = run_dir
        self.run_host = run_host or LocalRunHost()  # where its actions run (a hostname is only ever a str)
        self.record: RunRecord = record or self.run_host.load_record(run_dir)
        self.reads_control = False  # once the trainer said it reads commands, it is not asked again

    @property
    def remote(self) -> bool:
        return not isinstance(self.run_host, LocalRunHost)

    def refresh(self) -> RunRecord:
        """The record read again, before each action: one that stopped being ours (or readable)
        since the handle was made refuses the action, as a ControlError like every other refusal."""
        try:
            self.record = self.run_host.load_record(self.run_dir)
        except NotOurRun as error:
            raise ControlError(str(error)) from None
        return self.record

    @property
    def alive(self) -> bool:
        return self.run_host.process_alive(self.record)

    @property
    def controllable(self) -> bool:
        self.reads_control = self.reads_control or trainer_reads_control(self.run_dir, self.run_host)
        return self.reads_control

    def _require_alive(self, what: str) -> None:
        self.refresh()
        problem = None if self.record.pid is None else pid_problem(self.record.pid, self.record.pid_start_ticks)
        if problem:
            raise ControlError(f"cannot {what}: refusing to act on run {self.record.name}: {problem}")
        if not self.alive:
            how = (f"exited with code {self.record.exit_code}" if self.record.exit_code is not None
                   else "its process is gone")
            raise RunNotRunning(f"cannot {what}: run {self.record.name} is not running ({how})")

    def _require_control(self, what: str) -> None:
        self._require_alive(what)
        if not self.controllable:
            raise ControlError(f"cannot {what}: {self.record.name}'s trainer has no trainwatch callback "
                               "(LR change and checkpoint need it; stop works by signal)")

    def _send(self, action: str, **args: float) -> str:
        command = new_command(action, **args)
        self.run_host.send(self.run_dir, command)
        return command["id"]

    def set_lr(self, text: str) -> tuple[str, dict[str, float]]:
        """``1e-4``, ``x0.5``, ``/2`` as typed (the CLI): parsed, then sent."""
        request = parse_lr_request(text)
        return self.send_lr(request), request

    def send_lr(self, request: dict[str, float]) -> str:
        """An LR request already parsed (the LR screen parses what is typed): {"lr": ...} or {"factor": ...}."""
        self._require_control("change the LR")
        return self._send("set_lr", **request)

    def checkpoint(self) -> str:
        self._require_control("checkpoint")
        return self._send("checkpoint")

    def wait_for_ack(self, command_id: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            ack = find_ack(self.run_dir, command_id, self.run_host)
            if ack is not None or time.monotonic() >= deadline or not self.alive:
                return ack or find_ack(self.run_dir, command_id, self.run_host)
            time.sleep(self.run_host.poll_seconds)

    def _wait_exit(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            time.sleep(self.run_host.poll_seconds)
        return not self.alive

    def _signal(self, signum: int) -> None:
        self.run_host.signal(self.refresh(), signum)

    def stop(self, timeouts: StopTimeouts | None = None, progress: Callable[[str], None] = lambda text: None) -> str:
        """Graceful first (checkpoint, then exit) when the trainer reads commands; then SIGINT,
        SIGTERM and SIGKILL, each after its timeout. Returns how the run ended."""
        timeouts = timeouts or StopTimeouts()
        self._require_alive("stop")
        if self.record.slurm_job_id and not self.remote:
            return self._stop_job(timeouts, progress)
        if self.controllable:
            self._send("stop")
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

    def _stop_job(self, timeouts: StopTimeouts, progress: Callable[[str], None]) -> str:
        """A SLURM job: a pending one is cancelled; a running one is asked to checkpoint and stop,
        then ``scancel --signal=INT``, then ``scancel`` (SLURM's SIGTERM, then SIGKILL)."""
        job = self.record.slurm_job_id
        state = slurm.job_state(job, max_age=0)
        if state.state in ("pending", "requeued"):
            slurm.cancel(job)
            progress(f"cancelled job {job} while {state.describe()}")
            return self._ended_job(f"cancelled while {state.state}", timeouts.terminate)
        if self.controllable:
            self._send("stop")
            progress("asked the trainer to checkpoint and stop")
            if self._wait_exit(timeouts.graceful):
                return self._ended_job("stopped gracefully", timeouts.terminate)
            progress(f"no exit after {timeouts.graceful:.0f} s: scancel --signal=INT")
        slurm.cancel(job, "INT")
        progress(f"sent SIGINT to job {job}")
        if self._wait_exit(timeouts.interrupt):
            return self._ended_job("stopped by SIGINT", timeouts.terminate)
        slurm.cancel(job)
        progress(f"scancel {job}")
        return self._ended_job("cancelled", timeouts.terminate + 10.0)

    def _wait_job(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            slurm.forget(self.record.slurm_job_id)
            time.sleep(max(self.run_host.poll_seconds, 0.2))
        return not self.alive

    def _ended_job(self, how: str, wait: float) -> str:
        if not self._wait_job(wait):
            raise ControlError(f"job {self.record.slurm_job_id} of run {self.record.name} has not ended after {how}")
        return self._ended(how)

    def _ended(self, how: str) -> str:
        # The supervisor records the exit code a moment after the process is gone.
        deadline = time.monotonic() + 5
        while self.refresh().exit_code is None and time.monotonic() < deadline:
            time.sleep(self.run_host.poll_seconds / 2)
        code = self.record.exit_code
        return f"{how} (exit code {code})" if code is not None else how
