"""What the header says about a run: state, elapsed, position, speed and ETA, as text."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.runs import slurm
from tui.runs.exit_status import describe_exit, exit_signal, final_status
from tui.runs.process_state import pid_alive
from tui.runs.run_record import RUN_RECORD_NAME, NotOurRun, RunRecord, load_run_record
from tui.runs.run_listing import LIVE_WITHIN_SECONDS
from tui.model.number_format import duration, epoch_number
from tui.view.live_run import LiveRun

if TYPE_CHECKING:
    from tui.runs.run_control import RunHandle



@dataclass(slots=True)
class RunOverview:
    name: str
    state: str  # running, finished, crashed, stopped, gone, live, idle, waiting; a SLURM job's: pending,
    # preempted, failed, timeout, cancelled, out of memory, node fail
    state_detail: str
    elapsed: str
    position: str
    throughput: str
    eta: str
    host: str
    format_name: str
    connection: str = ""  # "connected", "retry in 4 s (attempt 3): ..." for a remote target
    gpu: str = ""  # "GPU 87% · 12.1/79.6 GiB" while the run runs on a machine with GPUs


def run_name_of(source: str) -> str:
    """A short name: the run directory for a file inside one, else the file name."""
    path = os.path.abspath(source)
    if os.path.isdir(path):
        return os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    return f"{parent}/{os.path.basename(path)}" if parent else os.path.basename(path)


def describe_run(live: LiveRun, now: float, host: str, name: str | None = None, gpu: str = "",
                 run: RunHandle | None = None) -> RunOverview:
    """``run``: the launched run's RunHandle, when the target is one; its process tells a run that
    died without a final status (``gone``) from one that is still running."""
    model = live.model
    state, detail = _launched_state(live, run) or _state_of(live, now)
    running = state in ("running", "live")
    elapsed = None
    started = run.record.started if run is not None else None
    if started:  # a launched run: from its start, though its records carry no time of their own
        ended = run.record.ended
        elapsed = (now if running or not ended else ended) - started
    elif live.first_time is not None:
        end = now if running else (live.last_time or now)
        elapsed = end - live.first_time
    steps_per_second, epochs_per_second = _rates(live)
    return RunOverview(
        name=name or run_name_of(model.source),
        state=state,
        state_detail=detail,
        elapsed=duration(elapsed),
        position=position_text(live),
        throughput=_throughput_text(steps_per_second, epochs_per_second),
        eta=_eta_text(live, steps_per_second, epochs_per_second) if running else "—",
        host=host,
        format_name=model.format_name,
        connection=live.connection,
        gpu=gpu if running else "",
    )


def launched_run_state(record: RunRecord, alive: bool, status) -> tuple[str, str] | None:
    """A launched run's state from its process, run.json and last status (a StatusRecord or None):
    None while its trainer runs (the log then tells). Ended: the final status; else the exit code
    the supervisor recorded; else ``gone`` (trainer and supervisor both died, no final status).
    A SLURM job's state comes from SLURM first (pending with its reason, running on its nodes)."""
    if record.slurm_job_id:
        return slurm_run_state(record, status)
    if alive:
        return None
    if status is not None and status.state != "running":
        return status.state, _status_detail(status)
    if record.exit_code is not None:
        return final_status(None, record.exit_code, record.stop_signal)
    return "gone", "its process and supervisor ended without a final status"


# SLURM's endings that say more than the trainer's own status could (it never got to write one).
_SLURM_ENDINGS = {"timeout": "hit its time limit", "out of memory": "killed for running out of memory",
                  "node fail": "its node failed", "cancelled": "cancelled (scancel)", "preempted": "preempted by SLURM",
                  "failed": "failed"}


