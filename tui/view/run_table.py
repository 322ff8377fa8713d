"""Every run under a runs folder at a glance, kept current cheaply: each run's log is tailed (only
the bytes added since the last look are read, and the incremental diagnosis re-runs only a run
that received records), so a refresh of fifty runs costs fifty stats and a few small reads.

A row: the run's name and host, state (with SLURM's), progress, the main validation metric's best
and last, the top finding and its severity, and the run it was restarted from (its lineage)."""
from __future__ import annotations

import math
import os
import socket
import subprocess
from dataclasses import dataclass

from tui.diagnosis.registry import ordered
from tui.follow.stream_decoder import FollowBatch
from tui.follow.target_follower import printed_metrics_due
from tui.model.curves import SegmentCurves
from tui.model.number_format import fmt
from tui.readers.log_reader import DETECT_BYTES, LogReader, UnreadableLog, resolve_target
from tui.readers.regular_file import open_regular
from tui.runs.gpu_usage import GPU_SCRIPT, NoGpu, describe_gpus, parse_gpu_report, run_here
from tui.runs.run_listing import RunEntry, list_runs
from tui.runs.run_record import OUTPUT_FILE_NAMES, RUNS_DIR, NotOurRun, is_run_dir, load_run_record
from tui.view.live_run import LiveRun
from tui.view.run_overview import launched_run_state, position_text, run_state_text

# At most this much of a run's growth is read per refresh: a run that wrote 100 MB since the last
# look catches up over several refreshes instead of stalling the screen.
MAX_BYTES_PER_REFRESH = 8 << 20


@dataclass(slots=True)
class RunRow:
    path: str
    name: str
    host: str
    state: str
    state_detail: str
    progress: str
    metric: str  # the main validation metric's name ("" when the run has none yet)
    best: str
    last: str
    finding: str  # the top finding's title, causes first
    severity: str  # "critical", "warning", "info" or ""
    parent: str | None = None  # the run directory it was restarted from
    live: bool = False
    best_at: str = ""  # " @e31": the epoch of the best
    open_findings: tuple[str, ...] = ()  # the warning and critical findings' ids, causes first
    gpu: str = ""  # "GPU 87% · 12.1/79.6 GiB": the GPUs the running run's processes compute on


class RunTail:
    """One run's log(s), read as they grow into a LiveRun and diagnosed incrementally."""

    def __init__(self, run_dir: str, thresholds: dict | None = None) -> None:
        self.run_dir = run_dir
        self.thresholds = thresholds
        self._restart()

    def _restart(self, paths: list[str] | None = None) -> None:
        self.paths = paths
        self.live = LiveRun(self.run_dir, "", self.thresholds)
        self.live.initial_read_done = True
        self._readers: dict[str, LogReader] = {}
        self._offsets: dict[str, int] = {}
        self._identities: dict[str, tuple[int, int, float]] = {}

    def refresh(self, now: float) -> bool:
        """Read what was added since the last call; True when anything was."""
        if self.paths is None:
            try:
                self.paths = resolve_target(self.run_dir)
            except UnreadableLog:
                return False  # launched, nothing logged yet
        records = []
        for path in self.paths:
            try:
                records += self._read_new(path)
            except (OSError, UnreadableLog):
                continue  # gone or unreadable for now: the next refresh looks again
        if not records:
            return False
        self.live.apply(FollowBatch(records=records), now)
        if self._fall_back_to_printed_output():
            return self.refresh(now)  # read the printed output now, not at the next look
        self.live.diagnose()
        return True

    def _read_new(self, path: str) -> list:
        info = os.stat(path)
        identity = (info.st_dev, info.st_ino, info.st_mtime)
        reader = self._readers.get(path)
        if reader is not None and self._identities[path][:2] != identity[:2]:
            self._restart(self.paths)  # rotated or replaced: read the run again from the start
            return self._read_new(path)
        if reader is not None and info.st_size < self._offsets[path] and not reader.rewrites_whole:
            self._restart(self.paths)  # truncated
            return self._read_new(path)
        if reader is not None and identity == self._identities[path] and info.st_size == self._offsets[path]:
            return []  # the common case: nothing new, one stat
        with open_regular(path) as handle:
            if reader is None:
                head = handle.read(DETECT_BYTES)
                reader = self._readers[path] = LogReader(path, head)
                handle.seek(0)
            self._identities[path] = identity
            if reader.rewrites_whole:  # trainer_state.json: read whole when it changed
                data = handle.read()
                self._offsets[path] = len(data)
                return reader.replace(data)
            handle.seek(self._offsets.get(path, 0))
            data = handle.read(MAX_BYTES_PER_REFRESH)
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
            return reader.feed(data)

    def take(self, path: str, data: bytes, whole: bool, now: float) -> None:
        """Bytes read elsewhere (over ssh): ``whole`` for a file's entire content, else what
        follows the offset this tail asked from (``offset_of``)."""
        reader = self._readers.get(path)
        if reader is None:
            reader = self._readers[path] = LogReader(path, data[:DETECT_BYTES])
        if reader.rewrites_whole:
            records = reader.replace(data)
            self._offsets[path] = 0
        else:
            records = reader.feed(data)
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
        if records:
            self.live.apply(FollowBatch(records=records), now)
            self.live.diagnose()

    def offset_of(self, path: str) -> int:
        return self._offsets.get(path, 0)

    def whole(self, path: str) -> bool:
        reader = self._readers.get(path)
        return reader is not None and reader.rewrites_whole

    def reset(self) -> None:
        """The remote file shrank: the run is read again from its start."""
        self._restart(self.paths)

    def _fall_back_to_printed_output(self) -> bool:
        """A launched run whose trainer logs no metrics is read from what it printed, as check does."""
        model = self.live.model
        printed = os.path.join(self.run_dir, OUTPUT_FILE_NAMES[0])
        if (self.paths and self.paths[0] != printed and is_run_dir(self.run_dir) and not model.series_names()
                and not model.decode_count and os.path.exists(printed) and os.path.getsize(printed)):
            try:
                due = printed_metrics_due(load_run_record(self.run_dir))  # the UI's rule: ended, or a while
            except NotOurRun:
                due = False
            if due:
                self._restart([printed])
                return True
        return False


