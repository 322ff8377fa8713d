"""Parse what the remote stream script prints: header lines, each data header followed by its bytes."""
from __future__ import annotations

from dataclasses import dataclass

from tui.runs.sh_scripts import MARK

_HEADER_START = (MARK + " ").encode()
# The event kinds whose header announces a payload, and which header field holds its length.
_PAYLOAD_LENGTH_FIELD = {"data": 2, "whole": 1}


class ProtocolError(Exception):
    """The stream does not read as the script's output (a broken connection, a bad remote shell)."""


@dataclass(slots=True)
class StreamEvent:
    file_number: int  # 1-based, as the script numbers files; 0 for the stream itself (sync)
    kind: str  # ino, replaced, missing, denied, truncated, data, whole, sync
    args: list[str]
    payload: bytes = b""


class StreamProtocolParser:
    """Incremental: feed it whatever the pipe gave, get the complete events back. A payload cut
    off by a dropped connection stays pending and is thrown away with the parser, so the
    follower's offsets only ever move past bytes it actually received."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: StreamEvent | None = None
        self._pending_length = 0

    def feed(self, data: bytes) -> list[StreamEvent]:
        self._buffer += data
        events: list[StreamEvent] = []
        while True:
            if self._pending is not None:
                if len(self._buffer) < self._pending_length:
                    return events
                self._pending.payload = bytes(self._buffer[:self._pending_length])
                del self._buffer[:self._pending_length]
                events.append(self._pending)
                self._pending = None
                continue
            if not self._skip_to_header():
                return events
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            fields = self._buffer[:end].decode("ascii", "replace").split()
            del self._buffer[:end + 1]
            event = self._event_of(fields)
            length_field = _PAYLOAD_LENGTH_FIELD.get(event.kind)
            if length_field is None:
                events.append(event)
            else:
                self._pending, self._pending_length = event, _number(event.args, length_field)

    def _skip_to_header(self) -> bool:
        """Drop anything before the next header (what a chatty login shell printed first)."""
        if self._buffer.startswith(_HEADER_START):
            return True
        start = self._buffer.find(b"\n" + _HEADER_START)
        if start < 0:
            keep = len(_HEADER_START)  # a header may be arriving in pieces
            if len(self._buffer) > keep:
                del self._buffer[:-keep]
            return False
        del self._buffer[:start + 1]
        return True

    @staticmethod
    def _event_of(fields: list[str]) -> StreamEvent:
        if len(fields) < 3 or not fields[1].isdigit():
            raise ProtocolError(f"unexpected line from the remote script: {' '.join(fields)[:80]!r}")
        return StreamEvent(int(fields[1]), fields[2], fields[3:])


def _number(args: list[str], index: int) -> int:
    try:
        return int(args[index - 1])
    except (IndexError, ValueError):
        raise ProtocolError(f"bad length in a stream header: {args!r}") from None
