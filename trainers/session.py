"""What every integration holds: one run directory's event log and control channel.

The framework integrations (Keras, PyTorch, Lightning, Hugging Face) differ only in how they read
and set the LR, save a checkpoint and end training; this class does the rest, the same way for all:
apply each command once at a safe point and acknowledge it with what was actually done.
Stdlib only.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from trainers.control import RESUME_ENV, RUN_DIR_ENV, ControlChannel, ControlCommand
from trainers.runlog import EVENT_LOG_NAME, RunLog

# A script run by hand, not by `trainwatch run`, logs here (trainwatch's `ls` and bare `trainwatch` find it).
DEFAULT_RUN_DIR = os.path.join("runs", "manual")


def run_dir_from_env(default: str | None = None) -> str:
    """The run directory trainwatch handed over, else ``default``, else ``runs/manual``."""
    return os.environ.get(RUN_DIR_ENV) or default or DEFAULT_RUN_DIR


def resume_from_env() -> str | None:
    """The checkpoint a restart asked this process to resume from, if any."""
    return os.environ.get(RESUME_ENV) or None


class TrainwatchSession:
    """The event log plus the control channel of one run directory."""

    def __init__(self, run_dir: str | None = None) -> None:
        self.run_dir = run_dir_from_env(run_dir)
        os.makedirs(self.run_dir, exist_ok=True)
        self.log = RunLog(os.path.join(self.run_dir, EVENT_LOG_NAME))
        self.control = ControlChannel(self.run_dir, self.log)
        self.stop_requested = False

    def checkpoint_path(self, name: str) -> str:
        directory = os.path.join(self.run_dir, "checkpoints")
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, name)

    def start(self, config: dict[str, Any] | None = None, dataset_sizes: dict[str, int] | None = None,
              resumed_from: str | None = None, start_epoch: int = 0, start_step: int = 0) -> None:
        self.log.run_start(resumed_from=resumed_from, start_epoch=start_epoch, start_step=start_step,
                           dataset_sizes=dataset_sizes, config=config, control=True)
        self.log.status("running")

    def handle_commands(self, *, get_lr: Callable[[], float | None], set_lr: Callable[[float], str | None],
                        save_checkpoint: Callable[[str], str | None], step: int | None = None,
                        epoch: float | None = None) -> bool:
        """Apply every new command; True once a graceful stop was asked for.

        ``set_lr(new)`` returns None when applied, else why not. ``save_checkpoint(tag)`` saves and
        returns the path (None when it cannot). Call between batches: that is the safe point.
        """
        for command in self.control.poll():
            try:
                self._apply(command, get_lr, set_lr, save_checkpoint, step, epoch)
            except Exception as error:  # a failed command must not kill the training it controls
                self.log.ack(command.id, command.action, False, message=f"failed: {type(error).__name__}: {error}")
                print(f"trainwatch: command {command.action} failed: {error}", file=sys.stderr)
        return self.stop_requested

    def _apply(self, command: ControlCommand, get_lr: Callable[[], float | None],
               set_lr: Callable[[float], str | None], save_checkpoint: Callable[[str], str | None],
               step: int | None, epoch: float | None) -> None:
        where = {"step": step, "epoch": epoch}
        if command.action == "set_lr":
            old = get_lr()
            if old is None:
                self.log.ack(command.id, "set_lr", False, where, "refused: this trainer's LR cannot be read")
                return
            new = command.new_lr(old)
            problem = set_lr(new)
            if problem:
                self.log.ack(command.id, "set_lr", False, where, f"refused: {problem}")
                return
            # The LR series shows the change at once, not at the next epoch's metrics.
            self.log.metrics(step=step, epoch=epoch, lr=new)
            self.log.ack(command.id, "set_lr", True, {"lr": new, "previous_lr": old, **where},
                         f"lr {old:.4g} -> {new:.4g}" + (f" at step {step}" if step is not None else ""))
        elif command.action == "checkpoint":
            path = save_checkpoint("manual")
            if path is None:
                self.log.ack(command.id, "checkpoint", False, where, "refused: this trainer cannot save checkpoints")
                return
            self.log.checkpoint(path, step=step, epoch=epoch, tag="manual")
            self.log.ack(command.id, "checkpoint", True, {"path": path, **where}, f"saved {path}")
        elif command.action == "stop":
            path = save_checkpoint("last")
            if path is not None:
                self.log.checkpoint(path, step=step, epoch=epoch, tag="last")
            self.stop_requested = True
            self.log.ack(command.id, "stop", True, {"path": path, **where},
                         f"stopping after checkpoint {path}" if path else "stopping (no checkpoint support)")

    def finish(self, state: str | None = None, exit_code: int | None = 0, message: str = "") -> None:
        """Record how training ended: ``stopped`` after a stop command, else ``finished``."""
        state = state or ("stopped" if self.stop_requested else "finished")
        self.log.status(state, exit_code=exit_code, message=message)
        self.log.close()
