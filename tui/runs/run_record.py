"""A launched run's record, ``run.json`` in its directory: what ran, where, from what, and how it ended.

The record is what makes a directory "ours": trainwatch acts (stop, LR, restart) only on directories
that hold one, and only when the directory, the record and the control file belong to the user and
no one else may write them (anyone may still read and tail a run). It is rewritten whole through a
temporary file, created exclusively under a random name, so a reader never sees half of it and no
write follows a link planted under the temporary name.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import stat
from dataclasses import asdict, dataclass, field
from typing import Any

from tui.runs.process_state import PID_MAX, is_pid, is_start_ticks
from tui.readers.regular_file import open_regular

from trainers.control import CONTROL_FILE_NAME, UnsafeFile, open_owned, unsafe_owner

# Where `trainwatch run` makes run directories and the UI looks for them, relative to the current
# directory (trainers/session.py writes runs/manual the same way, without importing tui).
RUNS_DIR = "runs"
RUN_RECORD_NAME = "run.json"
# What the supervisor captures of a launched run's own output, beside the event log.
OUTPUT_FILE_NAMES = ("stdout.log", "stderr.log")
RECORD_VERSION = 1
# A record is a few kilobytes; a bigger file is not one (and /dev/zero under the name must not eat memory).
RECORD_MAX_BYTES = 1 << 20


class NotOurRun(Exception):
    """The directory was not made by `trainwatch run`, its record is unreadable, or it is not ours to act on."""


@dataclass
class RunRecord:
    name: str
    command: list[str]
    cwd: str
    run_dir: str
    env: dict[str, str] = field(default_factory=dict)  # overrides on top of the launching environment
    preset: str | None = None
    parent: str | None = None  # the run directory this one was restarted from
    resume_from: str | None = None
    changes: list[str] = field(default_factory=list)  # what the preset changed, as shown before launch
    started: float | None = None
    pid: int | None = None
    pid_start_ticks: int | None = None  # /proc start time: tells our pid from a recycled one
    supervisor_pid: int | None = None
    ended: float | None = None
    exit_code: int | None = None
    stop_signal: str | None = None  # the signal that ended it when a stop had to use signals
    error: str | None = None  # why the command could not start
    slurm_job_id: str | None = None  # a run submitted with `trainwatch run --slurm`
    sbatch_options: list[str] = field(default_factory=list)  # what it was submitted with
    requeues: int = 0  # how often the job came back after a preemption (each a segment of the log)
    trainwatch: int = RECORD_VERSION

    @property
    def finished(self) -> bool:
        return self.ended is not None

    def save(self) -> None:
        path = os.path.join(self.run_dir, RUN_RECORD_NAME)
        # O_EXCL and a random name: a link (or file) someone planted under a predictable name is
        # never written through. 0644: the lab may read the record, only we may write it.
        temporary = f"{path}.{secrets.token_hex(8)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(asdict(self), file, indent=1)
                file.write("\n")
            os.replace(temporary, path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise


def _read_record(path: str, trusted: bool) -> str:
    """The record's text, read within RECORD_MAX_BYTES; for acting on it, through a descriptor that
    did not follow a link and is ours alone to write."""
    try:
        if trusted:
            descriptor = open_owned(path, os.O_RDONLY)
            file = os.fdopen(descriptor, "rb")
        else:
            file = open_regular(path)  # a FIFO under the name must not hang
        with file:
            data = file.read(RECORD_MAX_BYTES + 1)
    except UnsafeFile as error:
        reason = str(error).replace(path, RUN_RECORD_NAME)
        raise NotOurRun(f"refusing to act on {os.path.dirname(path)}: {reason} (reading it is fine)") from None
    except FileNotFoundError:
        raise NotOurRun(f"{os.path.dirname(path)}: not a run directory made by `trainwatch run` "
                        f"(no {RUN_RECORD_NAME})") from None
    except OSError as error:
        raise NotOurRun(f"{path}: unreadable run record ({error.strerror or error})") from None
    if len(data) > RECORD_MAX_BYTES:
        raise NotOurRun(f"{path}: unreadable run record (over {RECORD_MAX_BYTES // 1024} KB)")
    return data.decode("utf-8", "replace")


def load_run_record(run_dir: str) -> RunRecord:
    """The record, to read: whoever owns it."""
    if not os.path.isdir(run_dir):
        raise NotOurRun(f"{run_dir}: no such run directory")
    path = os.path.join(run_dir, RUN_RECORD_NAME)
    return parse_run_record(_read_record(path, trusted=False), run_dir, path)


def untrusted_reason(run_dir: str) -> str | None:
    """Why trainwatch must not act on this run directory (another user's, or others may write in
    it, so its record could say anything), or None. The record itself is checked as it is read."""
    try:
        info = os.stat(run_dir)
    except OSError as error:
        return f"the directory: {error.strerror or error}"
    problem = unsafe_owner(info, "the directory")
    if problem:
        return problem
    try:
        info = os.lstat(os.path.join(run_dir, CONTROL_FILE_NAME))
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{CONTROL_FILE_NAME}: {error.strerror or error}"
    if stat.S_ISLNK(info.st_mode):
        return f"{CONTROL_FILE_NAME} is a symbolic link"
    return unsafe_owner(info, CONTROL_FILE_NAME)


def load_trusted_record(run_dir: str) -> RunRecord:
    """The record, to act on: refused (NotOurRun, one line) unless the directory, the record and
    the control file are the user's and no one else may write them."""
    if not os.path.isdir(run_dir):
        raise NotOurRun(f"{run_dir}: no such run directory")
    path = os.path.join(run_dir, RUN_RECORD_NAME)
    reason = untrusted_reason(run_dir)
    if reason:
        raise NotOurRun(f"refusing to act on {run_dir}: {reason} (reading it is fine)")
    return parse_run_record(_read_record(path, trusted=True), run_dir, path)