def slurm_run_state(record: RunRecord, status) -> tuple[str, str] | None:
    """A SLURM run's state: pending (SLURM's reason), running (on its nodes), else how it ended:
    the trainer's or supervisor's final status (a crash is SLURM's "failed"), or SLURM's own
    word when the job ended before anyone could write one (timeout, out of memory, node fail)."""
    job = slurm.job_state(record.slurm_job_id)  # "unknown" (with why) when SLURM does not answer
    if job.state in ("pending", "requeued"):
        after = f" after {record.requeues} preemption(s)" if record.requeues or (status and status.state == "preempted") else ""
        reason = job.reason if job.reason and job.reason != "None" else "in the queue"
        return "pending", f"job {record.slurm_job_id}: {reason}{after}"
    # Finished or stopped: said by the trainer, whatever the job still does. A crash waits for the
    # job's end, which tells whether SLURM killed it (cancelled, timeout, out of memory).
    ended_here = status is not None and status.state not in ("running", "preempted", "crashed")
    if job.state in ("running", "completing", "suspended") and not ended_here:
        if status is not None and status.state == "preempted" and record.requeues < job.restarts:
            return "preempted", f"job {record.slurm_job_id} requeued, starting again"
        return job.state, f"job {record.slurm_job_id} on {job.nodes}" if job.nodes else f"job {record.slurm_job_id}"
    if status is not None and status.state != "running":
        # The trainer's (or supervisor's) final word; the job may still be finishing around it.
        detail = _status_detail(status)
        if status.state == "crashed" and job.state in _SLURM_ENDINGS and job.state != "failed":
            # Killed by SLURM (scancel, the time limit, the OOM killer): SLURM's word says why.
            return job.state, f"{_SLURM_ENDINGS[job.state]}: {detail}" if detail else _SLURM_ENDINGS[job.state]
        return ("failed" if status.state == "crashed" else status.state), detail
    if job.state in _SLURM_ENDINGS:
        code = f" (exit code {job.exit_code})" if job.exit_code else ""
        return job.state, f"job {record.slurm_job_id} {_SLURM_ENDINGS[job.state]}{code}"
    if job.state == "completed":
        return "finished", f"job {record.slurm_job_id} completed"
    return job.state, job.reason


def state_of_source(source: str, status) -> tuple[str | None, str]:
    """For `check`: the state of the run a log belongs to, and a few words on it. A launched run
    (the source is its directory or a file in it) by its process and record, like `ls`; any other
    log by its last status; (None, "") when the log says nothing about it."""
    run_dir = source if os.path.isdir(source) else os.path.dirname(source)
    record = None
    if os.path.lexists(os.path.join(run_dir or ".", RUN_RECORD_NAME)):
        try:
            record = load_run_record(run_dir or ".")
        except NotOurRun:
            pass  # read as any log
    if record is not None:
        launched = launched_run_state(record, pid_alive(record.pid, record.pid_start_ticks), status)
        if launched is None:
            return "running", f"pid {record.pid}"
        return launched
    if status is None:
        return None, ""
    return status.state, _status_detail(status)


def _launched_state(live: LiveRun, run: RunHandle | None) -> tuple[str, str] | None:
    if run is None or run.remote:  # over ssh a liveness check is a round trip: the log tells
        return None
    status = live.model.status
    if run.record.slurm_job_id:
        return slurm_run_state(run.record, status)
    if status is not None and status.state != "running":
        return None  # it said how it ended; no process to look at
    if run.alive:
        return None
    try:
        record = run.refresh()  # the exit code, if the supervisor recorded it since
    except (NotOurRun, OSError):
        record = run.record
    return launched_run_state(record, False, status)


def _status_detail(status) -> str:
    if status.state == "crashed" and not status.message and status.exit_code is not None:
        return describe_exit(status.exit_code)
    # The supervisor's own words (which rank of a torchrun failed, and how) or the trainer's.
    return status.message


def _state_of(live: LiveRun, now: float) -> tuple[str, str]:
    status = live.model.status
    if status is not None:
        return status.state, _status_detail(status)
    if live.modified_at is None:
        return "waiting", "for the log to appear"
    age = now - live.modified_at
    if age < 10:
        return "live", "last write just now"
    if age <= LIVE_WITHIN_SECONDS:
        return "live", f"last write {duration(age // 10 * 10)} ago"
    return "idle", f"last write {duration(age)} ago"


