"""A launched run on another machine, acted on over ssh: what LocalRunHost does here, done there
with sh and coreutils (the control file is appended to, signals are sent with kill)."""
from __future__ import annotations

import json
import signal

from tui.runs.control_client import ControlError
from tui.runs.process_state import pid_problem
from tui.runs.run_record import RUN_RECORD_NAME, NotOurRun, RunRecord, parse_run_record
from tui.runs.sh_scripts import MARK
from tui.ssh.remote_scripts import alive_script, append_script, cat_script, grep_script, signal_script
from tui.ssh.ssh_connection import SshConnection, SshError

from trainers.runlog import EVENT_LOG_NAME, events_in_lines


class SshRunHost:
    """The RunHandle host for a run directory on ``connection``'s machine. Every failure of the
    connection surfaces as a ControlError, one line, so the UI shows it and goes on."""

    poll_seconds = 0.5  # each look is a round trip: look less often than here

    def __init__(self, connection: SshConnection) -> None:
        self.connection = connection

    def describe(self, run_dir: str) -> str:
        return f"{self.connection.destination}:{run_dir}"

    def _run(self, script: str) -> tuple[str, list[str]]:
        """The script's first answer line (after the mark) and the lines after it."""
        try:
            result = self.connection.run(script)
        except SshError as error:
            raise ControlError(str(error)) from None
        lines = result.stdout.decode("utf-8", "replace").splitlines()
        for index, line in enumerate(lines):
            if line.startswith(MARK + " "):
                return line[len(MARK) + 1:], lines[index + 1:]
        return "", lines

    def load_record(self, run_dir: str) -> RunRecord:
        path = f"{run_dir}/{RUN_RECORD_NAME}"
        answer, lines = self._run(cat_script(path))
        if answer == "missing":
            raise NotOurRun(f"{self.describe(run_dir)}: not a run directory made by `trainwatch run` "
                            f"(no {RUN_RECORD_NAME})")
        if answer != "ok":
            raise NotOurRun(f"{self.connection.destination}:{path}: cannot read the run record ({answer or 'no answer'})")
        return parse_run_record("\n".join(lines), run_dir, f"{self.connection.destination}:{path}")

    def process_alive(self, record: RunRecord) -> bool:
        if pid_problem(record.pid, record.pid_start_ticks):
            return False  # never sent: a bad pid (kill -0 -1 "finds" every process) is no process of ours
        answer, _ = self._run(alive_script(record.pid, record.pid_start_ticks))
        return answer == "alive"

    def events(self, run_dir: str, kind: str, must_contain: str | None = None) -> list[dict]:
        _, lines = self._run(grep_script(f"{run_dir}/{EVENT_LOG_NAME}", f'"{kind}"', must_contain or ""))
        return list(events_in_lines(lines, kind, must_contain))

    def send(self, run_dir: str, command: dict) -> None:
        answer, _ = self._run(append_script(run_dir, json.dumps(command)))
        if answer != "ok":
            reason = answer.removeprefix("unsafe ") or "no answer"
            raise ControlError(f"cannot send the command to {self.describe(run_dir)}: {reason}")

    def signal(self, record: RunRecord, signum: int) -> None:
        """Checked here, then again by the script there: only a usable pid whose start time matches."""
        problem = pid_problem(record.pid, record.pid_start_ticks)
        if problem:
            raise ControlError(f"refusing to signal run {record.name} on {self.connection.destination}: {problem}")
        name = signal.Signals(signum).name.removeprefix("SIG")
        answer, _ = self._run(signal_script(record.run_dir, record.pid, record.pid_start_ticks, name))
        if answer in ("ok", "gone"):  # gone: it ended (or its pid was recycled) since the last look
            return
        if answer.startswith(("refused ", "unsafe ")):
            raise ControlError(f"refusing to signal {self.describe(record.run_dir)}: {answer.split(' ', 1)[1]}")
        raise ControlError(f"cannot signal {self.describe(record.run_dir)}: {answer or 'no answer'}")
