"""The runs under ./runs: which exist, which look live, newest first (for bare `trainwatch`)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tui.follow.target_follower import OUTPUT_FILE_NAMES
from tui.readers.log_reader import UnreadableLog, resolve_target
from tui.run_overview import LIVE_WITHIN_SECONDS

RUNS_DIR = "runs"


@dataclass(slots=True)
class RunEntry:
    path: str
    name: str
    modified_at: float  # the newest write to any of its files
    live: bool


def _newest_write(path: str) -> float:
    newest = os.path.getmtime(path)
    for name in os.listdir(path):
        if name in OUTPUT_FILE_NAMES or name.endswith((".jsonl", ".csv", ".log", ".json", ".txt")):
            try:
                newest = max(newest, os.path.getmtime(os.path.join(path, name)))
            except OSError:
                continue
    return newest


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
        try:
            resolve_target(path)
        except UnreadableLog:
            continue
        modified = _newest_write(path)
        entries.append(RunEntry(path, name, modified, now - modified <= LIVE_WITHIN_SECONDS))
    entries.sort(key=lambda entry: -entry.modified_at)
    return entries
