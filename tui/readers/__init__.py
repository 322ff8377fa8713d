"""Readers for every supported log format, chosen by file name and content."""
from tui.readers.log_reader import LogReader, UnreadableLog, read_target, resolve_target

__all__ = ["LogReader", "UnreadableLog", "read_target", "resolve_target"]
