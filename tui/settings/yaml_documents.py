"""YAML documents from files anyone may have written: read safely, within a size, depth and alias budget.

Every YAML file trainwatch reads goes through here: the user's config, presets, themes, diagnosis
thresholds and the training command's own config that a preset rewrites. ruamel.yaml reads them as
YAML 1.2 (so ``1e-4`` is a number, as most people mean it, not the string PyYAML's YAML 1.1 makes
of it), with its pure-Python parser, whose composer this module bounds. The safe loader builds only
plain values and refuses any other tag; the round-trip loader, for the two files trainwatch writes
back (the command's config, the user's config), keeps comments, anchors and quoting and builds an
unknown tag as inert tagged data, never an object. What neither refuses is a "billion laughs"
document, whose aliases share nodes so it parses quickly, but which expands to ~10^9 values the
moment anything walks it (a preset searching the config for a key, a theme turning a value into
text). So the composer counts the values each node expands to and stops past a limit; recursive
aliases, which no walk ends, are refused, and so is nesting deep enough to exhaust the stack.

Writing back (EditableYaml) replaces only the changed values' own characters in the text, so
every other number keeps its spelling exactly (ruamel re-renders numbers from their value and
format: ``1_000.5`` would come back ``01000.5``); only a value that has no characters of its own
to replace (empty, an alias, anchored or tagged) falls back to ruamel's writer for the whole file.
"""
from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarbool import ScalarBoolean

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


