"""Restart a run with a preset: plan (and show) the changes, stop the parent, launch the child.

Nothing of the parent is touched but its process: the child gets its own run directory, linked to
the parent by its record, and resumes from the parent's checkpoint the user chose.
"""
from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from tui.runs.launcher import launch_run
from tui.runs.presets import RESUME_CHOICES, Preset, PresetError, RestartPlan, get_preset, plan_restart
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.runs.run_record import RunRecord

from trainers.control import unsafe_owner
from trainers.runlog import EVENT_LOG_NAME, read_events


def recorded_checkpoint(run_dir: str, which: str) -> str | None:
    """The newest checkpoint of that tag (last or best) the run logged and that still exists.

    A ``last`` request also accepts a manual or best one when that is newer: the latest state wins.
    Raises PresetError when the event log or the checkpoint could have been written by someone
    else: the child loads it as the user, and loading a forged checkpoint can run its author's code.
    """
    accepted = {"last": ("last", "manual", "best"), "best": ("best",)}[which]
    event_log = os.path.join(run_dir, EVENT_LOG_NAME)
    recorded = []
    if os.path.exists(event_log):
        _require_trusted(event_log, "the checkpoints it records")
        for event in read_events(event_log, "checkpoint"):
            if event.get("tag", "last") in accepted and event.get("path"):
                path = str(event["path"])
                recorded.append(path if os.path.isabs(path) else os.path.join(run_dir, path))
    # The newest one still there: the Trainer's save_total_limit deletes older checkpoint-N folders.
    found = next((path for path in reversed(recorded) if os.path.exists(path)), None)
    if found is None:
        fallback = os.path.join(run_dir, "checkpoints", f"{which}.pt")
        found = fallback if os.path.exists(fallback) else None
    if found is not None:
        _require_trusted(found, "it")
        if os.path.isdir(found):  # a Hugging Face checkpoint-N folder: its files too
            for name in sorted(os.listdir(found)):
                _require_trusted(os.path.join(found, name), "its folder")
    return found


def _require_trusted(path: str, what: str) -> None:
    try:
        problem = unsafe_owner(os.stat(path), path)
    except OSError as error:
        problem = f"{path}: {error.strerror or error}"
    if problem:
        raise PresetError(f"cannot resume from {what}: {problem} (chmod g-w,o-w it, or restart with resume none)")


def base_name(run_name: str) -> str:
    """``ctc_reference-3`` -> ``ctc_reference``: the child is numbered in the same series."""
    return re.sub(r"-\d+$", "", run_name) or run_name


@dataclass
class RestartProposal:
    """What a restart will do, computed before anything is stopped: shown to the user to confirm."""

    parent: RunRecord
    preset: Preset
    resume: str
    resume_path: str | None
    plan: RestartPlan


def command_lines(proposal: RestartProposal) -> list[str]:
    """What the restart will run, in full, for the diff the user confirms: the command (the child's
    own directory stands for ``{run_dir}``), where, and the environment it adds."""
    lines = [f"runs: {shlex.join(proposal.plan.command)}", f"in: {proposal.parent.cwd}"]
    env = proposal.parent.env
    if env:
        lines.append("with: " + " ".join(f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())))
    return lines


def propose_restart(run_dir: str, preset_name: str, resume: str | None = None) -> RestartProposal:
    handle = RunHandle(run_dir)
    preset = get_preset(preset_name)
    resume = resume or preset.resume
    if resume not in RESUME_CHOICES:
        raise PresetError(f"resume must be one of {', '.join(RESUME_CHOICES)}, got {resume!r}")
    resume_path = None if resume == "none" else recorded_checkpoint(run_dir, resume)
    if resume != "none" and resume_path is None and not handle.alive:
        raise PresetError(f"run {handle.record.name} has no {resume} checkpoint to resume from; choose none")
    # While the parent runs, its final checkpoint does not exist yet; the stop writes it.
    plan = plan_restart(handle.record.command, handle.record.cwd, preset, resume_path)
    return RestartProposal(handle.record, preset, resume, resume_path, plan)


def restart_run(proposal: RestartProposal, timeouts: StopTimeouts | None = None,
                progress: Callable[[str], None] = lambda text: None) -> RunRecord:
    parent = RunHandle(proposal.parent.run_dir)
    shown = proposal.parent
    if (parent.record.command, parent.record.cwd, parent.record.env) != (shown.command, shown.cwd, shown.env):
        raise PresetError(f"run {shown.name}'s record changed since the restart was shown: nothing was stopped; "
                          "look at the diff again")
    if parent.alive:
        progress(f"stopping {parent.record.name}")
        progress(parent.stop(timeouts, progress))
    resume_path = None if proposal.resume == "none" else recorded_checkpoint(parent.run_dir, proposal.resume)
    if proposal.resume != "none" and resume_path is None:
        raise PresetError(f"run {parent.record.name} left no {proposal.resume} checkpoint to resume from")
    # Planned again: the stop may have written a newer checkpoint than the one shown.
    plan = plan_restart(parent.record.command, parent.record.cwd, proposal.preset, resume_path)
    return launch_run(plan.command, name=base_name(parent.record.name), root=os.path.dirname(parent.run_dir),
                      cwd=parent.record.cwd, env=parent.record.env, preset=proposal.preset.name,
                      parent=parent.run_dir, resume_from=resume_path, changes=plan.changes, files=plan.files)