def _optional(check):
    return lambda value: value is None or check(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_time(value: Any) -> bool:
    # Bounded before isfinite: a 400-digit int would overflow the conversion to float.
    return type(value) in (int, float) and abs(value) < 2**53 and math.isfinite(value)


def _is_exit_code(value: Any) -> bool:
    return type(value) is int and abs(value) < 2**32


# What each field must hold; a record that breaks one is refused whole, with the field named.
_FIELD_CHECKS = {
    "name": (_is_text, "a string"),
    "command": (_is_text_list, "a list of strings"),
    "cwd": (_is_text, "a string"),
    "env": (lambda value: isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in value.items()), "strings by name"),
    "preset": (_optional(_is_text), "a string or null"),
    "parent": (_optional(_is_text), "a string or null"),
    "resume_from": (_optional(_is_text), "a string or null"),
    "changes": (_is_text_list, "a list of strings"),
    "started": (_optional(_is_time), "a time or null"),
    "pid": (_optional(is_pid), f"an integer from 2 to {PID_MAX} or null"),
    "pid_start_ticks": (_optional(is_start_ticks), "a non-negative integer or null"),
    "supervisor_pid": (_optional(is_pid), f"an integer from 2 to {PID_MAX} or null"),
    "ended": (_optional(_is_time), "a time or null"),
    "exit_code": (_optional(_is_exit_code), "an integer or null"),
    "stop_signal": (_optional(_is_text), "a string or null"),
    "error": (_optional(_is_text), "a string or null"),
    "slurm_job_id": (_optional(lambda value: isinstance(value, str) and re.fullmatch(r"\d+(_\d+)?", value) is not None),
                     "a job id or null"),
    "sbatch_options": (_is_text_list, "a list of strings"),
    "requeues": (lambda value: type(value) is int and 0 <= value < 10**6, "a count"),
    "trainwatch": (lambda value: type(value) is int, "an integer"),
}


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        return type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def parse_run_record(text: str, run_dir: str, label: str) -> RunRecord:
    """A record from the text of a run.json (read here, or fetched from another machine)."""
    try:
        raw: Any = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested thousands deep
        reason = str(error) if isinstance(error, ValueError) else "nested too deep"
        raise NotOurRun(f"{label}: unreadable run record ({reason})") from None
    if not isinstance(raw, dict) or "trainwatch" not in raw or not isinstance(raw.get("command"), list):
        raise NotOurRun(f"{label}: not a trainwatch run record")
    values = {key: value for key, value in raw.items() if key in _FIELD_CHECKS}
    for key, value in values.items():
        check, wanted = _FIELD_CHECKS[key]
        if not check(value):
            raise NotOurRun(f"{label}: bad run record: {key} must be {wanted}, not {_shown(value)}")
    values["run_dir"] = run_dir  # the directory may have been moved since
    try:
        return RunRecord(**values)
    except TypeError as error:
        raise NotOurRun(f"{label}: incomplete run record ({error})") from None


def is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, RUN_RECORD_NAME))
