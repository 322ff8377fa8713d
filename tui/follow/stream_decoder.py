"""Bytes of one followed file -> records, output lines and notices, wherever the bytes come from.

A local file (FileFollower) and a file streamed from another machine over ssh (RemoteFollower)
both hand their bytes to a StreamDecoder, so every reader behaves the same on both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tui.readers.line_buffer import LineBuffer
from tui.readers.log_reader import DETECT_BYTES, LogReader, format_from_name
from tui.model.records import ReaderNotice, Record


# What happened to a followed file, said the same way whether it is here or over ssh.
FILE_NOTICES = {
    "missing": "{name}: no such file yet; waiting for it to appear",
    "back": "{name} is back; following it",
    "deleted": "{name} was deleted; waiting for it to be created again",
    "rotated": "{name} was replaced by a new file (rotated); following the new file",
    "truncated": "{name} was truncated; reading it again from its start",
    "denied": "{name}: permission denied; will look again",
}


def file_notice(kind: str, name: str) -> str:
    return FILE_NOTICES[kind].format(name=name)


@dataclass
class FollowBatch:
    """What one look at the followed files found: records, new text lines, and notices for the user."""

    records: list[Record] = field(default_factory=list)
    output_lines: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    modified_at: float | None = None  # the file's mtime, for "last write 3 s ago"
    more: bool = False  # more bytes are waiting: call again without sleeping
    connection: str | None = None  # for a remote target: the ssh connection's state, when it changed

    def __bool__(self) -> bool:
        return bool(self.records or self.output_lines or self.notices or self.connection is not None)

    def extend(self, other: FollowBatch) -> None:
        self.records.extend(other.records)
        self.output_lines.extend(other.output_lines)
        self.notices.extend(other.notices)
        self.modified_at = other.modified_at or self.modified_at
        self.more = self.more or other.more
        self.connection = other.connection if other.connection is not None else self.connection


class StreamDecoder:
    """Feeds one file's bytes to its LogReader (or, for output-only files, splits them into lines)."""

    def __init__(self, path: str, parse: bool = True) -> None:
        self.path = path
        self.parse = parse  # False: only the text lines are wanted (a run's stdout)
        self.reader: LogReader | None = None
        self._output_buffer = LineBuffer()  # for output-only files, which have no LogReader

    @property
    def format_name(self) -> str:
        return self.reader.format_name if self.reader else ""

    @property
    def rewrites_whole(self) -> bool:
        return self.reader is not None and self.reader.rewrites_whole

    @property
    def reads_in_bulk(self) -> bool:
        return self.reader is not None and self.reader.reads_in_bulk

    def detect(self, head: bytes) -> bool:
        """Pick the reader from the file's first bytes; False while there is nothing to detect from
        (blank, or a first line not yet complete, unless the file name alone tells the format).
        Raises UnreadableLog for a file no reader can read (binary data)."""
        if not self.parse or self.reader is not None:
            return True
        if not head.strip():
            return False
        if b"\n" not in head and len(head) < DETECT_BYTES and format_from_name(self.path) is None:
            return False  # the first line is still being written: too early to tell the format
        self.reader = LogReader(self.path, head)
        return True

    def feed(self, data: bytes, batch: FollowBatch) -> None:
        """Appended bytes: the records and lines they complete go into ``batch``."""
        if self.reader is None:
            batch.output_lines.extend(self._output_buffer.feed(data))
            return
        records, lines = self.reader.feed_with_lines(data)
        batch.records.extend(records)
        if self.reader.is_program_output:
            batch.output_lines.extend(lines)

    def end_of_file(self, batch: FollowBatch, keep_partial_line: bool) -> None:
        """The file ends here (deleted, rotated, truncated): its unterminated last line is final,
        or dropped when the file was cut mid-line. The reader keeps its state for the next file."""
        if self.reader is not None:
            records, lines = self.reader.end_of_file(keep_partial_line)
            batch.records.extend(records)
            if self.reader.is_program_output:
                batch.output_lines.extend(lines)
        else:
            lines = self._output_buffer.flush()
            batch.output_lines.extend(lines if keep_partial_line else [])

    def replace(self, data: bytes, batch: FollowBatch, first: bool) -> bool:
        """The whole new content of a file rewritten in place (trainer_state.json). False when it was
        caught mid-rewrite: the last good state is kept and the caller looks again at the next change."""
        records = self.reader.replace(data)
        if not first and all(isinstance(record, ReaderNotice) for record in records[1:]):
            return False
        batch.records.extend(records)
        return True

    def finish(self, batch: FollowBatch) -> None:
        """Flush what a finished file still holds back (its unterminated last line)."""
        if self.reader is not None and not self.reader.rewrites_whole and self.parse:
            batch.records.extend(self.reader.finish())
