"""Pick the parser for a log and drive it over bytes, whether the file is whole or still growing."""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.readers.csv_log import CsvLogParser, looks_like_csv
from tui.readers.hf_trainer_state import HfTrainerStateParser
from tui.readers.json_lines import JsonLinesParser
from tui.readers.line_buffer import MAX_LINE_BYTES, LineBuffer
from tui.readers.mllog import MllogParser, looks_like_mllog
from tui.readers.mlflow_metric import MlflowMetricParser, looks_like_mlflow_metric
from tui.readers.native_jsonl import NativeJsonlParser
from tui.readers.parser_base import LineParser, StreamParser, WholeFileParser
from tui.readers.regular_file import kind_of, open_regular, read_whole
from tui.readers.tensorboard_events import SPLIT_FOLDERS, TensorBoardEventParser
from tui.readers.wandb_offline import INSTALL_HINT as WANDB_INSTALL_HINT, WANDB_MAGIC, WandbOfflineParser
from tui.readers.text_log import TextLogParser
from tui.readers.values import JSON_ERRORS
from tui.model.metric_columns import expand_columns
from tui.model.records import MetricRecord, ReaderNotice, Record, ResetRecord

from trainers.runlog import EVENT_LOG_NAME

DETECT_BYTES = 64 * 1024
# Complete lines of at least this much in one read are parsed in bulk, into columns, where the
# format's parser can (readers/bulk_columns.py): a history, not a live run's few new lines.
BULK_MIN_BYTES = 1 << 20
# In a directory, the files worth reading, best first.
_PREFERRED_NAMES = (EVENT_LOG_NAME, "trainer_state.json", "metrics.csv", "results.csv", "metrics.json",
                    "log.txt", "training_log.csv", "training.log", "train.log", "log.csv")
_LOG_SUFFIXES = (".jsonl", ".csv", ".log", ".txt", ".json", ".out", ".md")
# A run directory's own files that are no training log (the run record, the control channel, the
# supervisor's notes), whatever their suffix says.
_NOT_LOGS = ("run.json", "control.jsonl", "supervisor.log")


class UnreadableLog(Exception):
    """The target cannot be read as a training log; the message is one line for the user."""


def _is_binary(head: bytes) -> bool:
    """Mostly non-text bytes. A few NULs are tolerated: a crash can leave some in a text log."""
    sample = head[:8192]
    if not sample:
        return False
    control = sum(byte < 9 or 13 < byte < 32 for byte in sample)
    # Absolute floors too: in a short log, two stray NULs are already 5% of it.
    return (sample.count(0) > max(0.05 * len(sample), 32)
            or control > max(0.3 * len(sample), 64))


def format_from_name(path: str) -> str | None:
    """The format when the file name alone tells it (no need to wait for a first complete line)."""
    name = os.path.basename(path).lower()
    if "tfevents" in name:
        return "tensorboard_events"
    if name == "trainer_state.json":
        return "hf_trainer_state"
    if name == EVENT_LOG_NAME:
        return "trainwatch_jsonl"
    return None


def detect_format(path: str, head: bytes) -> str:
    """The format name of a log from its file name and first bytes."""
    by_name = format_from_name(path)
    if by_name is not None:
        return by_name
    if path.endswith(".wandb") or head.startswith(WANDB_MAGIC):
        # W&B's own binary record format: its history is not text, whatever bytes look printable.
        return "wandb_offline"
    if _is_binary(head):
        raise UnreadableLog(f"{path}: binary data, not a training log this tool can read")
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")  # a byte-order mark is not content
    stripped = text.lstrip()
    if stripped.startswith("{") and '"log_history"' in text:
        return "hf_trainer_state"
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "empty"
    complete = lines[:-1] if len(lines) > 1 and not text.endswith("\n") else lines
    first = complete[0].strip() if complete else lines[0].strip()
    if first.startswith("{"):
        try:
            event = json.loads(first)
        except JSON_ERRORS:
            event = None
        if isinstance(event, dict):
            if "event" in event and ("metrics" in event or event.get("event") == "run_start"):
                return "trainwatch_jsonl"
            return "json_lines"
    if looks_like_mllog(complete):
        return "mllog"  # the events amid the benchmark's prints, which come first
    if looks_like_mlflow_metric(complete[:20]):
        return "mlflow_metric"
    if looks_like_csv([line.strip() for line in complete[:2]]):
        return "csv"
    return "text"


