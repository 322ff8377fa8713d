"""Split a growing byte stream into whole lines; a half-written last line waits for its end."""
from __future__ import annotations

MAX_LINE_BYTES = 1 << 20  # a longer line is skipped and counted, never held in memory whole
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark (Excel and Windows tools start files with it)


def _first_end(data: bytes) -> int:
    """The position of the first line terminator in ``data``, or -1."""
    ends = [position for position in (data.find(b"\n"), data.find(b"\r")) if position >= 0]
    return min(ends) if ends else -1


class LineBuffer:
    """Accepts appended bytes and hands back complete, decoded lines.

    ``\\r`` also ends a line: Keras 2 progress bars redraw with carriage returns and only the
    last redraw before ``\\n`` matters to readers, which keep the newest state anyway. A line
    longer than MAX_LINE_BYTES is dropped up to its end, however long it gets (a 200 MB line
    costs no more memory than a short one), and counted in ``oversized_lines``.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._at_file_start = True  # a byte-order mark may come first
        self._discarding = False  # inside an over-long line: everything up to its end is dropped
        self.oversized_lines = 0

    def feed(self, data: bytes) -> list[str]:
        """Return the lines completed by ``data``, without their terminators."""
        return self.split(self.take_complete(data))

    def take_complete(self, data: bytes) -> bytes:
        """The bytes of the lines completed by ``data`` (terminators kept, a byte-order mark and
        over-long lines left out); the rest waits for its end."""
        if not data:
            return b""
        if self._at_file_start:
            data, self._pending = self._pending + data, b""
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._pending = data  # maybe the start of a mark: wait for the rest
                return b""
            self._at_file_start = False
            if data.startswith(_BOM):
                data = data[len(_BOM):]
        if self._discarding:
            end = _first_end(data)
            if end < 0:
                return b""
            data, self._discarding = data[end + 1:], False
        data = self._pending + data
        last_end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        complete, rest = (b"", data) if last_end < 0 else (data[: last_end + 1], data[last_end + 1:])
        if len(rest) > MAX_LINE_BYTES:
            self.oversized_lines += 1
            self._discarding, rest = True, b""
        self._pending = rest
        return complete

    def split(self, complete: bytes) -> list[str]:
        """Complete lines' bytes as decoded lines, without their terminators (over-long ones counted
        in ``oversized_lines`` and left out)."""
        if not complete:
            return []
        text = complete.decode("utf-8", errors="replace")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines.pop()  # the empty string after the final terminator
        if any(len(line) > MAX_LINE_BYTES for line in lines):
            kept = [line for line in lines if len(line) <= MAX_LINE_BYTES]
            self.oversized_lines += len(lines) - len(kept)
            lines = kept
        return lines

    def flush(self) -> list[str]:
        """At the end of a finished file, the unterminated last line counts too."""
        rest = b"" if self._at_file_start else self._pending
        self.reset()
        return [rest.decode("utf-8", errors="replace")] if rest.strip() else []

    def reset(self) -> None:
        """The next bytes begin a new file."""
        self._pending = b""
        self._at_file_start, self._discarding = True, False
