"""Big logs read in bulk: the native JSONL and CSV parsed by polars straight into columns, with no
Python object per record (MetricColumns blocks for the run model). Only for complete lines of a
big read (a whole file, the history when following starts): what arrives afterwards goes the line
way. Any doubt about a block (a line polars cannot read exactly as the line parser would, a value
that is not a plain number) gives None, and the caller reads the same bytes the line way: the bulk
path is a faster way to the same records, never a different reading.

polars, not pyarrow or numpy alone: measured on the benchmark's 61 MB JSONL on this 2-core VM,
polars reads it with a given schema in 0.39 s after a 0.14 s import; pyarrow's JSON reader took
0.34-0.59 s after a 0.16 s import and numpy has no JSON or CSV parser of its own. polars also
reads the CSV in 0.07 s. numpy carries the columns from there (RunModel, Series).
"""
from __future__ import annotations

import io
import json
import re

from tui.model.metric_columns import MetricColumns
from tui.model.records import ReaderNotice, Record
from tui.readers.line_buffer import MAX_LINE_BYTES

# Lines per sample for the JSONL schema: the first and last lines and a stride through the rest.
_SAMPLE_EDGE_LINES = 1000
_SAMPLE_STRIDE_LINES = 2000
# A metric name polars cannot take as a struct field: a row of such a log goes the line way.
_STEP_EXACT_LIMIT = float(1 << 53)  # steps compared as doubles must be exact
# Rows the bulk path hands to the line parser one by one (other events, odd metrics rows); past
# this share the whole block is read the line way.
_ODD_ROWS_SHARE = 0.2
_METRICS_KEY_RE = re.compile(r'"metrics"\s*:')  # the key, not the event's value "metrics"


def _polars():
    try:
        import polars
    except ImportError:  # the bulk path is an optimisation: without polars, logs are read the line way
        return None
    return polars


def _lines_of(pl, data: bytes):
    """The non-blank lines of ``data`` as a polars string Series; None for what the line buffer
    would split otherwise (carriage returns) or polars cannot take as text."""
    if b"\r" in data or b"\x1f" in data:
        return None
    try:
        lines = pl.read_csv(io.BytesIO(data), separator="\x1f", quote_char=None, has_header=False,
                            new_columns=["line"], schema={"line": pl.String})["line"]
    except Exception:  # polars raises its own errors for bytes it cannot take (bad UTF-8): read the line way
        return None
    # Empty lines come as nulls. A line of spaces alone stays: polars' JSON reader skips it where
    # the line reader does too, and the row counts then differ (the caller reads the line way).
    lines = lines.drop_nulls()
    if len(lines) and lines.str.len_bytes().max() > MAX_LINE_BYTES:
        return None  # the line buffer skips such lines and says so
    return lines


# --- the native trainwatch event log ---------------------------------------------------------

def native_jsonl_records(data: bytes, parser) -> list[Record] | None:
    """The records of complete lines ``data`` of a trainwatch event log, as ``parser``
    (a NativeJsonlParser) would give them, metrics rows as MetricColumns; None: read the line way."""
    pl = _polars()
    if pl is None:
        return None
    every_line = _lines_of(pl, data)
    if every_line is None or len(every_line) < 2:
        return None
    # Lines that are no JSON object (a traceback, a line cut by a crash) are read the line way, in
    # their place; the rest go to polars, which would refuse the whole block for one of them.
    plain = (every_line.str.starts_with("{") & every_line.str.ends_with("}")).to_numpy()
    lines, data, others = _plain_lines(pl, every_line, plain, data)
    if lines is None:
        return None
    names = _sampled_metric_names(pl, lines) if len(lines) else []
    if names is None:
        return None
    table = _read_events(pl, data, names) if len(lines) else None
    if table is None:
        # polars is strict: one "0.25" in quotes or a true refuses all. Such lines go the line way too.
        plain &= ~_odd_values(pl, every_line)
        lines, data, others = _plain_lines(pl, every_line, plain, data)
        if lines is None or not len(lines):
            return None
    for _attempt in range(3):
        table = table if table is not None else _read_events(pl, data, names)
        if table is None or table.height != len(lines):
            return None
        missed = _names_missed(pl, lines, table, names)
        if missed is None:
            return None
        if not missed:
            break
        names, table = names + missed, None
    else:
        return None
    return _native_records(pl, lines, table, names, parser, others)


