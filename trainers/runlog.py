"""The trainwatch event log: an append-only JSON Lines file, one event per line.

This module is the whole contract between a training process and trainwatch. It is
stdlib-only so that any training script can import it (or write the same lines by hand).

Every line is one JSON object with an ``event`` key and a wall-clock ``time`` (seconds since
the epoch). The events:

- ``{"event": "run_start", "time": t, "resumed_from": "ckpt.pt" | null, "start_epoch": 0,
  "start_step": 0, "dataset_sizes": {"train": 4376, "val": 512}, "config": {...}, "control": true}``
  A new training segment begins (a resume appends a second ``run_start`` to the same log).
  ``control`` says the trainer reads the control channel (LR change, checkpoint, graceful stop).
- ``{"event": "metrics", "time": t, "step": 120, "epoch": 3, "metrics": {"loss": 0.41,
  "val_loss": 0.52, "lr": 0.001}}``  Keras-style names: ``val_`` prefix for validation.
- ``{"event": "decode", "time": t, "step": 120, "epoch": 3, "reference": "the cat",
  "hypothesis": "the", "blank_ratio": 0.93, "sample": "utt-17"}``  One sample decode.
- ``{"event": "status", "time": t, "state": "running" | "finished" | "crashed" | "stopped",
  "exit_code": null, "message": ""}``
- ``{"event": "ack", "time": t, "command_id": "c3", "action": "set_lr", "applied": true,
  "detail": {"lr": 0.0002, "previous_lr": 0.001, "step": 120, "epoch": 3},
  "message": "lr 0.001 -> 0.0002"}``  A control command was applied (or refused: ``applied`` false).
- ``{"event": "checkpoint", "time": t, "step": 120, "epoch": 3, "path": "ckpt/last.pt", "tag": "last"}``
  ``tag`` is ``last``, ``best`` or ``manual``: a restart can resume from the last or the best one.
- ``{"event": "text", "time": t, "stream": "stderr", "text": "RuntimeWarning: ..."}``

NaN and infinities are written as ``NaN``/``Infinity`` (Python's json default), which the
trainwatch reader accepts. A half-written last line is normal while the file grows; a RunLog
opened on a file that ends mid-line (its writer was killed) starts on a new line.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import stat
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

SCHEMA_VERSION = 1
EVENT_KINDS = ("run_start", "metrics", "decode", "status", "ack", "checkpoint", "text")
RUN_STATES = ("running", "finished", "crashed", "stopped", "preempted")  # preempted: checkpointed before SLURM's time limit
EVENT_LOG_NAME = "events.jsonl"


def _clean_number(value: Any) -> Any:
    """Turn numpy/torch scalars into plain floats so json can write them."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _close_at_exit(reference: weakref.ref) -> None:
    log = reference()
    if log is not None:
        log.close()  # what is still queued reaches the file


def _ends_mid_line(descriptor: int, path: str) -> bool:
    """Does the regular file open on ``descriptor`` end with anything but a newline?"""
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return False
    try:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never waits, should the name be swapped
    except OSError:
        return False
    try:
        return os.pread(reader, 1, info.st_size - 1) not in (b"\n", b"")
    except OSError:
        return False
    finally:
        os.close(reader)


def _owner_writable_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o644)