class _BoundedComposer(Composer):
    """ruamel's composer, recording what each composed node expands to, aliases included, and
    where each scalar's characters are (for EditableYaml)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # legal YAML (the later anchor wins); no warning on stderr
        self._expanded: dict[int, int] = {}  # id(node) -> values it stands for, once composed
        self._depth = 0
        # (line, column) where a scalar starts -> its (start, end) offsets in the text
        self.scalar_spans: dict[tuple[int, int], tuple[int, int]] = getattr(loader, "scalar_spans", {})

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._expanded:
                raise YamlDocumentError(f"recursive alias *{event.anchor} at line {event.start_mark.line + 1}")
            return super().compose_node(parent, index)  # its size was recorded when its anchor was composed
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlDocumentError(f"nested more than {MAX_DEPTH} levels deep "
                                    f"(line {self.parser.peek_event().start_mark.line + 1})")
        node = super().compose_node(parent, index)
        self._depth -= 1
        children = node.value if isinstance(node, SequenceNode) else (
            [part for pair in node.value for part in pair] if isinstance(node, MappingNode) else [])
        size = 1 + sum(self._expanded[id(child)] for child in children)
        if size > MAX_EXPANDED_VALUES:
            raise YamlDocumentError(f"expands to more than {MAX_EXPANDED_VALUES:,} values through its aliases "
                                    f"(line {node.start_mark.line + 1})")
        self._expanded[id(node)] = size
        if isinstance(node, ScalarNode):  # an empty value starts where the next key does: first wins
            self.scalar_spans.setdefault((node.start_mark.line, node.start_mark.column),
                                         (node.start_mark.index, node.end_mark.index))
        return node


class _RoundTripRepresenter(RoundTripRepresenter):
    """Writes a new float as both YAML 1.1 and 1.2 read it: ``1.0e-05``, not ``1e-05``, which
    PyYAML (what many trainers read their config with) takes for a string."""

    def represent_float(self, data: Any) -> Any:
        text = repr(data).lower()
        if "e" in text and "." not in text and data == data and abs(data) != float("inf"):
            return self.represent_scalar("tag:yaml.org,2002:float", text.replace("e", ".0e", 1))
        return super().represent_float(data)


_RoundTripRepresenter.add_representer(float, _RoundTripRepresenter.represent_float)


def _yaml(typ: str) -> YAML:
    """A fresh ruamel YAML (one per document: its state is not shared between threads)."""
    yaml = YAML(typ=typ, pure=True)  # pure: the C parser would skip the bounded composer
    yaml.Composer = _BoundedComposer
    if typ == "rt":
        yaml.Representer = _RoundTripRepresenter
        yaml.preserve_quotes = True
    yaml.width = 4096  # long lines stay as written, not folded at 80 columns
    yaml.sort_base_mapping_type_on_output = False
    yaml.default_flow_style = False
    return yaml


def parse_yaml(data: bytes | str) -> Any:
    """The one document in ``data`` (UTF-8 bytes or text) as plain values, or YamlDocumentError."""
    return _load(_yaml("safe"), data)


class EditableYaml:
    """A YAML text to change values in and write back with everything else as it was.

    ``data`` is the round-trip document: mappings and lists that are dict and list subclasses
    (numbers are int and float subclasses; an anchored boolean is an int: see is_number). Change a
    value with ``set``; ``text()`` is the text with the changes."""

    def __init__(self, text: str) -> None:
        yaml = _yaml("rt")
        yaml.scalar_spans = {}
        self.data = _load(yaml, text)
        self.original = text
        self._spans: dict[tuple[int, int], tuple[int, int]] = yaml.scalar_spans
        # (id(mapping), key) -> (mapping, key, the value the text had), for each value changed
        self._changed: dict[tuple[int, Any], tuple[Any, Any, Any]] = {}

    def set(self, mapping: dict, key: Any, value: Any) -> None:
        """``mapping[key] = value`` (mapping is one of data's, key already in it or new)."""
        self._changed.setdefault((id(mapping), key), (mapping, key, mapping.get(key)))
        mapping[key] = value

    def text(self) -> str:
        """The text with every change made; YamlDocumentError when it cannot be written."""
        patched = self._patched()
        if patched is not None:
            return patched
        return _dump_round_trip(self.data, self.original)

    def _patched(self) -> str | None:
        """The original text with each changed value's characters replaced by its new spelling;
        None when a change has no characters of its own to replace."""
        replacements: dict[int, tuple[int, str]] = {}
        for mapping, key, was in self._changed.values():
            position = _value_position(mapping, key)
            span = self._spans.get(position) if position is not None else None
            spelled = _flow_spelling(mapping[key])
            if span is None or spelled is None or span[0] >= span[1] or self.original[span[0]] in "&!*":
                return None
            if span[0] in replacements or not _spells(self.original[span[0]:span[1]], was):
                return None  # those characters are not this value's alone
            replacements[span[0]] = (span[1], spelled)
        text = self.original
        for start in sorted(replacements, reverse=True):
            end, spelled = replacements[start]
            text = text[:start] + spelled + text[end:]
        try:
            parse_yaml(text)
        except YamlDocumentError:
            return None
        return text


def _value_position(mapping: Any, key: Any) -> tuple[int, int] | None:
    """(line, column) where ``mapping[key]``'s value started in the text it was read from."""
    try:
        line, column = mapping.lc.value(key)
    except (AttributeError, KeyError, TypeError):
        return None  # a plain dict, or a key the text did not have
    return line, column


def _spells(text: str, value: Any) -> bool:
    """Whether ``text`` alone is a YAML spelling of ``value``."""
    try:
        return parse_yaml(text) == value
    except YamlDocumentError:
        return False


def _flow_spelling(value: Any) -> str | None:
    """``value`` as one YAML token that means it in block and flow context alike (quoted when it
    must be); None when it takes more than one line."""
    yaml = _yaml("rt")
    yaml.default_flow_style = True
    stream = io.StringIO()
    try:
        yaml.dump({"k": value}, stream)
    except (YAMLError, ValueError, TypeError):
        return None
    text = stream.getvalue().rstrip("\n")
    if "\n" in text or not (text.startswith("{k: ") and text.endswith("}")):
        return None
    return text[len("{k: "):-1]


def _dump_round_trip(document: Any, like: str) -> str:
    """A round-trip document as YAML text by ruamel's writer, indented as ``like`` (the text it
    was read from) is; YamlDocumentError when ruamel cannot write it back."""
    yaml = _yaml("rt")
    mapping, sequence, offset = _indents(like)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    stream = io.StringIO()
    try:
        yaml.dump(document, stream)
    except (YAMLError, ValueError, TypeError) as error:  # ValueError: an int too long to print
        raise YamlDocumentError(f"cannot be written back: {_first_line(error)}") from None
    return _rejoin_anchor_comments(stream.getvalue(), like)


def dump_yaml(document: Any) -> str:
    """Plain values as block-style YAML text, keys in their order; YamlDocumentError when a value
    cannot be written."""
    stream = io.StringIO()
    try:
        _yaml("safe").dump(document, stream)
    except (YAMLError, ValueError, TypeError) as error:
        raise YamlDocumentError(f"cannot be written: {_first_line(error)}") from None
    return stream.getvalue()


def is_number(value: Any) -> bool:
    """An int or float from a YAML document, not a boolean (the round-trip loader makes an anchored
    ``true`` an int subclass, so ``isinstance(value, bool)`` alone does not tell)."""
    return isinstance(value, (int, float)) and not isinstance(value, (bool, ScalarBoolean))


def own_items(mapping: dict) -> list[tuple[Any, Any]]:
    """A mapping's own key/value pairs: a round-trip mapping's keys merged in with ``<<: *base``
    belong to ``base`` and are edited there."""
    non_merged = getattr(mapping, "non_merged_items", None)
    return list(non_merged() if non_merged is not None else mapping.items())


def _load(yaml: YAML, data: bytes | str) -> Any:
    if isinstance(data, bytes):
        data = _decoded(data)
    if len(data) > MAX_YAML_BYTES:
        raise YamlDocumentError(f"larger than the {MAX_YAML_BYTES // 1024} KiB a YAML file may be")
    try:
        return yaml.load(data)  # its reader already refuses control characters
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = ", ".join(_first_line(part) for part in (error.context, error.problem) if part)
        raise YamlDocumentError(f"not valid YAML: {what or 'unreadable'}{where}") from None
    except (YAMLError, ValueError, OverflowError) as error:
        # ValueError: a value its constructor refuses (an int past Python's digit limit, 2024-13-45).
        raise YamlDocumentError(f"not valid YAML: {_first_line(error)}") from None


def _rejoin_anchor_comments(text: str, like: str) -> str:
    """ruamel writes the comment after a block mapping's anchor (``base: &base  # shared``) on a
    line of its own below; put each back where ``like`` has it."""
    for match in re.finditer(r"&([^\s,\[\]{}]+)([ \t]+)(#[^\n]*)", like):
        anchor, gap, comment = match.groups()
        text = re.sub(rf"&{re.escape(anchor)}\n[ \t]*{re.escape(comment)}\n",
                      lambda _: f"&{anchor}{gap}{comment}\n", text, count=1)
    return text


def _indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as ruamel's ``indent`` takes them, from the
    first nested mapping and the first block sequence under a key in ``text``; 2, 2, 0 otherwise."""
    mapping = sequence = offset = None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:]):
        key = re.match(r"( *)[^\s#-][^#]*:\s*(#.*)?$", line)
        if key is None:
            continue
        parent = len(key.group(1))
        item = re.match(r"( *)(- +)?", following)
        indent = len(item.group(1)) - parent
        if indent <= 0 and not item.group(2):
            continue
        if item.group(2) and sequence is None:
            offset, sequence = max(indent, 0), max(indent, 0) + len(item.group(2))
        elif not item.group(2) and mapping is None:
            mapping = indent
        if mapping is not None and sequence is not None:
            break
    return mapping or 2, sequence or max(2, (offset or 0) + 2), offset or 0


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
