"""Split a growing byte stream into whole lines; a half-written last line waits for its end."""
from __future__ import annotations

MAX_LINE_BYTES = 1 << 20  # a longer line is cut and reported, never held in memory whole


class LineBuffer:
    """Accepts appended bytes and hands back complete, decoded lines.

    ``\\r`` also ends a line: Keras 2 progress bars redraw with carriage returns and only the
    last redraw before ``\\n`` matters to readers, which keep the newest state anyway.
    """

    def __init__(self) -> None:
        self._pending = b""
        self.oversized_lines = 0

    def feed(self, data: bytes) -> list[str]:
        """Return the lines completed by ``data``, without their terminators."""
        if not data:
            return []
        data = self._pending + data
        last_end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if last_end < 0:
            self._pending = self._cap(data)
            return []
        complete, self._pending = data[: last_end + 1], self._cap(data[last_end + 1:])
        text = complete.decode("utf-8", errors="replace")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines.pop()  # the empty string after the final terminator
        if any(len(line) > MAX_LINE_BYTES for line in lines):
            lines = [self._cut(line) for line in lines]
        return lines

    def flush(self) -> list[str]:
        """At the end of a finished file, the unterminated last line counts too."""
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", errors="replace")] if rest.strip() else []

    def reset(self) -> None:
        self._pending = b""

    def _cap(self, pending: bytes) -> bytes:
        if len(pending) > MAX_LINE_BYTES:
            self.oversized_lines += 1
            return pending[:MAX_LINE_BYTES]
        return pending

    def _cut(self, line: str) -> str:
        if len(line) > MAX_LINE_BYTES:
            self.oversized_lines += 1
            return line[:MAX_LINE_BYTES]
        return line
