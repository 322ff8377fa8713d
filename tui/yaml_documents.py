"""YAML documents from files anyone may have written: read safely, within a size, depth and alias budget.

Every YAML file trainwatch reads goes through here: the user's config, presets, themes, diagnosis
thresholds and the training command's own config that a preset rewrites. PyYAML's SafeLoader already
refuses to build objects; what it does not refuse is a "billion laughs" document, whose aliases
share nodes so it parses quickly, but which expands to ~10^9 values the moment anything walks it (a
preset searching the config for a key, a theme turning a value into text). So the composer counts
the values each node expands to and stops past a limit; recursive aliases, which no walk ends, are
refused, and so is nesting deep enough to exhaust the stack.
"""
from __future__ import annotations

from typing import Any

import yaml

from tui.readers.regular_file import open_regular

# Far above any real config (a 1 MiB file of short plain values holds about that many), and passed
# within a few levels by an alias bomb.
MAX_YAML_BYTES = 1024 * 1024
MAX_EXPANDED_VALUES = 200_000
MAX_DEPTH = 100


class YamlDocumentError(Exception):
    """A YAML file or text that cannot be used; the message is one line, without the path."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing  # the file does not exist (callers that have a default use it)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that records what each composed node expands to, aliases included."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._expanded: dict[int, int] = {}  # id(node) -> values it stands for, once composed
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._expanded:
                raise YamlDocumentError(f"recursive alias *{event.anchor} at line {event.start_mark.line + 1}")
            return super().compose_node(parent, index)  # its size was recorded when its anchor was composed
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlDocumentError(f"nested more than {MAX_DEPTH} levels deep "
                                    f"(line {self.peek_event().start_mark.line + 1})")
        node = super().compose_node(parent, index)
        self._depth -= 1
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else [])
        size = 1 + sum(self._expanded[id(child)] for child in children)
        if size > MAX_EXPANDED_VALUES:
            raise YamlDocumentError(f"expands to more than {MAX_EXPANDED_VALUES:,} values through its aliases "
                                    f"(line {node.start_mark.line + 1})")
        self._expanded[id(node)] = size
        return node


def parse_yaml(data: bytes | str) -> Any:
    """The one document in ``data`` (UTF-8 bytes or text), or YamlDocumentError."""
    if isinstance(data, bytes):
        data = _decoded(data)
    if len(data) > MAX_YAML_BYTES:
        raise YamlDocumentError(f"larger than the {MAX_YAML_BYTES // 1024} KiB a YAML file may be")
    loader = None
    try:
        loader = _BoundedLoader(data)  # its reader already refuses control characters
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = ", ".join(_first_line(part) for part in (error.context, error.problem) if part)
        raise YamlDocumentError(f"not valid YAML: {what or 'unreadable'}{where}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as error:
        # ValueError: a value its constructor refuses (an int past Python's digit limit, 2024-13-45).
        raise YamlDocumentError(f"not valid YAML: {_first_line(error)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str) -> Any:
    """The document in the YAML file at ``path``, or YamlDocumentError."""
    return parse_yaml(read_yaml_text(path))


def read_yaml_text(path: str) -> str:
    """The text of the YAML file at ``path``. A FIFO or device is refused without blocking on it
    (opened non-blocking, checked on the descriptor), and a file past MAX_YAML_BYTES is not read."""
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as error:
        raise YamlDocumentError(_os_reason(error), missing=isinstance(error, FileNotFoundError)) from None
    if len(data) > MAX_YAML_BYTES:
        raise YamlDocumentError(f"larger than the {MAX_YAML_BYTES // 1024} KiB a YAML file may be")
    return _decoded(data)


def value_text(value: Any) -> str:
    """A value from a YAML document as an error line shows it: its repr, cut short."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit limit for text
        return "a number too long to print"
    return text if len(text) <= 40 else text[:37] + "..."


def key_text(key: Any) -> str:
    """A mapping key as an error line names it: text as written, anything else as value_text."""
    return key if isinstance(key, str) else value_text(key)


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise YamlDocumentError(f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})") from None


def _os_reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _first_line(value: Any) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else type(value).__name__
