"""The runs under ./runs: which exist, which look live, newest first (for bare `trainwatch`)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tui.follow.target_follower import OUTPUT_FILE_NAMES
from tui.launch.process_state import pid_alive
from tui.launch.run_record import NotOurRun, RunRecord, is_run_dir, load_run_record
from tui.readers.log_reader import UnreadableLog, resolve_target
from tui.run_overview import LIVE_WITHIN_SECONDS

RUNS_DIR = "runs"


@dataclass(slots=True)
class RunEntry:
    path: str
    name: str
    modified_at: float  # the newest write to any of its files
    live: bool
    record: RunRecord | None = None  # launched by `trainwatch run`: its pid and exit code are known


def _newest_write(run_dir: str, log_paths: list[str]) -> float:
    """The latest mtime of the run's log(s), its captured output and the directory itself."""
    paths = [run_dir, *log_paths, *(os.path.join(run_dir, name) for name in OUTPUT_FILE_NAMES)]
    return max(os.path.getmtime(path) for path in paths if os.path.exists(path))


def list_runs(root: str = RUNS_DIR, now: float | None = None) -> list[RunEntry]:
    """Run directories under ``root`` that hold a log, newest first."""
    if not os.path.isdir(root):
        return []
    now = time.time() if now is None else now
    entries = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        record = None
        if is_run_dir(path):
            try:
                record = load_run_record(path)
            except NotOurRun:
                pass
        try:
            log_paths = resolve_target(path)
        except UnreadableLog:
            if record is None:
                continue
            log_paths = []  # launched, but nothing logged yet
        modified = _newest_write(path, log_paths)
        # A launched run is live while its process is; anything else while it is being written.
        live = pid_alive(record.pid, record.pid_start_ticks) if record else now - modified <= LIVE_WITHIN_SECONDS
        entries.append(RunEntry(path, name, modified, live, record))
    entries.sort(key=lambda entry: -entry.modified_at)
    return entries