def position_text(live: LiveRun) -> str:
    segments = [segment for segment in live.model.segments if not segment.empty]
    if not segments:
        return "no metrics yet"
    segment = segments[-1]
    parts = []
    if segment.last_epoch is not None:
        epoch = f"{epoch_number(segment.last_epoch)}"  # a tenth is enough: epoch 10.3, not 10.3333
        parts.append(f"epoch {epoch}/{live.total_epochs}" if live.total_epochs else f"epoch {epoch}")
    if segment.last_step is not None:
        parts.append(f"step {segment.last_step}/{live.total_steps}" if live.total_steps else f"step {segment.last_step}")
    if len(segments) > 1:
        parts.append(f"run {len(segments)} in log")
    return " · ".join(parts) or f"{live.model.record_count} records"


def _rates(live: LiveRun) -> tuple[float | None, float | None]:
    marks = list(live.progress)
    if len(marks) < 2:
        return None, None
    # Records without a time of their own are stamped when read: a script whose output is buffered
    # shows several epochs at once. The window starts at the furthest of those read first, or a
    # 1 epoch/s script reads as several.
    first = next(mark for mark in reversed(marks) if mark.time == marks[0].time)
    last = marks[-1]
    seconds = last.time - first.time
    if seconds <= 0:
        return None, None
    steps = (last.step - first.step) / seconds if last.step is not None and first.step is not None else None
    epochs = (last.epoch - first.epoch) / seconds if last.epoch is not None and first.epoch is not None else None
    return (steps if steps and steps > 0 else None), (epochs if epochs and epochs > 0 else None)


def _throughput_text(steps_per_second: float | None, epochs_per_second: float | None) -> str:
    if steps_per_second:
        return f"{steps_per_second:.3g} steps/s"
    if epochs_per_second:
        per_epoch = 1 / epochs_per_second
        return f"{duration(per_epoch)}/epoch" if per_epoch >= 1 else f"{epochs_per_second:.3g} epochs/s"
    return "—"


def _eta_text(live: LiveRun, steps_per_second: float | None, epochs_per_second: float | None) -> str:
    segment = live.model.current
    if live.total_steps and steps_per_second and segment.last_step is not None:
        return duration((live.total_steps - segment.last_step) / steps_per_second)
    if live.total_epochs and epochs_per_second and segment.last_epoch is not None:
        return duration((live.total_epochs - segment.last_epoch) / epochs_per_second)
    return "—"


def _until_next_tick(seconds: float) -> float:
    """How long until number_format.duration(seconds) shows something else."""
    if seconds < 60:
        return 1 - seconds % 1
    if seconds < 86400:
        return 60 - seconds % 60
    return 3600 - seconds % 3600


def seconds_until_change(live: LiveRun, now: float) -> float:
    """When the header's time texts (elapsed, last write) next change, so the UI wakes only then."""
    waits = [60.0]
    state, _ = _state_of(live, now)
    if state in ("running", "live") and live.first_time is not None:
        waits.append(_until_next_tick(max(now - live.first_time, 0)))
    if live.modified_at is not None and live.model.status is None:
        age = max(now - live.modified_at, 0)
        waits.append(10 - age % 10 if age <= LIVE_WITHIN_SECONDS else _until_next_tick(age))
    return max(min(waits), 0.2)


def run_state_text(entry, model) -> str:
    """`trainwatch ls`'s state column: a launched run by its process and exit code, any other by its
    log (``entry`` is a run_listing.RunEntry, ``model`` its RunModel or None)."""
    record = entry.record
    status = model.status if model is not None else None
    if record is not None:
        launched = launched_run_state(record, entry.live, status)
        if launched is None:
            return "running"
        state = launched[0]
        code = status.exit_code if status is not None and status.exit_code is not None else record.exit_code
    elif status is not None and status.state != "running":
        state, code = status.state, status.exit_code
    else:
        return "live" if entry.live else "idle"
    if state == "crashed" and code is not None:
        return f"crashed ({exit_signal(code) or code})"
    return state
