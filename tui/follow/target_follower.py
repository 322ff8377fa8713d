"""Follow a tail target (a log file or a run directory): its log file(s) and the run's own output."""
from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator

from tui.follow.change_signal import SAFETY_POLL_SECONDS, ChangeSignal
from tui.follow.file_follower import FileFollower
from tui.follow.stream_decoder import FollowBatch
from tui.runs.gpu_usage import run_here
from tui.runs.run_control import RunHandle
from tui.runs.run_record import OUTPUT_FILE_NAMES, NotOurRun, RunRecord, is_run_dir, load_run_record
from tui.readers.log_reader import (DETECT_BYTES, LogReader, UnreadableLog, merged_format, order_merged_records,
                                   resolve_target)
from tui.readers.regular_file import open_regular
from tui.model.records import ReaderNotice, ResetRecord, StatusRecord

from trainers.runlog import EVENT_LOG_NAME

# A run directory's captured output, shown on the output key; read as text, never parsed for metrics.
# New lines are read at most this often (the UI redraws at most every 50 ms anyway).
MIN_BATCH_INTERVAL_SECONDS = 0.02
# A log bigger than this is first shown from its first and last lines while the worker reads it all.
PREVIEW_ABOVE_BYTES = 8 << 20
PREVIEW_TAIL_BYTES = 512 << 10
# A Hugging Face output directory's newest checkpoint-N/trainer_state.json is looked for this often
# (the Trainer saves new ones and, with save_total_limit, deletes old ones).
CHECKPOINT_LOOK_SECONDS = 2.0
_CHECKPOINT_FOLDER = re.compile(r"checkpoint-(\d+)")
# A launched command that has written no event log by then is read from what it prints instead.
PRINTED_METRICS_AFTER_SECONDS = 20.0
PRINTED_METRICS_NOTICE = "no trainwatch event log from this run: reading metrics from its printed output"


def log_paths_of(target: str) -> list[str]:
    """The files to follow for a target. A run directory with no log yet waits for its event log;
    any other directory without a log is refused (UnreadableLog), as `check` refuses it."""
    if is_run_dir(target):
        return [os.path.join(target, EVENT_LOG_NAME)]  # never its stdout.log or control file
    if not os.path.exists(target):
        raise UnreadableLog(f"{target}: no such file or directory")
    return resolve_target(target)


def has_trainer_events(records: list) -> bool:
    """Anything but a status event (which the supervisor writes for a trainer that cannot)."""
    return any(not isinstance(record, (StatusRecord, ReaderNotice)) for record in records)


def printed_metrics_due(record: RunRecord) -> bool:
    """A launched command that has run a while (or ended) without writing an event log is read
    from what it prints instead."""
    return record.ended is not None or time.time() - (record.started or 0) >= PRINTED_METRICS_AFTER_SECONDS