class RunTable:
    """The rows of the runs screen and of `trainwatch ls`, one tail per run, kept between refreshes."""

    def __init__(self, root: str = RUNS_DIR, thresholds: dict | None = None, host: str | None = None) -> None:
        self.root = root
        self.thresholds = thresholds
        self.host = host or socket.gethostname()
        self._tails: dict[str, RunTail] = {}
        self._no_gpu = False  # asked once: this machine has no nvidia-smi

    def rows(self, now: float) -> list[RunRow]:
        entries = list_runs(self.root, now)
        seen = set()
        rows = []
        for entry in entries:
            seen.add(entry.path)
            if not entry.readable:
                rows.append(RunRow(entry.path, entry.name, self.host, "unreadable", entry.problem or "", "", "", "", "",
                                   "", ""))
                continue
            tail = self._tails.get(entry.path)
            if tail is None:
                tail = self._tails[entry.path] = RunTail(entry.path, self.thresholds)
            tail.refresh(now)
            rows.append(run_row(entry, tail.live, self.host))
        for gone in set(self._tails) - seen:
            del self._tails[gone]
        self._add_gpus(rows, {entry.path: entry for entry in entries})
        return rows

    def _add_gpus(self, rows: list[RunRow], entries: dict[str, RunEntry]) -> None:
        """One nvidia-smi query for every running launched run: each shows the GPUs its process
        group (or a worker whose ancestor it is) computes on, as the header does."""
        running = [row for row in rows if entries[row.path].record is not None and entries[row.path].live
                   and entries[row.path].record.pid]
        if not running or self._no_gpu:
            return
        try:
            gpus = parse_gpu_report(run_here(GPU_SCRIPT))
        except NoGpu:
            self._no_gpu = True
            return
        except (OSError, subprocess.SubprocessError):
            return  # asked again at the next refresh
        for row in running:
            pid = entries[row.path].record.pid
            mine = [gpu for gpu in gpus if pid in gpu.owners]
            row.gpu = describe_gpus(mine) if mine else ""

def run_row(entry: RunEntry, live: LiveRun, host: str) -> RunRow:
    """One row of the runs screen, from a run's listing entry and its tailed LiveRun."""
    model = live.model
    state = run_state_text(entry, model)
    detail = ""
    if entry.record is not None:
        launched = launched_run_state(entry.record, entry.live, model.status)
        detail = launched[1] if launched else ""
    metric, best, last, best_at = "", "", "", ""
    segment = next((s for s in reversed(model.segments) if s.series), None)
    if segment is not None:
        view = SegmentCurves(segment)
        curve = view.main_val or view.val_loss
        if curve is not None and len(curve):
            series = segment.series[curve.name]
            index = series.best_index()
            metric = curve.name
            best = fmt(series.values[index]) if index is not None else ""
            last = fmt(curve.values[-1])
            epoch = series.epochs[index] if index is not None else math.nan
            best_at = f" @e{int(epoch)}" if math.isfinite(epoch) else ""
    findings = ordered(live.findings)
    top = next(iter(findings), None)
    position = position_text(live) if model.series_names() else ""
    return RunRow(entry.path, entry.name, host, state, detail, position, metric, best, last,
                  top.title if top else "", top.severity if top else "",
                  entry.record.parent if entry.record is not None else None, entry.live, best_at,
                  tuple(f.id for f in findings if f.severity in ("warning", "critical")))


def lineage_order(rows: list[RunRow]) -> list[tuple[int, RunRow]]:
    """(depth, row) with each run's restarts right under it, as a tree: a child after its parent,
    newest parents first; a child whose parent is not listed stands at the top."""
    by_path = {os.path.abspath(row.path): row for row in rows}
    children: dict[str, list[RunRow]] = {}
    roots = []
    for row in rows:
        parent = os.path.abspath(row.parent) if row.parent else None
        if parent is not None and parent in by_path and parent != os.path.abspath(row.path):
            children.setdefault(parent, []).append(row)
        else:
            roots.append(row)
    ordered_rows: list[tuple[int, RunRow]] = []

    def visit(row: RunRow, depth: int) -> None:
        if any(existing is row for _, existing in ordered_rows):
            return  # a cycle in hand-edited records: each run once
        ordered_rows.append((depth, row))
        for child in children.get(os.path.abspath(row.path), []):
            visit(child, depth + 1)

    for row in roots:
        visit(row, 0)
    for row in rows:  # anything a cycle left out
        if not any(existing is row for _, existing in ordered_rows):
            ordered_rows.append((0, row))
    return ordered_rows
