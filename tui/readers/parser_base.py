"""The three shapes a format parser can take; every reader is one of them."""
from __future__ import annotations

from tui.model.records import Record


class LineParser:
    """A format read line by line as the file grows (most logs)."""

    format_name = "text"
    # True where ``parse_bulk(data) -> records | None`` reads a big block of complete lines into
    # columns (readers/bulk_columns.py); None hands the block back to parse_lines.
    reads_in_bulk = False

    def parse_bulk(self, data: bytes) -> list[Record] | None:
        return None

    def parse_lines(self, lines: list[str]) -> list[Record]:
        raise NotImplementedError

    def finish(self) -> list[Record]:
        """Records held back while waiting for more lines (an epoch not yet closed)."""
        return []


class WholeFileParser:
    """A format that is rewritten whole (trainer_state.json): re-read every time it changes."""

    format_name = "whole"

    def parse_whole(self, data: bytes) -> list[Record]:
        raise NotImplementedError


class StreamParser:
    """A binary format with its own framing (TensorBoard event files)."""

    format_name = "stream"
    reads_in_bulk = False  # True where ``feed`` decodes a big read into columns itself

    def feed(self, data: bytes) -> list[Record]:
        raise NotImplementedError

    def finish(self) -> list[Record]:
        return []
