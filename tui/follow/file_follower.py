"""Follow one log file as it grows, across truncation, rotation, deletion and re-creation."""
from __future__ import annotations

import os

from tui.follow.stream_decoder import FollowBatch, StreamDecoder, file_notice
from tui.readers.file_state import NO_IDENTITY, FileState
from tui.readers.log_reader import DETECT_BYTES, UnreadableLog
from tui.readers.regular_file import open_regular, read_whole

READ_CHUNK_BYTES = 4 << 20  # one batch per chunk, so a big file shows progress instead of a frozen screen
# A format read in bulk (columns) takes a 16 MB chunk in about a tenth of a second; a bulk read holds its
# chunk a few times over while it parses, so bigger chunks would cost memory, not time.
BULK_READ_CHUNK_BYTES = 16 << 20


class FileFollower:
    """Reads what was appended since the last call; never blocks, never raises for the file's sake.

    The open handle is kept between calls so that a file that is renamed away or deleted can
    still be read to its end: records written just before a rotation are not lost. A new file at
    the path is then read from its start, so nothing is read twice. Formats rewritten whole
    (trainer_state.json) are re-read when their size, mtime or inode changes.
    """

    def __init__(self, path: str, parse: bool = True) -> None:
        self.path = path
        self.parse = parse  # False: only the text lines are wanted (a run's stdout)
        self.decoder = StreamDecoder(path, parse)
        self._handle = None
        self.at = FileState()  # which file, how far, its first bytes
        self._whole_signature: tuple | None = None
        self._announced_missing = False
        self._lost_file = False  # the followed file went away; the next one found is a replacement
        self._problem: str | None = None  # the last problem told, until the file is read again
        self._mtime_at_end: int | None = None  # the mtime when we last found the file read to its end

    @property
    def format_name(self) -> str:
        return self.decoder.format_name

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def read_new(self) -> FollowBatch:
        batch = FollowBatch()
        try:
            self._read_into(batch)
        except UnreadableLog as error:
            self._tell_problem(batch, str(error))
        except PermissionError:
            self._tell_problem(batch, file_notice("denied", self.path))
            self.close()
        except OSError as error:
            self._tell_problem(batch, f"{self.path}: {error.strerror or error}; will retry")
            self.close()
        else:
            if self._handle is not None:
                self._problem = None  # read again: the next problem is news
        return batch

    def _tell_problem(self, batch: FollowBatch, message: str) -> None:
        """A problem that lasts (a directory at the path, no read permission) is looked at again at
        every poll but told once, and again only when it changes."""
        if message != self._problem:
            batch.notices.append(message)
            self._problem = message

    def finish(self) -> FollowBatch:
        """Flush what a finished file still holds back (its unterminated last line)."""
        batch = FollowBatch()
        self.decoder.finish(batch)
        return batch

    def _read_into(self, batch: FollowBatch) -> None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            status = None
        if status is not None:
            batch.modified_at = status.st_mtime
        if self._handle is None:
            self._open(status, batch)
            return
        if self.decoder.rewrites_whole:
            self._reread_whole(status, batch)
            return
        identity = NO_IDENTITY if status is None else _identity(status)
        if identity != self.at.identity:
            while self._drain(batch):  # all that was written to the old file before it went
                pass
            batch.more = False
            self._end_file(batch, keep_partial_line=True)
            if status is None:
                batch.notices.append(file_notice("deleted", self.path))
                self._announced_missing = True
            else:
                batch.notices.append(file_notice("rotated", self.path))
                self._open(status, batch)
            return
        if status.st_size < self.at.offset or self._rewritten_in_place(status):
            self.decoder.end_of_file(batch, keep_partial_line=False)
            batch.notices.append(file_notice("truncated", self.path))
            self.at.start_over()
        self._drain(batch)

    def _open(self, status: os.stat_result | None, batch: FollowBatch) -> None:
        if status is None:
            self._problem = None  # gone is another condition, with its own notice
            if not self._announced_missing:
                batch.notices.append(file_notice("missing", self.path))
                self._announced_missing = True
            self._lost_file = True
            return
        handle = open_regular(self.path)  # a FIFO or a device is refused, never waited on
        try:
            head = handle.read(DETECT_BYTES)
            detected = bool(head.strip()) and self.decoder.detect(head)
        except BaseException:
            handle.close()
            raise
        if not detected:
            handle.close()  # nothing to detect the format from yet
            return
        if self._lost_file and self._announced_missing and self.at.seen:  # a first appearance is not "back"
            batch.notices.append(file_notice("back", self.path))
        self._announced_missing = self._lost_file = False
        self.at.seen = True
        handle.seek(0)
        self._handle = handle
        self.at.start_over(_identity(status))
        if self.decoder.rewrites_whole:
            self._reread_whole(status, batch)
        else:
            self._drain(batch)

    def _drain(self, batch: FollowBatch) -> bool:
        """Read one chunk from the open handle; True when a full chunk came (more may be waiting)."""
        handle = self._handle
        handle.seek(self.at.offset)
        chunk = BULK_READ_CHUNK_BYTES if self.decoder.reads_in_bulk else READ_CHUNK_BYTES
        data = handle.read(chunk)
        if not data:
            return False
        self.at.took(data)
        batch.more = len(data) == chunk
        self.decoder.feed(data, batch)
        return batch.more

    def _rewritten_in_place(self, status: os.stat_result) -> bool:
        """A file truncated and rewritten past our offset between two looks has other first bytes;
        so has one rewritten to exactly the size we read, looked at when its mtime moves."""
        if status.st_size == self.at.offset:
            moved, self._mtime_at_end = status.st_mtime_ns != self._mtime_at_end, status.st_mtime_ns
            if not moved:
                return False
        return self.at.rewritten(os.pread(self._handle.fileno(), len(self.at.head), 0))

    def _end_file(self, batch: FollowBatch, keep_partial_line: bool) -> None:
        """The followed file is gone from the path: its last line is final, its handle closed."""
        self.decoder.end_of_file(batch, keep_partial_line)
        self.close()
        self.at.identity = NO_IDENTITY
        self._lost_file = True

    def _reread_whole(self, status: os.stat_result | None, batch: FollowBatch) -> None:
        if status is None:
            return  # keep what we have; it comes back or it does not
        signature = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        if signature == self._whole_signature:
            return
        with open_regular(self.path) as handle:
            data = read_whole(handle)
        if self.decoder.replace(data, batch, first=self._whole_signature is None):
            self._whole_signature = signature


def _identity(status: os.stat_result) -> str:
    return f"{status.st_dev}:{status.st_ino}"
