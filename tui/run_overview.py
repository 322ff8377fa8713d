"""What the header says about a run: state, elapsed, position, speed and ETA, as text."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from tui.live_run import LiveRun

# A log written to within this long is being written by a live process, as far as a tail can tell.
LIVE_WITHIN_SECONDS = 120.0


@dataclass(slots=True)
class RunOverview:
    name: str
    state: str  # running, finished, crashed, stopped, live, idle, waiting
    state_detail: str
    elapsed: str
    position: str
    throughput: str
    eta: str
    host: str
    format_name: str
    connection: str = ""  # "connected", "retry in 4 s (attempt 3): ..." for a remote target
    gpu: str = ""  # "GPU 87% · 12.1/79.6 GiB" while the run runs on a machine with GPUs


def format_duration(seconds: float | None) -> str:
    """Seconds only under a minute, minutes after: the header then changes at most once a
    minute on a long run, which keeps the UI's idle CPU near zero (it only repaints on change)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def run_name_of(source: str) -> str:
    """A short name: the run directory for a file inside one, else the file name."""
    path = os.path.abspath(source)
    if os.path.isdir(path):
        return os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    return f"{parent}/{os.path.basename(path)}" if parent else os.path.basename(path)


def describe_run(live: LiveRun, now: float, host: str, name: str | None = None, gpu: str = "") -> RunOverview:
    model = live.model
    state, detail = _state_of(live, now)
    running = state in ("running", "live")
    elapsed = None
    if live.first_time is not None:
        end = now if running else (live.last_time or now)
        elapsed = end - live.first_time
    steps_per_second, epochs_per_second = _rates(live)
    return RunOverview(
        name=name or run_name_of(model.source),
        state=state,
        state_detail=detail,
        elapsed=format_duration(elapsed),
        position=_position(live),
        throughput=_throughput_text(steps_per_second, epochs_per_second),
        eta=_eta_text(live, steps_per_second, epochs_per_second) if running else "—",
        host=host,
        format_name=model.format_name,
        connection=live.connection,
        gpu=gpu if running else "",
    )


def _state_of(live: LiveRun, now: float) -> tuple[str, str]:
    status = live.model.status
    if status is not None:
        if status.state == "crashed":
            return "crashed", f"exit code {status.exit_code}" if status.exit_code is not None else status.message
        return status.state, status.message
    if live.modified_at is None:
        return "waiting", "for the log to appear"
    age = now - live.modified_at
    if age < 10:
        return "live", "last write just now"
    if age <= LIVE_WITHIN_SECONDS:
        return "live", f"last write {format_duration(age // 10 * 10)} ago"
    return "idle", f"last write {format_duration(age)} ago"


def _position(live: LiveRun) -> str:
    segments = [segment for segment in live.model.segments if not segment.empty]
    if not segments:
        return "no metrics yet"
    segment = segments[-1]
    parts = []
    if segment.last_epoch is not None:
        epoch = f"{segment.last_epoch:g}"
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
    first, last = marks[0], marks[-1]
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
        return f"{format_duration(per_epoch)}/epoch" if per_epoch >= 1 else f"{epochs_per_second:.3g} epochs/s"
    return "—"


def _eta_text(live: LiveRun, steps_per_second: float | None, epochs_per_second: float | None) -> str:
    segment = live.model.current
    if live.total_steps and steps_per_second and segment.last_step is not None:
        return format_duration((live.total_steps - segment.last_step) / steps_per_second)
    if live.total_epochs and epochs_per_second and segment.last_epoch is not None:
        return format_duration((live.total_epochs - segment.last_epoch) / epochs_per_second)
    return "—"


def _until_next_tick(seconds: float) -> float:
    """How long until format_duration(seconds) shows something else."""
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
    if record is not None and entry.live:
        return "running"
    if status is not None and status.state != "running":
        code = status.exit_code if status.exit_code is not None else (record.exit_code if record else None)
        return f"{status.state} ({code})" if status.state == "crashed" and code is not None else status.state
    if record is not None:
        if record.exit_code is None:
            return "gone (no exit code)"
        return "finished" if record.exit_code == 0 else f"crashed ({record.exit_code})"
    return "live" if entry.live else "idle"