def _plain_lines(pl, every_line, plain, data: bytes):
    """(the plain lines, their bytes, the others by the plain row they come before); None for
    the lines when too many are not plain."""
    import numpy as np

    if plain.all():
        return every_line, data, {}
    if (~plain).sum() > _ODD_ROWS_SHARE * len(every_line) + 16:
        return None, data, {}
    lines = every_line.filter(pl.Series(plain))
    before = np.cumsum(plain) - plain  # plain lines above each line
    others: dict[int, list[str]] = {}
    for position in np.flatnonzero(~plain).tolist():
        others.setdefault(int(before[position]), []).append(every_line[position])
    return lines, "\n".join(lines.to_list()).encode() + b"\n", others


def _odd_values(pl, lines):
    """Lines with a value polars' typed reading refuses: a string beyond the event's name (a
    quoted number; quotes come two per key and two for the event), a true or false, a list."""
    quotes = lines.str.count_matches('"', literal=True)
    keys = lines.str.count_matches('":', literal=True)
    odd = (quotes != 2 * keys + 2) | lines.str.contains("true", literal=True) | lines.str.contains("false", literal=True)
    return (odd | lines.str.contains("[", literal=True)).to_numpy()


def _sampled_metric_names(pl, lines) -> list[str] | None:
    count = len(lines)
    picks = list(range(min(count, _SAMPLE_EDGE_LINES)))
    picks += range(_SAMPLE_EDGE_LINES, count, max(1, count // _SAMPLE_STRIDE_LINES))
    picks += range(max(0, count - _SAMPLE_EDGE_LINES), count)
    sample = lines.gather(sorted(set(picks)))
    return _metric_names_of(pl, sample)


def _metric_names_of(pl, lines) -> list[str] | None:
    """The metric names of these lines' "metrics" objects, in the order they first come."""
    text = "\n".join(lines.to_list()).encode()
    try:
        frame = pl.read_ndjson(io.BytesIO(text), infer_schema_length=None)
    except Exception:  # a line that is no JSON, or types that do not unify: the line way reads it
        return None
    if "metrics" not in frame.columns:
        return []
    dtype = frame.schema["metrics"]
    if not isinstance(dtype, pl.Struct):
        return None
    return [field.name for field in dtype.fields]


def _read_events(pl, data: bytes, names: list[str]):
    schema = {"event": pl.String, "step": pl.Int64, "epoch": pl.Float64, "time": pl.Float64,
              "metrics": pl.Struct({name: pl.Float64 for name in names})}
    try:
        return pl.read_ndjson(io.BytesIO(data), schema=schema)
    except Exception:  # strict: a string, a bool or a float step anywhere sends the block the line way
        return None


def _names_missed(pl, lines, table, names: list[str]) -> list[str] | None:
    """Metric names the schema lacks. A row holding one has more keys in its text than the parsed
    row holds values; the rows where the counts differ (nulls and extra keys differ too) are read
    again with their own schema to find them."""
    metrics = table["metrics"].struct.unnest() if names else None
    held = (table.select(pl.sum_horizontal([pl.col(name).is_not_null() for name in ("event", "step", "epoch", "time")]))
            .to_series())
    held = held + table["metrics"].is_not_null().cast(pl.Int64)
    if metrics is not None:
        held = held + metrics.select(pl.sum_horizontal([pl.col(name).is_not_null() for name in names])).to_series()
    written = lines.str.count_matches('":', literal=True)
    differ = (written != held)
    if not differ.any():
        return []
    found = _metric_names_of(pl, lines.filter(differ))
    if found is None:
        return None
    return [name for name in found if name not in names]


def _native_records(pl, lines, table, names: list[str], parser, others: dict[int, list[str]]) -> list[Record] | None:
    """``others``: the lines that are no JSON, by the row they come before (len(lines): at the end)."""
    import numpy as np

    events = table["event"]
    metrics = table["metrics"].struct.unnest() if names else None
    is_metrics = (events == "metrics").fill_null(False)
    if metrics is not None:
        present = [metrics[name].is_not_null().to_numpy() for name in names]
    else:
        present = []
    steps = table["step"].cast(pl.Float64).to_numpy()
    if np.nanmax(np.abs(steps), initial=0.0) >= _STEP_EXACT_LIMIT:
        return None
    row_count = table.height
    pattern = np.zeros(row_count, dtype="int64")
    if len(names) > 62:
        return None
    for bit, mask in enumerate(present):
        pattern |= mask.astype("int64") << bit
    metric_rows = is_metrics.to_numpy() & table["metrics"].is_not_null().to_numpy()
    # Rows read the line way: other events, and metrics rows whose first name is not settled below.
    odd = ~metric_rows
    shape_of_row = np.full(row_count, -1, dtype="int32")
    shapes: list[tuple[str, ...]] = []
    for value in np.unique(pattern[metric_rows]).tolist():
        rows = np.flatnonzero(metric_rows & (pattern == value))
        if value == 0:
            continue  # no numbers in "metrics": no record, as the line parser gives none
        held = [names[bit] for bit in range(len(names)) if value >> bit & 1]
        if len(held) == 1:
            # One number: it is the record's first name (its kind) whatever nulls are written before it.
            shape_of_row[rows] = len(shapes)
            shapes.append(tuple(held))
            continue
        first_line = lines[int(rows[0])]
        order = _metric_order(first_line)
        if order is None:
            odd[rows] = True
            continue
        keys, prefix = order
        # The names in the order the pattern's first line writes them: the order new series are made
        # in. (Only the first name is checked on every line: it is the record's kind.)
        shape = tuple(name for name in keys if name in held)
        if set(shape) != set(held) or not prefix:
            odd[rows] = True
            continue
        # Every row of this pattern must write the same name first (the record's kind).
        same_start = _contains(lines, prefix, rows, row_count)
        odd[rows[~same_start]] = True
        shape_of_row[rows[same_start]] = len(shapes)
        shapes.append(shape)
    if odd.sum() > _ODD_ROWS_SHARE * row_count + 16:
        return None
    values = {name: metrics[name].to_numpy().astype("float64") for name in names} if metrics is not None else {}
    epochs = table["epoch"].to_numpy().astype("float64")
    stamps = table["time"].to_numpy().astype("float64")
    skipped_before = parser.skipped_lines
    records = blocks_and_odd_records(shapes, shape_of_row, values, steps, epochs, stamps, None, odd,
                                     lambda row: parser.records_of_lines([lines[row]]),
                                     {row: (lambda taken=taken: parser.records_of_lines(taken)) for row, taken in others.items()})
    if parser.skipped_lines > skipped_before:
        records.append(ReaderNotice(f"skipped {parser.skipped_lines - skipped_before} line(s) that are not "
                                    "trainwatch events"))
    return records


def _contains(lines, text: str, rows, row_count: int):
    """Whether each of ``rows`` holds ``text``: over every line at once when the rows are most of
    them (a gather would copy the strings first)."""
    if 2 * len(rows) >= row_count:
        return lines.str.contains(text, literal=True).to_numpy()[rows]
    return lines.gather(rows).str.contains(text, literal=True).to_numpy()


def _metric_order(line: str) -> tuple[list[str], str] | None:
    """The metric names of one metrics line in its written order, and the text from "metrics" to
    the end of its first name (the same in every line whose first name is the same)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    raw = event.get("metrics") if isinstance(event, dict) else None
    if not isinstance(raw, dict) or not raw:
        return None
    keys = [name for name, value in raw.items() if type(value) in (int, float)]
    first = next(iter(raw))
    if not keys or keys[0] != first:
        return None  # a first name without a number: the kind is another name, row by row
    written = _METRICS_KEY_RE.search(line)
    end = line.find(json.dumps(first), written.start()) if written else -1
    if end < 0:
        return None
    return keys, line[written.start():end + len(json.dumps(first))]


def blocks_and_odd_records(shapes, shape_of_row, values, steps, epochs, stamps, roles, odd, read_row,
                           before_row: dict) -> list[Record]:
    """MetricColumns blocks of the rows with a shape (``shape_of_row`` >= 0), cut where an odd row's
    own records (``read_row(row)``) or other records (``before_row[row]()``, before that row, or
    at the end under len(rows)) come in between."""
    import numpy as np

    records: list[Record] = []
    odd_rows = set(np.flatnonzero(odd).tolist())
    kept = shape_of_row >= 0
    start = 0
    for row in sorted(odd_rows | set(before_row) | {len(shape_of_row)}):
        if row > start:
            if kept[start:row].all():
                block_rows = slice(start, row)  # views, no copies: the common case
            else:
                block_rows = np.flatnonzero(kept[start:row]) + start
            if len(shape_of_row[block_rows]):
                records.append(MetricColumns(shapes, shape_of_row[block_rows],
                                             {name: column[block_rows] for name, column in values.items()},
                                             steps[block_rows], epochs[block_rows], stamps[block_rows], roles))
        if row in before_row:
            records.extend(before_row[row]())
        if row in odd_rows:
            records.extend(read_row(row))
            start = row + 1
        else:
            start = row
    return records


# --- CSV logs ---------------------------------------------------------------------------------

# A line of spaces alone (a blank line, to the line parser) inside the data.
_SPACES_LINE_RE = re.compile(rb"\n[ \t]+\n")


def csv_records(data: bytes, parser) -> list[Record] | None:
    """The records of complete lines ``data`` of a CSV log, as ``parser`` (a CsvLogParser) would
    give them, rows as MetricColumns; None (read the line way) for anything but plain numbers under
    one header: text cells (a phase column, a repeated header, "Epoch 12"), decode files, blank lines."""
    pl = _polars()
    if pl is None or b"\r" in data or b"\n\n" in data or data[:1].isspace() or _SPACES_LINE_RE.search(data):
        return None  # blank lines: the line parser passes them by, polars makes rows of them
    before = dict(vars(parser))  # the header is read first; given back as it was if the rest goes the line way
    records = _csv_records_under_header(pl, data, parser)
    if records is None:
        vars(parser).update(before)
    return records


def _csv_records_under_header(pl, data: bytes, parser) -> list[Record] | None:
    records: list[Record] = []
    if parser.header is None:
        end = data.find(b"\n") + 1
        records.extend(parser.parse_lines([data[:end].decode("utf-8", errors="replace").rstrip("\n")]))
        data = data[end:]
        if parser.header is None or not data:
            return None
    if parser._decodes is not None:
        return None
    header = parser.header
    names = [f"c{index}" for index in range(len(header))]
    lines = data.count(b"\n")
    numbers_only = _csv_numbers(pl, data, names, lines)
    if numbers_only is not None:
        columns, present = numbers_only
        blocks = _csv_blocks(parser, header, columns, present, lines)
        return None if blocks is None else records + blocks
    try:
        frame = pl.read_csv(io.BytesIO(data), has_header=False, new_columns=names, schema={name: pl.String for name in names},
                            truncate_ragged_lines=True, quote_char='"')
    except Exception:  # polars' own errors for rows it cannot split: the csv module reads them
        return None
    if frame.height != lines:
        return None  # a quoted cell across lines, or a row polars split otherwise
    columns, present = {}, {}
    for index, name in enumerate(names):
        cells = frame[name]
        stripped = cells.str.strip_chars()
        written = (stripped.str.len_bytes() > 0).fill_null(False)
        # polars reads a number out of exactly the cells float() reads (and the same number: checked
        # on the odd spellings in tests/test_bulk_reading.py), minus a few float() takes ("81%", Arabic
        # digits): a written cell it reads as nothing is text, or one of those, for the line parser.
        numbers = stripped.cast(pl.Float64, strict=False)
        if (written & numbers.is_null()).any():
            return None  # text in a cell: the line parser's phase and header logic reads it
        columns[index] = numbers.to_numpy()
        present[index] = written.to_numpy()
    blocks = _csv_blocks(parser, header, columns, present, frame.height)
    return None if blocks is None else records + blocks


def _csv_numbers(pl, data: bytes, names: list[str], lines: int) -> tuple[dict, dict] | None:
    """Every cell a number or empty, read straight as doubles (the common CSV, and the fastest
    read); None when polars finds anything else (padded or text cells: read as strings then)."""
    try:
        frame = pl.read_csv(io.BytesIO(data), has_header=False, new_columns=names,
                            schema={name: pl.Float64 for name in names}, truncate_ragged_lines=True, quote_char='"')
    except Exception:  # a cell that is no number
        return None
    if frame.height != lines:
        return None
    columns = {index: frame[name].to_numpy() for index, name in enumerate(names)}
    present = {index: frame[name].is_not_null().to_numpy() for index, name in enumerate(names)}
    return columns, present


def _csv_blocks(parser, header: list[str], columns: dict, present: dict, row_count: int) -> list[Record] | None:
    import numpy as np

    step_index, epoch_index = parser._step_index, parser._epoch_index
    nothing = np.full(row_count, np.nan)
    steps = columns[step_index] if step_index is not None else nothing
    steps = np.where(np.isfinite(steps), np.trunc(steps), np.nan)
    if np.nanmax(np.abs(steps), initial=0.0) >= _STEP_EXACT_LIMIT:
        return None
    epochs = columns[epoch_index] if epoch_index is not None else nothing
    epochs = np.where(np.isfinite(epochs), epochs, np.nan)
    value_columns = [index for index in range(len(header)) if index not in (step_index, epoch_index) and header[index]]
    if len(value_columns) > 62 or len({header[index] for index in value_columns}) != len(value_columns):
        return None  # a name twice: the line parser keeps the later cell
    pattern = np.zeros(row_count, dtype="int64")
    for bit, index in enumerate(value_columns):
        pattern |= present[index].astype("int64") << bit
    shape_of_row = np.full(row_count, -1, dtype="int32")
    shapes: list[tuple[str, ...]] = []
    for value in np.unique(pattern).tolist():
        if value == 0:
            continue  # a row without numbers: skipped and counted, as the line parser does
        shape_of_row[pattern == value] = len(shapes)
        shapes.append(tuple(header[index] for bit, index in enumerate(value_columns) if value >> bit & 1))
    kept = shape_of_row >= 0
    skipped = int(row_count - kept.sum())
    records: list[Record] = []
    if kept.any():
        rows = slice(None) if kept.all() else np.flatnonzero(kept)
        records.append(MetricColumns(shapes, shape_of_row[rows],
                                     {header[index]: columns[index][rows] for index in value_columns},
                                     steps[rows], epochs[rows], nothing[rows], parser._roles))
        known_epochs = epochs[rows][~np.isnan(epochs[rows])]
        if len(known_epochs):
            parser._last_epoch = float(known_epochs[-1])
    if skipped:
        parser.skipped_rows += skipped
        records.append(ReaderNotice(f"skipped {skipped} CSV row(s) without numbers"))
    return records


# --- TensorBoard event files ------------------------------------------------------------------

# The Event a scalar summary writer makes (torch's SummaryWriter, TF1's simple_value): wall_time
# (field 1, fixed64), step (field 2, varint; left out when 0), summary (field 5) holding one Value
# whose tag (field 1) is under 128 bytes and whose simple_value (field 2) is a float32.
_WALL_TIME_KEY, _STEP_KEY, _SUMMARY_KEY, _VALUE_KEY, _TAG_KEY, _SIMPLE_VALUE_KEY = 0x09, 0x10, 0x2A, 0x0A, 0x0A, 0x15


def gather_bytes(data, starts, width: int):
    """The ``width`` bytes from each of ``starts`` in ``data`` (a uint8 array) as an n x width
    matrix, one column at a time: no n x width index matrix (8 bytes per byte gathered) is made."""
    import numpy as np

    rows = np.empty((len(starts), width), dtype=np.uint8)
    last = len(data) - 1
    for column in range(width):
        rows[:, column] = data[np.minimum(starts + column, last)]
    return rows


def tensorboard_scalar_columns(buffer: bytes, starts, ends):
    """For payloads ``buffer[starts[i]:ends[i]]`` (numpy int64 arrays): (tag of each payload or -1,
    tags, values, steps, wall times), read in numpy for every payload of the plain scalar shape
    above; -1 for the others (read one by one by the caller)."""
    import numpy as np

    data = np.frombuffer(buffer, dtype=np.uint8)
    count = len(starts)
    limit = len(data)

    def byte_at(positions):
        return data[np.minimum(positions, limit - 1)]

    plain = (ends - starts >= 9 + 2 + 2 + 2 + 5) & (byte_at(starts) == _WALL_TIME_KEY)
    walls = gather_bytes(data, starts + 1, 8).view("<f8").reshape(count)
    at = starts + 9
    has_step = byte_at(at) == _STEP_KEY
    step_bytes = gather_bytes(data, at + 1, 10).astype(np.uint64)
    ends_here = (step_bytes & 0x80) == 0
    step_length = np.argmax(ends_here, axis=1) + 1
    plain &= ~has_step | ends_here.any(axis=1)
    weights = (np.arange(10) < step_length[:, None])
    steps = ((step_bytes & np.uint64(0x7F)) << (np.uint64(7) * np.arange(10, dtype=np.uint64)))
    steps = np.where(weights, steps, np.uint64(0)).sum(axis=1, dtype=np.uint64)
    steps = np.where(has_step, steps.view(np.int64), 0)
    at = np.where(has_step, at + 1 + step_length, at)
    # summary: key, a one- or two-byte length, running exactly to the payload's end
    plain &= byte_at(at) == _SUMMARY_KEY
    first, second = byte_at(at + 1).astype(np.int64), byte_at(at + 2).astype(np.int64)
    two = first >= 0x80
    plain &= ~two | (second < 0x80)
    summary_length = np.where(two, (first & 0x7F) | (second << 7), first)
    at = at + 2 + two
    plain &= at + summary_length == ends
    # one Value: key, a one-byte length, running to the summary's end
    plain &= (byte_at(at) == _VALUE_KEY) & (byte_at(at + 1) < 0x80)
    value_length = byte_at(at + 1).astype(np.int64)
    at = at + 2
    plain &= at + value_length == ends
    # its tag, then its simple_value, and nothing else
    tag_length = byte_at(at + 1).astype(np.int64)
    plain &= (byte_at(at) == _TAG_KEY) & (tag_length < 0x80) & (tag_length > 0)
    value_at = at + 2 + tag_length
    plain &= (byte_at(value_at) == _SIMPLE_VALUE_KEY) & (value_at + 5 == ends)
    rows = np.flatnonzero(plain)
    tag_of = np.full(count, -1, dtype=np.int64)
    if not len(rows):
        return tag_of, [], np.empty(count), steps.astype("float64"), walls
    widest = int(tag_length[rows].max())
    padded = np.where(np.arange(widest) < tag_length[rows][:, None], gather_bytes(data, at[rows] + 2, widest), 0)
    # The length goes in with the bytes: a tag that ends in NUL bytes is another tag.
    keyed = np.concatenate([tag_length[rows][:, None].astype(np.uint8), padded.astype(np.uint8)], axis=1)
    unique, inverse = np.unique(np.ascontiguousarray(keyed).view(f"V{widest + 1}").ravel(), return_inverse=True)
    tags = []
    for key in unique:
        raw = bytes(key)
        tags.append(raw[1:1 + raw[0]].decode("utf-8", errors="replace"))
    tag_of[rows] = inverse.ravel()
    values = gather_bytes(data, value_at + 1, 4).view("<f4").reshape(count).astype("float64")
    return tag_of, tags, values, steps.astype("float64"), walls
