"""The runs under ./runs: which exist, which look live, newest first (for bare `trainwatch`).

One broken run directory never hides the others: a dangling link, a malformed or unreadable
run.json, a directory that may not be read is listed too, as unreadable with a one-line reason.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tui.runs.process_state import pid_alive
from tui.runs.run_record import OUTPUT_FILE_NAMES, RUN_RECORD_NAME, RUNS_DIR, NotOurRun, RunRecord, load_run_record
from tui.readers.log_reader import UnreadableLog, resolve_target

# A log written to within this long is being written by a live process, as far as a tail can tell.
LIVE_WITHIN_SECONDS = 120.0



@dataclass(slots=True)
class RunEntry:
    path: str
    name: str
    modified_at: float  # the newest write to any of its files
    live: bool
    record: RunRecord | None = None  # launched by `trainwatch run`: its pid and exit code are known
    problem: str | None = None  # why it cannot be read (one line); None for a readable run

    @property
    def readable(self) -> bool:
        return self.problem is None


def _newest_write(run_dir: str, log_paths: list[str]) -> float:
    """The latest mtime of the run's log(s), its captured output and the directory itself."""
    times = []
    for path in (run_dir, *log_paths, *(os.path.join(run_dir, name) for name in OUTPUT_FILE_NAMES)):
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            pass  # not there (yet), or gone meanwhile
    return max(times, default=0.0)


def list_runs(root: str = RUNS_DIR, now: float | None = None) -> list[RunEntry]:
    """Run directories under ``root`` that hold a log or a run record, newest first, the unreadable
    ones included. Raises UnreadableLog (one line) when ``root`` is there but not a readable directory."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise UnreadableLog(f"./{root} is not a directory (runs are kept in ./{root}/NAME-N/)") from None
    except OSError as error:
        raise UnreadableLog(f"./{root}: {error.strerror or error}") from None
    now = time.time() if now is None else now
    entries = [entry for entry in (_entry(root, name, now) for name in names if not name.startswith("."))
               if entry is not None]
    entries.sort(key=lambda entry: -entry.modified_at)
    return entries


def _entry(root: str, name: str, now: float) -> RunEntry | None:
    """One name under ``root``: a run, an unreadable run, or None for anything that is no run (a file)."""
    path = os.path.join(root, name)
    try:
        link = os.lstat(path)
    except OSError:
        return None  # gone since the listing
    try:
        info = os.stat(path)
    except OSError as error:  # a link to nothing, a link loop
        return _unreadable(path, name, link.st_mtime, f"a symbolic link that leads nowhere ({error.strerror})")
    if not os.path.isdir(path):
        return None
    try:
        os.listdir(path)
    except OSError as error:
        return _unreadable(path, name, info.st_mtime, f"the directory cannot be read ({error.strerror})")
    record = None
    if os.path.lexists(os.path.join(path, RUN_RECORD_NAME)):
        try:
            record = load_run_record(path)
        except NotOurRun as error:
            return _unreadable(path, name, info.st_mtime, str(error))
    try:
        log_paths = resolve_target(path)
    except UnreadableLog:
        if record is None:
            return None  # no log and no record: not a run
        log_paths = []  # launched, but nothing logged yet
    modified = _newest_write(path, log_paths)
    # A launched run is live while its process is; anything else while it is being written.
    live = pid_alive(record.pid, record.pid_start_ticks) if record else now - modified <= LIVE_WITHIN_SECONDS
    return RunEntry(path, name, modified, live, record)


def _unreadable(path: str, name: str, modified_at: float, problem: str) -> RunEntry:
    return RunEntry(path, name, modified_at, live=False, problem=" ".join(problem.split()))