def make_parser(format_name: str, path: str) -> LineParser | WholeFileParser | StreamParser:
    if format_name == "wandb_offline":
        try:
            return WandbOfflineParser()
        except ImportError:
            raise UnreadableLog(f"{path}: a W&B offline run file; {WANDB_INSTALL_HINT}") from None
    if format_name == "tensorboard_events":
        return TensorBoardEventParser(SPLIT_FOLDERS.get(os.path.basename(os.path.dirname(path)).lower(), ""))
    if format_name == "hf_trainer_state":
        return HfTrainerStateParser()
    if format_name == "trainwatch_jsonl":
        return NativeJsonlParser()
    if format_name == "json_lines":
        return JsonLinesParser()
    if format_name == "mllog":
        return MllogParser()
    if format_name == "mlflow_metric":
        return MlflowMetricParser(path)
    if format_name == "csv":
        return CsvLogParser(path)
    return TextLogParser()


class LogReader:
    """Turns the bytes of one log into records, incrementally.

    ``feed`` takes appended bytes; ``replace`` takes the whole new content of a file that is
    rewritten rather than appended (it starts with a ResetRecord); ``finish`` flushes what a
    finished file still holds back (an unterminated last line, an epoch not yet closed).
    """

    def __init__(self, path: str, head: bytes) -> None:
        self.path = path
        self.detected = detect_format(path, head)
        self.parser = make_parser(self.detected, path)
        self._lines = LineBuffer()
        self._oversized_told = 0

    @property
    def format_name(self) -> str:
        return self.parser.format_name

    @property
    def is_program_output(self) -> bool:
        """A text log is the training program's own printed output, worth showing as is."""
        return isinstance(self.parser, TextLogParser)

    @property
    def rewrites_whole(self) -> bool:
        return isinstance(self.parser, WholeFileParser)

    @property
    def reads_in_bulk(self) -> bool:
        """Big reads of this format are parsed into columns (a history loads in one go)."""
        return getattr(self.parser, "reads_in_bulk", False)

    def feed(self, data: bytes) -> list[Record]:
        return self.feed_with_lines(data)[0]

    def feed_with_lines(self, data: bytes) -> tuple[list[Record], list[str]]:
        """The records completed by ``data`` and the complete text lines it held (none for binary formats)."""
        if isinstance(self.parser, WholeFileParser):
            raise TypeError("a whole-file format is read with replace()")
        if isinstance(self.parser, StreamParser):
            return self.parser.feed(data), []
        complete = self._lines.take_complete(data)
        if len(complete) >= BULK_MIN_BYTES and self.parser.reads_in_bulk:
            records = self.parser.parse_bulk(complete)
            if records is not None:
                return self._with_notices(records), []
        lines = self._lines.split(complete)
        return self._with_notices(self.parser.parse_lines(lines)), lines

    def _with_notices(self, records: list[Record]) -> list[Record]:
        """``records`` and a notice when lines were skipped for their length since the last one."""
        skipped, self._oversized_told = self._lines.oversized_lines - self._oversized_told, self._lines.oversized_lines
        if skipped:
            records.append(ReaderNotice(f"skipped {skipped} line(s) longer than {MAX_LINE_BYTES >> 20} MB"))
        return records

    def end_of_file(self, keep_partial_line: bool = True) -> tuple[list[Record], list[str]]:
        """The file being read ends here (deleted, rotated or truncated) but the run goes on:
        its unterminated last line is final, or dropped when the file was cut mid-line.
        Unlike ``finish`` the parser keeps its state, so the next file continues the run."""
        if isinstance(self.parser, (WholeFileParser, StreamParser)):
            return [], []
        lines = self._lines.flush()
        if not keep_partial_line:
            return self._with_notices([]), []
        return self._with_notices(self.parser.parse_lines(lines)), lines

    def replace(self, data: bytes) -> list[Record]:
        assert isinstance(self.parser, WholeFileParser)
        return [ResetRecord(), *self.parser.parse_whole(data)]

    def finish(self) -> list[Record]:
        if isinstance(self.parser, WholeFileParser):
            return []
        if isinstance(self.parser, StreamParser):
            return self.parser.finish()
        return self._with_notices(self.parser.parse_lines(self._lines.flush())) + self.parser.finish()

    def read_all(self, data: bytes) -> list[Record]:
        """Every record of a complete file."""
        if self.rewrites_whole:
            return self.replace(data)[1:]
        return self.feed(data) + self.finish()


