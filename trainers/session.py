"""What every integration holds: one run directory's event log and control channel.

The framework integrations (Keras, PyTorch, Lightning, Hugging Face) differ only in how they read
and set the LR, save a checkpoint and end training; this class does the rest, the same way for all:
apply each command once at a safe point and acknowledge it with what was actually done.

In a multi-process run (torchrun, Lightning DDP, Accelerate) every rank holds a session: rank 0
writes the event log and reads the control channel; at a safe point the ranks exchange one small
object (trainers/ranks.py), so a command is applied on every rank at the same step and acknowledged
once, with the number of ranks that applied it. Stdlib only.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from trainers.control import RESUME_ENV, RUN_DIR_ENV, ControlChannel, ControlCommand
from trainers.ranks import PeerWatch, Ranks, detect_ranks, launcher_world_size, process_identity, watch_peers
from trainers.runlog import EVENT_LOG_NAME, RunLog

# A script run by hand, not by `trainwatch run`, logs here (trainwatch's `ls` and bare `trainwatch` find it).
DEFAULT_RUN_DIR = os.path.join("runs", "manual")
# In a multi-process run, the ranks agree at every SYNC_EVERY-th safe point (one small collective
# each time); settable per integration (``sync_every=``) or for any script by this variable.
SYNC_EVERY_ENV = "TRAINWATCH_SYNC_EVERY"
# Set to 1 to log the other ranks' metrics too, as rank1/loss, ..., so that a straggler shows.
RANK_METRICS_ENV = "TRAINWATCH_RANK_METRICS"
# A process its launcher calls one of one looks for a process group (mp.spawn sets no WORLD_SIZE)
# at every this many safe points: counted, not timed, so every rank looks at the same one.
LOOK_EVERY_SAFE_POINTS = 64
# Every this many exchanges the ranks also tell how long they waited at them: the rank the others
# wait for (a straggler) waits least. Rank 0 logs it as a rank_timing event.
TIMING_EVERY_EXCHANGES = 50


def run_dir_from_env(default: str | None = None) -> str:
    """The run directory trainwatch handed over, else ``default``, else ``runs/manual``."""
    return os.environ.get(RUN_DIR_ENV) or default or DEFAULT_RUN_DIR


def resume_from_env() -> str | None:
    """The checkpoint a restart asked this process to resume from, if any."""
    return os.environ.get(RESUME_ENV) or None


class OtherRankLog:
    """The event log as a rank other than 0 sees it: nothing is written. Its metrics are dropped,
    or kept for rank 0 to log as ``rank<N>/<name>`` at the next exchange when per-rank metrics are on."""

    def __init__(self, keep_metrics: bool) -> None:
        self.keep_metrics = keep_metrics
        self.kept: list[tuple[int | None, float | None, dict[str, Any]]] = []

    def metrics(self, step: int | None = None, epoch: float | None = None, **values: Any) -> None:
        if self.keep_metrics:
            numbers = {name: number for name, value in values.items() if (number := _plain_number(value)) is not None}
            self.kept.append((step, epoch, numbers))

    def take_kept(self) -> list:
        kept, self.kept = self.kept, []
        return kept

    def __getattr__(self, name: str) -> Callable[..., None]:
        # run_start, status, ack, checkpoint, text, decode, write, flush, close: rank 0's to write.
        return _ignore


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


def _plain_number(value: Any) -> Any:
    """A float for the exchange (a torch scalar pickles with its tensor machinery otherwise)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TrainwatchSession:
    """The event log plus the control channel of one run directory, on one rank of the run."""

    def __init__(self, run_dir: str | None = None, *, sync_every: int | None = None,
                 rank_metrics: bool | None = None) -> None:
        self.run_dir = run_dir_from_env(run_dir)
        env_sync = os.environ.get(SYNC_EVERY_ENV, "")
        self.sync_every = max(1, sync_every or (int(env_sync) if env_sync.isdigit() else 1))
        self.rank_metrics = rank_metrics if rank_metrics is not None else os.environ.get(RANK_METRICS_ENV) == "1"
        self.stop_requested = False
        self.preempted = False  # the stop came from SLURM's warning signal (see finish)
        self._ranks: Ranks | None = None
        self._log: RunLog | OtherRankLog | None = None
        self._control: ControlChannel | None = None
        self._safe_points = 0
        # Under a launcher that started several processes a group is coming: until it is found no
        # command is applied (it would be applied on rank 0 alone).
        self._group_expected = launcher_world_size() > 1
        self._looks = 0
        self._exchanges = 0
        self._waited = 0.0  # seconds this rank spent in the safe points' collectives since the last timing
        self._timed_since = time.monotonic()
        self._timed_at = 0  # the safe point of the last timing
        self._peers: PeerWatch | None = None  # rank 0's watch on the other ranks of its machine

    # Which rank this is ----------------------------------------------------------------------

    @property
    def ranks(self) -> Ranks:
        if self._ranks is None:
            self._ranks = detect_ranks()
        return self._ranks

    def _look_for_process_group(self, now: bool = False) -> None:
        """At start, and while no process group is found at every safe point of a run its launcher
        started several processes for (else at every LOOK_EVERY_SAFE_POINTS-th): Lightning and the
        Hugging Face Trainer make their group after the callback exists, a script maybe after its
        TorchControl. Every rank finds it at the same call (making it is a collective), so they
        exchange together. (Not at every ``log`` access: that is the training loop's hot path.)"""
        if self._ranks is not None and self._ranks.world_size > 1:
            return
        self._looks += 1
        if not now and self._ranks is not None and not self._group_expected and self._looks % LOOK_EVERY_SAFE_POINTS:
            return  # a one-process run (as far as its launcher says): looked at now and then
        self._group_expected = self._group_expected or launcher_world_size() > 1
        self._ranks = detect_ranks()
        if isinstance(self._log, RunLog) and not self.is_writer:
            # Opened before the process group told this rank it is not rank 0 (mp.spawn sets no
            # RANK): nothing was written yet; from now on rank 0 writes.
            self._log.close()
            self._log = self._control = None

    @property
    def is_writer(self) -> bool:
        """Rank 0: the one that writes the event log and reads the control channel."""
        return self.ranks.rank == 0

    @property
    def log(self) -> RunLog | OtherRankLog:
        if self._log is None:
            if self.is_writer:
                os.makedirs(self.run_dir, exist_ok=True)
                self._log = RunLog(os.path.join(self.run_dir, EVENT_LOG_NAME))
            else:
                self._log = OtherRankLog(self.rank_metrics)
        return self._log

    @property
    def control(self) -> ControlChannel:
        if self._control is None:
            self._control = ControlChannel(self.run_dir, self.log)
        return self._control

    def checkpoint_path(self, name: str) -> str:
        directory = os.path.join(self.run_dir, "checkpoints")
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, name)

    # The run -----------------------------------------------------------------------------------

    def start(self, config: dict[str, Any] | None = None, dataset_sizes: dict[str, int] | None = None,
              resumed_from: str | None = None, start_epoch: int = 0, start_step: int = 0) -> None:
        """Call on every rank: a multi-process run records each rank's host, pid and device."""
        self._look_for_process_group(now=True)  # Lightning's launcher sets WORLD_SIZE after the callback exists
        ranks = self.ranks
        extra: dict[str, Any] = {}
        if ranks.world_size > 1:
            identities = ranks.exchange(process_identity())
            extra = {"world_size": ranks.world_size,
                     "ranks": [{"rank": rank, **identity} for rank, identity in enumerate(identities)]}
            if self.is_writer:
                log = self.log  # opened first: its own close at exit must come after the watch's last word
                self._peers = watch_peers(identities, lambda text: log.text(text, stream="stderr"))
        self.log.run_start(resumed_from=resumed_from, start_epoch=start_epoch, start_step=start_step,
                           dataset_sizes=dataset_sizes, config=config, control=True, **extra)
        self.log.status("running")

    def handle_commands(self, *, get_lr: Callable[[], float | None], set_lr: Callable[[float], str | None],
                        save_checkpoint: Callable[[str], str | None], step: int | None = None,
                        epoch: float | None = None, save_on_every_rank: bool = False) -> bool:
        """Apply every new command; True once a graceful stop was asked for.

        ``set_lr(new)`` returns None when applied, else why not. ``save_checkpoint(tag)`` saves and
        returns the path (None when it cannot). Call between batches, on every rank: that is the safe
        point. ``save_on_every_rank``: the framework's save is itself a collective that writes once
        (Lightning's ``trainer.save_checkpoint``, the Trainer's ``should_save``); else rank 0 saves
        while the others wait at a barrier.
        """
        self._look_for_process_group()
        ranks = self.ranks
        if ranks.world_size == 1:
            commands = self.control.poll() if self.is_writer and not self._group_expected else []
        else:
            self._safe_points += 1
            if self._safe_points % self.sync_every:
                return self.stop_requested
            commands = self._agreed_commands(ranks, step, epoch)
        for command in commands:
            outcome = self._outcome(command, get_lr, set_lr, save_checkpoint, step, epoch, ranks, save_on_every_rank)
            if ranks.world_size > 1:
                # Every rank combines the same outcomes, so all decide alike (a stop whose checkpoint
                # failed on rank 0 stops no rank: none is left alone inside DDP's next all-reduce).
                outcome = _combined(ranks.exchange(outcome), ranks.world_size, step, command.action)
            if command.action == "stop" and outcome["applied"]:
                self.stop_requested = True
                # SLURM's warning before the time limit (the supervisor asks): a preemption, resumed
                # from this checkpoint when the job is requeued.
                self.preempted = self.preempted or command.args.get("reason") == "preempted"
            self._acknowledge(command, outcome, step, epoch)
        return self.stop_requested

    def _agreed_commands(self, ranks: Ranks, step: int | None, epoch: float | None) -> list[ControlCommand]:
        """A safe point's collective: is there anything to exchange (one number, all_reduce)? Only
        then rank 0's new commands go to every rank and the other ranks' kept metrics to rank 0."""
        mine: dict[str, Any] = {}
        if self.is_writer:
            mine["commands"] = [(command.id, command.action, command.args) for command in self.control.poll()]
        elif isinstance(self.log, OtherRankLog) and self.log.kept:
            mine["metrics"] = self.log.take_kept()
        self._exchanges += 1
        timing = self._exchanges % TIMING_EVERY_EXCHANGES == 0  # the same exchange on every rank
        if timing:
            mine["timing"] = (self._waited, self._safe_points - self._timed_at)
        arrived = time.monotonic()
        if not timing and not ranks.any(bool(mine.get("commands") or mine.get("metrics"))):
            self._waited += time.monotonic() - arrived
            return []  # the usual case: one all_reduce of one number, and on
        gathered = ranks.exchange(mine)
        self._waited += time.monotonic() - arrived
        if timing:
            self._log_timing(gathered, step)
        if self.is_writer:
            for rank, payload in enumerate(gathered):
                for kept_step, kept_epoch, values in (payload or {}).get("metrics", []):
                    self.log.metrics(step=kept_step, epoch=kept_epoch,
                                     **{f"rank{rank}/{name}": value for name, value in values.items()})
        return [ControlCommand(*fields) for fields in (gathered[0] or {}).get("commands", [])]

    def _log_timing(self, gathered: list[Any], step: int | None) -> None:
        now = time.monotonic()
        if self.is_writer:
            steps = max(1, self._safe_points - self._timed_at)
            waits = [(payload or {}).get("timing", (0.0, steps)) for payload in gathered]
            self.log.rank_timing(step, (now - self._timed_since) / steps,
                                 [waited / max(1, their_steps) for waited, their_steps in waits])
        self._waited, self._timed_since, self._timed_at = 0.0, now, self._safe_points

    def _outcome(self, command: ControlCommand, get_lr: Callable[[], float | None],
                 set_lr: Callable[[float], str | None], save_checkpoint: Callable[[str], str | None],
                 step: int | None, epoch: float | None, ranks: Ranks, save_on_every_rank: bool) -> dict[str, Any]:
        """What applying ``command`` did on this rank: {"applied", "detail", "message"}."""
        where = {"step": step, "epoch": epoch}
        try:
            if command.action == "set_lr":
                old = get_lr()
                if old is None:
                    return _refused(where, "refused: this trainer's LR cannot be read")
                new = command.new_lr(old)
                problem = set_lr(new)
                if problem:
                    return _refused(where, f"refused: {problem}")
                return {"applied": True, "detail": {"lr": new, "previous_lr": old, **where},
                        "message": f"lr {old:.4g} -> {new:.4g}" + (f" at step {step}" if step is not None else "")}
            tag = "manual" if command.action == "checkpoint" else "last"
            path = self._save_once(save_checkpoint, tag, ranks, save_on_every_rank)
            if command.action == "stop":  # stop_requested is set once every rank's outcome is known
                return {"applied": True, "detail": {"path": path, **where}, "tag": tag,
                        "message": f"stopping after checkpoint {path}" if path else "stopping (no checkpoint support)"}
            if path is None and (self.is_writer or save_on_every_rank):
                return _refused(where, "refused: this trainer cannot save checkpoints")
            return {"applied": True, "detail": {"path": path, **where}, "tag": tag, "message": f"saved {path}"}
        except Exception as error:  # a failed command must not kill the training it controls
            print(f"trainwatch: command {command.action} failed: {error}", file=sys.stderr)
            return _refused(where, f"failed: {type(error).__name__}: {error}")

    def _save_once(self, save_checkpoint: Callable[[str], str | None], tag: str, ranks: Ranks,
                   save_on_every_rank: bool) -> str | None:
        """One checkpoint file for the run, whatever its number of ranks."""
        if ranks.world_size == 1 or save_on_every_rank:
            return save_checkpoint(tag)
        try:
            return save_checkpoint(tag) if self.is_writer else None
        finally:
            ranks.barrier()  # the others wait until it is written (and a stop ends them together)

    def _acknowledge(self, command: ControlCommand, outcome: dict[str, Any], step: int | None,
                     epoch: float | None) -> None:
        path = outcome["detail"].get("path")
        if outcome["applied"] and path and "tag" in outcome:
            self.log.checkpoint(path, step=step, epoch=epoch, tag=outcome["tag"])
        if command.action == "set_lr" and outcome["applied"]:
            # The LR series shows the change at once, not at the next epoch's metrics.
            self.log.metrics(step=step, epoch=epoch, lr=outcome["detail"]["lr"])
        self.log.ack(command.id, command.action, outcome["applied"], outcome["detail"], outcome["message"])

    def finish(self, state: str | None = None, exit_code: int | None = 0, message: str = "") -> None:
        """Record how training ended: ``stopped`` after a stop command, else ``finished`` (rank 0)."""
        state = state or ("stopped" if self.stop_requested else "finished")
        if self.preempted and state == "stopped":
            state, message = "preempted", message or "checkpointed before SLURM's time limit"
        if self._peers is not None:
            self._peers.finished.set()  # the others ending now is the run ending
        self.log.status(state, exit_code=exit_code, message=message)
        self.log.close()


def _refused(where: dict[str, Any], message: str) -> dict[str, Any]:
    return {"applied": False, "detail": dict(where), "message": message}


def _combined(outcomes: list[dict[str, Any]], world_size: int, step: int | None, action: str) -> dict[str, Any]:
    """Every rank's outcome of one command as rank 0 acknowledges it: applied when applied on all,
    with on how many ranks and at which step; rank 0's path and LR; the first refusal's reason."""
    applied = sum(1 for outcome in outcomes if outcome["applied"])
    first = outcomes[0]
    detail = {**first["detail"], "ranks_applied": applied, "world_size": world_size}
    if applied == world_size:
        return {**first, "detail": detail, "message": f"{first['message']} on all {world_size} ranks"}
    refused_on = next(rank for rank, outcome in enumerate(outcomes) if not outcome["applied"])
    message = f"{outcomes[refused_on]['message']} on rank {refused_on}"
    if action == "set_lr" and applied:  # an LR is set where it can be: say that the ranks now differ
        message += f" (applied on {applied} of {world_size} ranks" + (f" at step {step}" if step is not None else "") \
            + ": their LRs now differ)"
    elif action == "stop":
        message += ": no rank stopped"
    return {"applied": False, "detail": detail, "message": message}
