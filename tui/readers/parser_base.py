"""The three shapes a format parser can take; every reader is one of them."""
from __future__ import annotations

from tui.model.records import Record


class LineParser:
    """A format read line by line as the file grows (most logs)."""

    format_name = "text"

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

    def feed(self, data: bytes) -> list[Record]:
        raise NotImplementedError

    def finish(self) -> list[Record]:
        return []