def resolve_target(target: str) -> list[str]:
    """The log file(s) to read for a target path: the file itself, or the best ones in a directory."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        gone = "a symbolic link to a file that does not exist" if os.path.islink(target) else "no such file or directory"
        raise UnreadableLog(f"{target}: {gone}") from None
    except OSError as error:  # a symlink loop, a folder on the way that we may not enter
        raise UnreadableLog(f"{target}: {error.strerror or error}") from None
    if stat.S_ISREG(mode):
        return [target]
    if not stat.S_ISDIR(mode):
        raise UnreadableLog(f"{target}: {kind_of(mode)}, not a log file or directory")
    entries: list[tuple[float, str]] = []
    special: list[str] = []  # FIFOs, devices, sockets: never opened, named when nothing else is found
    for root, dirs, files in os.walk(target):  # folders it may not read are passed over silently
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        depth = root.count(os.sep) - target.count(os.sep)
        relative = os.path.relpath(root, target)
        prefix = "" if relative == "." else relative + os.sep
        for name in dirs:
            status = _stat_or_none(os.path.join(root, name))
            if status is not None:
                entries.append((status.st_mtime, prefix + name + os.sep))
        if depth >= LISTING_DEPTH:
            dirs[:] = []  # listed, not entered: /usr is looked at, not walked whole
        for name in files:
            status = _stat_or_none(os.path.join(root, name))  # None: a dangling link, a loop, gone meanwhile
            if status is not None and stat.S_ISREG(status.st_mode):
                entries.append((status.st_mtime, prefix + name))
            elif status is not None:
                special.append(f"{prefix + name} ({kind_of(status.st_mode)})")
    entries.sort(key=lambda entry: -entry[0])
    try:
        return pick_logs(target, [name for _, name in entries])
    except UnreadableLog as error:
        if special:
            raise UnreadableLog(f"{error}; not read: {', '.join(special[:3])}") from None
        raise


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


# How deep below a directory target logs are looked for.
LISTING_DEPTH = 3


def pick_logs(target: str, listing: list[str]) -> list[str]:
    """The best log file(s) among a directory's entries: paths relative to ``target``, newest
    first, directories ending in "/". Shared by local directories and ones listed over ssh."""
    directories = {entry.rstrip("/") for entry in listing if entry.endswith("/")}
    if "metrics" in directories and "params" in directories:
        files = sorted(entry for entry in listing if entry.startswith("metrics/") and entry.count("/") == 1
                       and not entry.endswith("/"))
        if files:
            return [f"{target.rstrip('/')}/{name}" for name in files]  # an MLflow run: one file per metric
    candidates: list[tuple[int, int, str]] = []
    for order, entry in enumerate(listing):
        if entry.endswith("/"):
            continue
        lowered = entry.rsplit("/", 1)[-1].lower()
        if lowered in _NOT_LOGS:
            continue
        if lowered in _PREFERRED_NAMES:
            rank = _PREFERRED_NAMES.index(lowered)
        elif "tfevents" in lowered:
            rank = len(_PREFERRED_NAMES)
        elif lowered.endswith(".wandb"):  # a W&B run folder's history, not its logs/debug*.log
            rank = len(_PREFERRED_NAMES) + 1
        elif lowered.endswith(_LOG_SUFFIXES):
            rank = len(_PREFERRED_NAMES) + 2
        else:
            continue
        candidates.append((rank, order, entry))
    if not candidates:
        raise UnreadableLog(f"{target}: no training log found in this directory")
    best = min(candidates)[2]
    if "tfevents" in best.lower():
        runs = _tensorboard_runs(candidates)
        if len(runs) > 1:
            shown = ", ".join(run or "." for run in runs[:4]) + (", …" if len(runs) > 4 else "")
            raise SeveralRuns(f"{target}: {len(runs)} TensorBoard runs here ({shown}); name one, e.g. "
                              f"{target.rstrip('/')}/{runs[0]}", [f"{target.rstrip('/')}/{run}" for run in runs])
    return [f"{target.rstrip('/')}/{name}" for name in _with_split_siblings(best, candidates)]


def _tensorboard_runs(candidates: list[tuple[int, int, str]]) -> list[str]:
    """The run folders holding event files, newest first: an event file's folder, or the folder
    above a split folder (Keras's ``exp1/train`` and ``exp1/validation`` are the one run ``exp1``)."""
    runs: dict[str, None] = {}
    for _, _, entry in sorted(candidates, key=lambda candidate: candidate[1]):
        folder, _, name = entry.rpartition("/")
        if "tfevents" not in name.lower():
            continue
        parent, _, split = folder.rpartition("/")
        runs.setdefault(parent if split.lower() in SPLIT_FOLDERS else folder, None)
    return list(runs)


def _with_split_siblings(best: str, candidates: list[tuple[int, int, str]]) -> list[str]:
    """An event file in a split folder (train/) comes with the newest event file of each sibling
    split folder (validation/): Keras's TensorBoard callback writes one run as the two."""
    folder, _, name = best.rpartition("/")
    parent, _, split = folder.rpartition("/")
    if "tfevents" not in name.lower() or split.lower() not in SPLIT_FOLDERS:
        return [best]
    chosen = {split.lower(): best}
    for _, _, entry in sorted(candidates, key=lambda candidate: candidate[1]):  # newest first
        entry_folder, _, entry_name = entry.rpartition("/")
        entry_parent, _, entry_split = entry_folder.rpartition("/")
        if (entry_parent == parent and entry_split.lower() in SPLIT_FOLDERS and "tfevents" in entry_name.lower()
                and entry_split.lower() not in chosen):
            chosen[entry_split.lower()] = entry
    # Training first: the merged records keep each step's training row before its validation one.
    return sorted(chosen.values(), key=lambda entry: SPLIT_FOLDERS[entry.rpartition("/")[0].rpartition("/")[2].lower()]
                  != "train")


def merged_format(format_names: list[str]) -> str:
    """The format of a target read as several files: an MLflow run (one file per metric), or the
    files' own format when they share it (Keras's train/ and validation/ event files)."""
    format_names = [name for name in format_names if name]  # a file not detected yet says nothing
    if not format_names:
        return ""
    if len(set(format_names)) == 1 and format_names[0] != "mlflow_metric":
        return format_names[0]
    return "mlflow_run" if "mlflow_metric" in format_names else "+".join(dict.fromkeys(format_names))


class SeveralRuns(UnreadableLog):
    """A folder of several TensorBoard runs (``runs/exp1``, ``runs/exp2``): which one is the user's
    to say. ``runs``: their folders, newest first (the UI offers them to pick from)."""

    def __init__(self, message: str, runs: list[str]) -> None:
        super().__init__(message)
        self.runs = runs


@dataclass
class TargetContents:
    """Everything read from a target, for the headless check."""

    source: str
    format_name: str
    records: list[Record] = field(default_factory=list)


# A single big file is read and handed over in pieces of this size: each is parsed (in bulk, where
# the format allows) and applied before the next, so a check never holds a 1 GB log at once.
READ_PIECE_BYTES = 16 << 20


def order_merged_records(records: list[Record]) -> None:
    """MLflow keeps one file per metric: order the points by step so they read as one run."""
    records[:] = expand_columns(records)
    records.sort(key=lambda record: record.step if isinstance(record, MetricRecord) and record.step is not None else 0)


def read_target(target: str, sink: Callable[[list[Record]], None] | None = None) -> TargetContents:
    """Read a file or directory completely (the headless path used by ``trainwatch check``).
    With ``sink``, a single file's records go to it piece by piece instead of into the result."""
    files = resolve_target(target)
    merged: list[Record] = []
    format_name, format_names = "", []
    for path in files:
        try:
            with open_regular(path) as handle:
                head = handle.read(DETECT_BYTES)
                reader = LogReader(path, head)
                if reader.detected == "empty":
                    raise UnreadableLog(f"{path}: the file is empty")
                if reader.rewrites_whole:
                    merged.extend(reader.read_all(read_whole(handle, head)))
                elif sink is None or len(files) > 1:
                    merged.extend(reader.read_all(head + handle.read()))
                else:
                    piece = head
                    while piece:
                        sink(reader.feed(piece))
                        piece = handle.read(READ_PIECE_BYTES)
                    sink(reader.finish())
                format_name = reader.format_name  # a parser may name its dialect only once it has read it
                format_names.append(format_name)
        except OSError as error:
            raise UnreadableLog(f"{path}: {error.strerror or error}") from None
    if len(files) > 1:
        order_merged_records(merged)
        format_name = merged_format(format_names)
    if sink is not None and merged:
        sink(merged)
        merged = []
    return TargetContents(files[0] if len(files) == 1 else target, format_name, merged)
