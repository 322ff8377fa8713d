"""Readers for every supported log format, chosen by file name and content."""
from tui.readers.log_reader import LogReader, SeveralRuns, UnreadableLog, read_target, resolve_target

__all__ = ["LogReader", "SeveralRuns", "UnreadableLog", "read_target", "resolve_target"]
