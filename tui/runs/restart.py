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


@dataclass(frozen=True)
class CheckpointChoice:
    """A checkpoint a restart can resume from: where it is and when the run saved it."""

    path: str
    tag: str
    step: int | None
    epoch: float | None


# Scores a checkpoint by the run's main validation metric there (lower is better: a score, not the
# value); None where the run has no evaluation to judge it by. Built by view.checkpoint_choice.
CheckpointJudge = Callable[[CheckpointChoice], "float | None"]


def checkpoint_choices(run_dir: str) -> list[CheckpointChoice]:
    """Every checkpoint the run recorded that is still on disk, oldest first, each path once with
    its newest event (``last.pt`` is written again at every epoch: only its latest save is there)."""
    event_log = os.path.join(run_dir, EVENT_LOG_NAME)
    newest: dict[str, CheckpointChoice] = {}
    if os.path.exists(event_log):
        _require_trusted(event_log, "the checkpoints it records")
        for event in read_events(event_log, "checkpoint"):
            if not event.get("path"):
                continue
            path = str(event["path"])
            path = path if os.path.isabs(path) else os.path.join(run_dir, path)
            step, epoch = event.get("step"), event.get("epoch")
            newest.pop(path, None)  # re-inserted last: the order is that of the newest saves
            newest[path] = CheckpointChoice(path, str(event.get("tag", "last")),
                                            step if isinstance(step, int) else None,
                                            float(epoch) if isinstance(epoch, (int, float)) else None)
    # The newest ones still there: the Trainer's save_total_limit deletes older checkpoint-N folders.
    return [choice for choice in newest.values() if os.path.exists(choice.path)]


def recorded_checkpoint(run_dir: str, which: str, judge: CheckpointJudge | None = None) -> str | None:
    """The path of the checkpoint ``which`` names (see chosen_checkpoint)."""
    chosen = chosen_checkpoint(run_dir, which, judge)
    return chosen.path if chosen is not None else None


def chosen_checkpoint(run_dir: str, which: str, judge: CheckpointJudge | None = None) -> CheckpointChoice | None:
    """The checkpoint to resume from: ``last``, the newest (a manual or best one when newer: the
    latest state wins); ``best``, with a judge the one the run's main validation metric (the one
    the findings speak of) rates best among those kept, whatever the trainer tagged; without one,
    or with nothing to judge by, the newest the trainer tagged best.

    Raises PresetError when the event log or the checkpoint could have been written by someone
    else: the child loads it as the user, and loading a forged checkpoint can run its author's code.
    """
    choices = checkpoint_choices(run_dir)
    accepted = {"last": ("last", "manual", "best"), "best": ("best",)}[which]
    found = next((choice for choice in reversed(choices) if choice.tag in accepted), None)
    if which == "best" and judge is not None:
        scored = [(score, index) for index, choice in enumerate(choices) if (score := judge(choice)) is not None]
        if scored:
            found = choices[min(scored)[1]]  # ties: the earlier save, as a best-so-far rule keeps it
    if found is None:
        fallback = os.path.join(run_dir, "checkpoints", f"{which}.pt")
        found = CheckpointChoice(fallback, which, None, None) if os.path.exists(fallback) else None
    if found is not None:
        _require_trusted(found.path, "it")
        if os.path.isdir(found.path):  # a Hugging Face checkpoint-N folder: its files too
            for name in sorted(os.listdir(found.path)):
                _require_trusted(os.path.join(found.path, name), "its folder")
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
    resume_at: CheckpointChoice | None = None  # the checkpoint resume_path names, with when it was saved
    judge: CheckpointJudge | None = None  # how "best" was chosen, used again once the stop has saved


def command_lines(proposal: RestartProposal) -> list[str]:
    """What the restart will run, in full, for the diff the user confirms: the command (the child's
    own directory stands for ``{run_dir}``), where, and the environment it adds."""
    lines = [f"runs: {shlex.join(proposal.plan.command)}", f"in: {proposal.parent.cwd}"]
    env = proposal.parent.env
    if env:
        lines.append("with: " + " ".join(f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())))
    return lines


def propose_restart(run_dir: str, preset_name: str, resume: str | None = None,
                    judge: CheckpointJudge | None = None) -> RestartProposal:
    handle = RunHandle(run_dir)
    preset = get_preset(preset_name)
    resume = resume or preset.resume
    if resume not in RESUME_CHOICES:
        raise PresetError(f"resume must be one of {', '.join(RESUME_CHOICES)}, got {resume!r}")
    resume_at = None if resume == "none" else chosen_checkpoint(run_dir, resume, judge)
    resume_path = resume_at.path if resume_at is not None else None
    if resume != "none" and resume_path is None and not handle.alive:
        raise PresetError(f"run {handle.record.name} has no {resume} checkpoint to resume from; choose none")
    # While the parent runs, its final checkpoint does not exist yet; the stop writes it.
    plan = plan_restart(handle.record.command, handle.record.cwd, preset, resume_path)
    return RestartProposal(handle.record, preset, resume, resume_path, plan, resume_at, judge)


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
    resume_path = (None if proposal.resume == "none"
                   else recorded_checkpoint(parent.run_dir, proposal.resume, proposal.judge))
    if proposal.resume != "none" and resume_path is None:
        raise PresetError(f"run {parent.record.name} left no {proposal.resume} checkpoint to resume from")
    # Planned again: the stop may have written a newer checkpoint than the one shown.
    plan = plan_restart(parent.record.command, parent.record.cwd, proposal.preset, resume_path)
    return launch_run(plan.command, name=base_name(parent.record.name), root=os.path.dirname(parent.run_dir),
                      cwd=parent.record.cwd, env=parent.record.env, preset=proposal.preset.name,
                      parent=parent.run_dir, resume_from=resume_path, changes=plan.changes, files=plan.files)
