"""A launched run's record, ``run.json`` in its directory: what ran, where, from what, and how it ended.

The record is what makes a directory "ours": trainwatch acts (stop, LR, restart) only on directories
that hold one. It is rewritten whole through a temporary file, so a reader never sees half of it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

RUN_RECORD_NAME = "run.json"
RECORD_VERSION = 1


class NotOurRun(Exception):
    """The directory was not made by `trainwatch run` (or its record is unreadable)."""


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
    trainwatch: int = RECORD_VERSION

    @property
    def finished(self) -> bool:
        return self.ended is not None

    def save(self) -> None:
        path = os.path.join(self.run_dir, RUN_RECORD_NAME)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(asdict(self), file, indent=1)
            file.write("\n")
        os.replace(temporary, path)


def load_run_record(run_dir: str) -> RunRecord:
    path = os.path.join(run_dir, RUN_RECORD_NAME)
    if not os.path.isdir(run_dir):
        raise NotOurRun(f"{run_dir}: no such run directory")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise NotOurRun(f"{run_dir}: not a run directory made by `trainwatch run` (no {RUN_RECORD_NAME})") from None
    except (OSError, ValueError) as error:
        raise NotOurRun(f"{path}: unreadable run record ({error})") from None
    return parse_run_record(text, run_dir, path)


def parse_run_record(text: str, run_dir: str, label: str) -> RunRecord:
    """A record from the text of a run.json (read here, or fetched from another machine)."""
    try:
        raw: Any = json.loads(text)
    except ValueError as error:
        raise NotOurRun(f"{label}: unreadable run record ({error})") from None
    if not isinstance(raw, dict) or "trainwatch" not in raw or not isinstance(raw.get("command"), list):
        raise NotOurRun(f"{label}: not a trainwatch run record")
    known = {name for name in RunRecord.__dataclass_fields__}
    values = {key: value for key, value in raw.items() if key in known}
    values["run_dir"] = run_dir  # the directory may have been moved since
    try:
        return RunRecord(**values)
    except TypeError as error:
        raise NotOurRun(f"{label}: incomplete run record ({error})") from None


def is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, RUN_RECORD_NAME))
