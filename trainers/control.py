"""The control channel, trainer side: commands trainwatch appends to a file in the run directory.

trainwatch writes one JSON object per line to ``<run dir>/control.jsonl`` (created owner-only,
mode 0600, append-only). A trainer polls it at safe points (between batches), applies each command
once and acknowledges it in the event log with what it actually did. Nothing listens on a port.

A command line: ``{"id": "c-18c2f0a1-1", "action": "set_lr", "lr": 0.0002}``; ``set_lr`` takes
``lr`` (absolute) or ``factor`` (multiply the current LR); ``checkpoint`` and ``stop`` (checkpoint,
then exit) take nothing. Stdlib only: importing this costs a training script nothing.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from trainers.runlog import EVENT_LOG_NAME, RunLog, read_events

CONTROL_FILE_NAME = "control.jsonl"
# trainwatch hands the run directory to the training process in this variable.
RUN_DIR_ENV = "TRAINWATCH_RUN_DIR"
# ... and, on a restart, the checkpoint to resume from (trainers may also take a --resume flag).
RESUME_ENV = "TRAINWATCH_RESUME"
ACTIONS = ("set_lr", "checkpoint", "stop")


@dataclass(slots=True)
class ControlCommand:
    id: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)

    def new_lr(self, current: float) -> float:
        """The LR this command asks for, given the current one."""
        if "lr" in self.args:
            return float(self.args["lr"])
        return current * float(self.args["factor"])


def command_problem(command: dict[str, Any]) -> str | None:
    """Why a command line cannot be applied, or None when it is well formed."""
    if not isinstance(command.get("id"), str) or not command["id"]:
        return "a command needs a string id"
    action = command.get("action")
    if action not in ACTIONS:
        return f"unknown action {action!r}"
    if action == "set_lr":
        value = command.get("lr", command.get("factor"))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "set_lr needs a numeric lr or factor"
        if not math.isfinite(value) or value <= 0:
            return f"set_lr needs a positive finite value, got {value}"
    return None


class UnsafeFile(Exception):
    """A file that must not be used: a symbolic link, not a regular file, someone else's, or one
    that group or others may write."""


def unsafe_owner(info: os.stat_result, path: str) -> str | None:
    """Why a file or directory with this status must not be trusted, or None when only we own and may write it."""
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{path} belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others"
    return None


def open_owned(path: str, flags: int, mode: int = 0o600) -> int:
    """A descriptor on ``path`` opened without following a symbolic link (one planted there would
    send our writes, or our reads, to a file of someone else's choosing) and checked on the opened
    descriptor itself, so the file cannot be swapped between the check and the use."""
    try:
        # O_NONBLOCK: a FIFO planted under the name must not hang the open.
        descriptor = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK, mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: the BSDs' answer to O_NOFOLLOW
            raise UnsafeFile(f"{path} is a symbolic link") from None
        raise
    try:
        info = os.fstat(descriptor)
        problem = None if stat.S_ISREG(info.st_mode) else f"{path} is not a regular file"
        problem = problem or unsafe_owner(info, path)
        if problem:
            raise UnsafeFile(problem)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _acknowledged_ids(event_log: str) -> set[str]:
    """Commands already acknowledged in this run's event log (a trainer restarted in place)."""
    return {event["command_id"] for event in read_events(event_log, "ack") if isinstance(event.get("command_id"), str)}


class ControlChannel:
    """Reads new commands from the control file; each is returned by ``poll`` once, ever.

    ``poll`` costs one ``os.lstat`` when nothing was written, so it can run every batch.
    """

    def __init__(self, run_dir: str, log: RunLog) -> None:
        self.path = os.path.join(run_dir, CONTROL_FILE_NAME)
        self.log = log
        self._offset = 0
        self._partial = b""
        self._seen = _acknowledged_ids(os.path.join(run_dir, EVENT_LOG_NAME))
        self._refused_reason: str | None = None

    def poll(self) -> list[ControlCommand]:
        try:
            size = os.lstat(self.path).st_size  # lstat: a planted link is refused below, never followed
        except OSError:
            return []
        if size <= self._offset:
            return []
        try:
            descriptor = open_owned(self.path, os.O_RDONLY)
        except (UnsafeFile, OSError) as error:
            reason = str(error)
            if reason != self._refused_reason:  # say it once, not every batch
                self._refused_reason = reason
                self.log.text(f"trainwatch control ignored: {reason}", stream="stderr")
            return []
        self._refused_reason = None
        with os.fdopen(descriptor, "rb") as file:
            file.seek(self._offset)
            data = self._partial + file.read(size - self._offset)
        self._offset = size
        *lines, self._partial = data.split(b"\n")  # a half-written last line waits for its end
        return [command for line in lines if (command := self._parse(line)) is not None]

    def _parse(self, line: bytes) -> ControlCommand | None:
        if not line.strip():
            return None
        try:
            raw = json.loads(line)
        except ValueError:
            self.log.text(f"trainwatch control: unreadable command {line[:80]!r}", stream="stderr")
            return None
        if not isinstance(raw, dict):
            return None
        problem = command_problem(raw)
        if problem:
            command_id = raw.get("id") if isinstance(raw.get("id"), str) else "?"
            if command_id not in self._seen:
                self._seen.add(command_id)
                self.log.ack(command_id, str(raw.get("action")), False, message=f"refused: {problem}")
            return None
        if raw["id"] in self._seen:
            return None
        self._seen.add(raw["id"])
        args = {key: value for key, value in raw.items() if key not in ("id", "action", "time")}
        return ControlCommand(raw["id"], raw["action"], args)