def _drop_shared_write(path: str) -> None:
    """chmod g-w,o-w on a file (or a checkpoint folder and its files) we own; quietly nothing else."""
    try:
        paths = [path, *(os.path.join(path, name) for name in os.listdir(path))] if os.path.isdir(path) else [path]
        for each in paths:
            info = os.lstat(each)
            if info.st_uid == os.getuid() and not stat.S_ISLNK(info.st_mode):
                os.chmod(each, stat.S_IMODE(info.st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        pass  # not saved yet (the Hugging Face Trainer saves after the callback), or not ours


# The text event rank 0 of a multi-process run writes when another rank on its machine ended first
# and the run then ended unfinished (trainers/ranks.py): the supervisor names that rank in the crash
# (launchers other than torchrun, Lightning's among them, report nothing of the kind).
PEER_GONE_TEXT = "trainwatch: rank {rank} (pid {pid}) ended before the run did"


class RunLog:
    """Appends events to a JSON Lines file, one line per event, never truncating (a resumed run
    appends to the same file).

    ``metrics`` is on the training loop's hot path, so it only queues the values (about 1 us); a
    writer thread formats the queued events, writes them and flushes, within a millisecond or so
    of the call. Every other event (run_start, status, ack, checkpoint, ...) is written and flushed
    before its call returns, after whatever was queued before it, so the order of the file is the
    order of the calls. Thread-safe; ``close`` (and interpreter exit) writes what is still queued.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        # 0644 whatever the umask: a restart trusts the checkpoints this log records, so in a
        # group-shared directory (umask 002) nobody else may append a forged one.
        self._file: TextIO = open(self.path, "a", encoding="utf-8", opener=_owner_writable_opener)
        if _ends_mid_line(self._file.fileno(), self.path):
            # A process killed mid-line (a crash, the OOM killer) left half an event: ours start on
            # a line of their own, or the first (a final status, a resume's run_start) would be lost
            # with it.
            self._file.write("\n")
            self._file.flush()
        self._lock = threading.Lock()  # one writer at a time: lines stay whole and in order
        self._queue: deque[tuple] = deque()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        atexit.register(_close_at_exit, weakref.ref(self))

    def metrics(self, step: int | None = None, epoch: float | None = None, **values: Any) -> None:
        """Log metric values, e.g. ``log.metrics(step=10, epoch=1, loss=0.4, val_loss=0.5)``.
        Queued: the values (floats, numpy or torch scalars) are converted and written by the writer thread."""
        queue = self._queue
        was_empty = not queue
        queue.append((time.time(), step, epoch, values))
        if was_empty:
            if self._writer is None:
                self._start_writer()
            self._wake.set()

    def write(self, event: str, **fields: Any) -> None:
        """Write one event line now (after anything queued before it); ``fields`` become top-level keys."""
        record = {"event": event, "time": round(time.time(), 3)}
        record.update(fields)
        line = json.dumps(record, default=_clean_number, separators=(",", ":")) + "\n"
        with self._lock:
            self._write_queued()
            if not self._file.closed:
                self._file.write(line)
                self._file.flush()

    def flush(self) -> None:
        """Write and flush everything queued so far."""
        with self._lock:
            self._write_queued()

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="trainwatch-runlog", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        while not self._file.closed:
            # The timeout is a safety net for a wake-up lost between draining and waiting.
            self._wake.wait(0.2)
            self._wake.clear()
            self.flush()

    def _write_queued(self) -> None:
        """Format and write the queued metrics (the caller holds the lock)."""
        queue = self._queue
        if not queue or self._file.closed:
            return
        lines = []
        while queue:
            stamp, step, epoch, values = queue.popleft()
            clean = {name: _clean_number(value) for name, value in values.items()}
            lines.append(json.dumps({"event": "metrics", "time": round(stamp, 3), "step": step, "epoch": epoch,
                                     "metrics": clean}, default=_clean_number, separators=(",", ":")))
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def run_start(self, resumed_from: str | None = None, start_epoch: int = 0, start_step: int = 0,
                  dataset_sizes: dict[str, int] | None = None, config: dict[str, Any] | None = None,
                  control: bool = False, **extra: Any) -> None:
        """``extra``: more top-level fields (a multi-process run's ``world_size`` and ``ranks``)."""
        self.write("run_start", schema=SCHEMA_VERSION, resumed_from=resumed_from, start_epoch=start_epoch,
                   start_step=start_step, dataset_sizes=dataset_sizes or {}, config=config or {}, control=control,
                   **extra)

    def decode(self, reference: str, hypothesis: str, step: int | None = None, epoch: float | None = None,
               blank_ratio: float | None = None, sample: str | None = None) -> None:
        fields: dict[str, Any] = {"step": step, "epoch": epoch, "reference": reference, "hypothesis": hypothesis}
        if blank_ratio is not None and not math.isnan(float(blank_ratio)):
            fields["blank_ratio"] = float(blank_ratio)
        if sample is not None:
            fields["sample"] = sample
        self.write("decode", **fields)

    def status(self, state: str, exit_code: int | None = None, message: str = "") -> None:
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {', '.join(RUN_STATES)}")
        self.write("status", state=state, exit_code=exit_code, message=message)

    def ack(self, command_id: str, action: str, applied: bool, detail: dict[str, Any] | None = None,
            message: str = "") -> None:
        self.write("ack", command_id=command_id, action=action, applied=applied, detail=detail or {},
                   message=message)

    def checkpoint(self, path: str, step: int | None = None, epoch: float | None = None, tag: str = "last") -> None:
        """Record a saved checkpoint, and take group and others' write permission from its file: a
        restart resumes from it, and loading a checkpoint someone else rewrote can run their code."""
        _drop_shared_write(path)
        self.write("checkpoint", path=path, step=step, epoch=epoch, tag=tag)

    def rank_timing(self, step: int | None, seconds_per_step: float, waiting: list[float]) -> None:
        """A multi-process run's ranks: seconds per step, and how long each rank waited per step
        for the others at trainwatch's safe point (index = rank)."""
        self.write("rank_timing", step=step, seconds_per_step=round(seconds_per_step, 6),
                   waiting=[round(value, 6) for value in waiting])

    def text(self, text: str, stream: str = "stdout") -> None:
        self.write("text", stream=stream, text=text)

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._write_queued()
                self._file.close()
        self._wake.set()  # lets the writer thread see the file closed and end

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str], kind: str, must_contain: str | None = None,
                tail_bytes: int | None = None) -> Iterator[dict[str, Any]]:
    """The events of one kind in an event log, in order. A missing file yields nothing; a line that
    is not JSON (the half-written last one) is skipped. ``must_contain`` filters lines before they
    are parsed; ``tail_bytes`` reads only the end of the file."""
    try:
        with open(path, "rb") as file:
            if tail_bytes is not None:
                file.seek(0, os.SEEK_END)
                file.seek(max(0, file.tell() - tail_bytes))
            data = file.read().decode("utf-8", "replace")
    except OSError:
        return
    yield from events_in_lines(data.splitlines(), kind, must_contain)


def events_in_lines(lines: Iterable[str], kind: str, must_contain: str | None = None) -> Iterator[dict[str, Any]]:
    """The events of one kind among event-log lines (read here, or fetched from another machine)."""
    marker = f'"{kind}"'
    for line in lines:
        if marker not in line or (must_contain is not None and must_contain not in line):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == kind:
            yield event