class TargetFollower:
    """Yields batches as the target's files change; ``stop`` ends the loop from any thread."""

    def __init__(self, target: str, poll_seconds: float = SAFETY_POLL_SECONDS) -> None:
        self.target = target
        self.poll_seconds = poll_seconds
        self.log_paths = log_paths_of(target)
        self.followers = [FileFollower(path) for path in self.log_paths]
        if os.path.isdir(target):
            for name in OUTPUT_FILE_NAMES:
                path = os.path.join(target, name)
                if path not in self.log_paths:
                    self.followers.append(FileFollower(path, parse=False))
        self._stopped = threading.Event()
        self._signal: ChangeSignal | None = None
        self.record: RunRecord | None = None
        if is_run_dir(target):
            try:
                self.record = load_run_record(target)
            except NotOurRun:
                pass
        self._printed_metrics: FileFollower | None = None
        self.trainer_logged = False  # the event log holds something the trainer wrote
        self._handle: RunHandle | None = None
        self._checkpoint_looked = time.monotonic()
        self._read_ahead: threading.Thread | None = None
        self._first_batches: list[FollowBatch] = []  # what the read-ahead read, handed out in order

    host = None  # followed here; a RemoteFollower names its host
    synced_once = True  # a local file is read through on the first look

    def run_on_host(self, script: str) -> str:
        return run_here(script)

    def run_handle(self) -> RunHandle | None:
        """A run directory's handle, made once (from the record the follower read) and kept current."""
        if self._handle is None and self.record is not None:
            self._handle = RunHandle(self.target)  # the trusted load: NotOurRun for one we may not act on
        if self._handle is not None and self.record is not None:
            self._handle.record = self.record
        return self._handle

    @property
    def source(self) -> str:
        return self.log_paths[0] if len(self.log_paths) == 1 else self.target

    @property
    def format_name(self) -> str:
        if len(self.log_paths) > 1:
            return merged_format([follower.format_name for follower in self.followers[:len(self.log_paths)]])
        if self._printed_metrics is not None:
            return self._printed_metrics.format_name
        return self.followers[0].format_name

    def preview(self) -> FollowBatch | None:
        """For one big line-based log: its first and last lines, parsed at once, so the screen shows
        where the run is within a fraction of a second while the full history is read."""
        if len(self.log_paths) != 1:
            return None
        path = self.log_paths[0]
        try:
            size = os.path.getsize(path)
            if size <= PREVIEW_ABOVE_BYTES:
                return None
            with open_regular(path) as file:
                head = file.read(DETECT_BYTES)
                file.seek(size - PREVIEW_TAIL_BYTES)
                tail = file.read(PREVIEW_TAIL_BYTES)
            reader = LogReader(path, head)
        except (OSError, UnreadableLog):
            return None  # the normal read reports it
        if reader.rewrites_whole or reader.detected == "tensorboard_events":
            return None  # not lines: no place to cut in
        if reader.reads_in_bulk:
            return None  # its whole history is read about as fast as a preview would be
        head, tail = head[:head.rfind(b"\n") + 1], tail[tail.find(b"\n") + 1:]
        return FollowBatch(records=reader.read_all(head + tail), more=True, modified_at=os.path.getmtime(path))

    def read_ahead(self) -> None:
        """Start the first look now, in a thread: the CLI calls this before it imports the screen,
        so a big history is parsed (by polars, without the GIL) while Textual loads."""
        if self._read_ahead is None:
            self._read_ahead = threading.Thread(target=self._read_first, name="trainwatch-read-ahead", daemon=True)
            self._read_ahead.start()

    def _read_first(self) -> None:
        """Looks until the history is read through (a big log comes in several chunks)."""
        try:
            while True:
                batch = self.read_once()
                self._first_batches.append(batch)
                if not batch.more or self._stopped.is_set():
                    return
        except Exception:  # the worker's next look reads on from there and reports what went wrong
            return

    def _look(self) -> FollowBatch:
        if self._read_ahead is not None:
            self._read_ahead.join()
            self._read_ahead = None
        if self._first_batches:
            return self._first_batches.pop(0)
        return self.read_once()

    def batches(self) -> Iterator[FollowBatch]:
        self._signal = ChangeSignal([follower.path for follower in self.followers], self.poll_seconds)
        owed_end = False  # a batch said more was coming: the look that finds no more is yielded too
        try:
            while not self._stopped.is_set():
                read_at = time.monotonic()
                batch = self._look()
                if batch or (owed_end and not batch.more):
                    # The consumer waits for a batch without `more` to know the history is all read
                    # (a file ending in one 200 MB line, or on a chunk boundary, ends on an empty look).
                    yield batch
                    owed_end = batch.more
                if not batch.more and not self._stopped.is_set():
                    self._signal.wait()
                    # A trainer logging a thousand lines a second would otherwise cost a batch per
                    # line: gather for a moment so the UI gets at most one batch per interval.
                    pause = MIN_BATCH_INTERVAL_SECONDS - (time.monotonic() - read_at)
                    if pause > 0:
                        self._stopped.wait(pause)
        finally:
            self._signal.close()
            for follower in self.followers:
                follower.close()

    def read_once(self) -> FollowBatch:
        """One look at every followed file."""
        batch = FollowBatch()
        self._follow_newest_checkpoint(batch)
        for follower in self.followers:
            found = follower.read_new()
            if not follower.parse and found.notices:
                found.notices = []  # a run without captured output is normal, not news
            if follower is self._printed_metrics:
                found.output_lines = []  # the output follower already shows these lines
            batch.extend(found)
        if len(self.log_paths) > 1:
            order_merged_records(batch.records)
        self.trainer_logged = self.trainer_logged or has_trainer_events(batch.records)
        self._maybe_read_printed_metrics(batch)
        return batch

    def _follow_newest_checkpoint(self, batch: FollowBatch) -> None:
        """Following a Hugging Face checkpoint-N/trainer_state.json: move to the newest checkpoint's
        as the Trainer writes it (each holds the whole history so far), also when the followed one
        was deleted (save_total_limit), instead of waiting for a folder that never comes back."""
        if len(self.log_paths) != 1 or os.path.basename(self.log_paths[0]) != "trainer_state.json":
            return
        path = self.log_paths[0]
        folder = os.path.dirname(path)
        if not _CHECKPOINT_FOLDER.fullmatch(os.path.basename(folder)):
            return
        now = time.monotonic()
        if now - self._checkpoint_looked < CHECKPOINT_LOOK_SECONDS and os.path.exists(path):
            return
        self._checkpoint_looked = now
        output = os.path.dirname(folder)
        try:
            names = os.listdir(output)
        except OSError:
            return
        steps = [(int(found.group(1)), name) for name in names if (found := _CHECKPOINT_FOLDER.fullmatch(name))
                 and os.path.isfile(os.path.join(output, name, "trainer_state.json"))]
        if not steps:
            return
        newest = os.path.join(output, max(steps)[1], "trainer_state.json")
        if newest == path:
            return
        self.followers[0].close()
        self.followers[0] = FileFollower(newest)
        self.log_paths[0] = newest
        batch.records.append(ResetRecord())  # the newer state holds the whole history again
        batch.notices.append(f"{newest}: the Trainer's newest checkpoint; following it")

    def _maybe_read_printed_metrics(self, batch: FollowBatch) -> None:
        """A launched command without a trainwatch integration writes no event log (or only the
        supervisor's final status): once it has run a while (or ended) so, parse its stdout."""
        record = self.record
        if record is None or self._printed_metrics is not None or self.trainer_logged:
            return
        if not printed_metrics_due(record):
            try:
                self.record = record = load_run_record(self.target)  # has it ended meanwhile? (a small read)
            except NotOurRun:
                return
            if not printed_metrics_due(record):
                return
        self._printed_metrics = FileFollower(os.path.join(self.target, OUTPUT_FILE_NAMES[0]))
        self.followers.append(self._printed_metrics)
        batch.notices.append(PRINTED_METRICS_NOTICE)

    def wait_stopped(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True once the follower is stopped (for helper threads)."""
        return self._stopped.wait(seconds)

    def stop(self) -> None:
        self._stopped.set()
        if self._signal is not None:
            self._signal.wake()
