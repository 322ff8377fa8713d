"""The control channel, trainwatch side: append a command for the trainer, read its acknowledgement.

The file is created owner-only (0600) and only appended to; the trainer refuses to obey a control
file that anyone else could write. Commands carry ids so each is applied at most once.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import time

from tui.model.number_format import command_text
from trainers.control import CONTROL_FILE_NAME, UnsafeFile, command_problem, open_owned

_counter = itertools.count(1)
_FACTOR_RE = re.compile(r"^\s*(?:[x*×]\s*(?P<pre>[^\s]+)|(?P<post>[^\s]+?)\s*[x×]|/\s*(?P<div>[^\s]+))\s*$")


class ControlError(Exception):
    """A command that cannot be sent (bad value, not our file)."""


def parse_lr_request(text: str) -> dict[str, float]:
    """``1e-4`` -> an absolute LR; ``x0.5``, ``*0.5``, ``0.5x`` -> a factor; ``/2`` -> factor 0.5."""
    text = text.strip()
    if not text:
        raise ControlError("type an LR (1e-4) or a factor (x0.5, /2)")
    match = _FACTOR_RE.match(text)
    raw = (match.group("pre") or match.group("post") or match.group("div")) if match else text
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"{text!r} is not a number: type an LR (1e-4) or a factor (x0.5, /2)") from None
    if not math.isfinite(value) or value <= 0:
        raise ControlError(f"the LR must be a positive number, got {text!r}")
    if match and match.group("div"):
        return {"factor": 1.0 / value}
    return {"factor": value} if match else {"lr": value}


# An LR change past this factor either way is asked about once more before it is sent: x1e9 typed
# for x1e-9 sends a run to NaN.
LARGE_LR_CHANGE = 10.0


def lr_change_factor(request: dict[str, float], current: float | None) -> float | None:
    """By how much a request would move the LR (None when the current LR is not known)."""
    if "factor" in request:
        return request["factor"]
    return request["lr"] / current if current else None


def is_large_lr_change(request: dict[str, float], current: float | None) -> bool:
    factor = lr_change_factor(request, current)
    return factor is not None and not 1 / LARGE_LR_CHANGE <= factor <= LARGE_LR_CHANGE


def describe_lr_request(request: dict[str, float]) -> str:
    return (f"LR x{command_text(request['factor'])}" if "factor" in request
            else f"LR {command_text(request['lr'])}")


def new_command(action: str, **args: float) -> dict:
    """A command with a fresh id, checked the way the trainer will check it."""
    command = {"id": f"c-{int(time.time() * 1000):x}-{os.getpid()}-{next(_counter)}", "action": action,
               "time": round(time.time(), 3), **args}
    problem = command_problem(command)
    if problem:
        raise ControlError(problem)
    return command


def append_command(run_dir: str, command: dict) -> None:
    """Append one command line to the run's control file, which only its owner may write (and
    which is never reached through a symbolic link)."""
    path = os.path.join(run_dir, CONTROL_FILE_NAME)
    try:
        descriptor = open_owned(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except UnsafeFile as error:
        raise ControlError(f"refusing to use {error}") from None
    except OSError as error:
        raise ControlError(f"cannot open {path}: {error.strerror or error}") from None
    try:
        os.write(descriptor, (json.dumps(command) + "\n").encode())
    finally:
        os.close(descriptor)


def send_command(run_dir: str, action: str, **args: float) -> str:
    """Append one command; returns its id. The trainer applies it at its next safe point."""
    command = new_command(action, **args)
    append_command(run_dir, command)
    return command["id"]
