"""TensorBoard event files, read without TensorFlow: TFRecord framing and a tiny protobuf decoder.

Only scalars are read: ``simple_value`` (torch's SummaryWriter, TF1) and scalar tensors
(``tf.summary.scalar`` in TF2). Everything else in the file is skipped.
"""
from __future__ import annotations

import struct

from tui.readers.bulk_columns import blocks_and_odd_records, gather_bytes, tensorboard_scalar_columns
from tui.readers.crc32c import masked_crc32c
from tui.readers.parser_base import StreamParser
from tui.model.records import MetricRecord, ReaderNotice, Record

_HEADER = struct.Struct("<QI")  # record length, masked CRC of the length
_FOOTER = struct.Struct("<I")  # masked CRC of the data
_LENGTH = struct.Struct("<Q")
_MAX_RECORD_BYTES = 64 << 20
_DT_FLOAT, _DT_DOUBLE, _DT_HALF = 1, 2, 19
# Complete events in one read past which the scalar ones are decoded in numpy (a history).
BULK_MIN_EVENTS = 20_000


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(data: bytes):
    """Yield (field number, wire type, value) of one protobuf message."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 1:
            value, position = data[position: position + 8], position + 8
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position: position + length], position + length
        elif wire == 5:
            value, position = data[position: position + 4], position + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if position > end:
            raise ValueError("truncated protobuf field")
        yield number, wire, value


def _tensor_scalar(data: bytes) -> float | None:
    dtype, content, floats, doubles = 0, b"", b"", b""
    for number, wire, value in _fields(data):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 4 and wire == 2:
            content = value
        elif number == 5 and wire in (2, 5):  # packed, or one unpacked float
            floats += value
        elif number == 6 and wire in (1, 2):  # one unpacked double, or packed
            doubles += value
    if dtype == _DT_FLOAT and len(content or floats) >= 4:
        return struct.unpack("<f", (content or floats)[:4])[0]
    if dtype == _DT_DOUBLE and len(content or doubles) >= 8:
        return struct.unpack("<d", (content or doubles)[:8])[0]
    if dtype == _DT_HALF and len(content) >= 2:
        return struct.unpack("<e", content[:2])[0]
    return None


def decode_event(data: bytes) -> MetricRecord | None:
    """The scalar values of one serialized ``Event``; None when it holds none."""
    wall_time, step, values = None, 0, {}
    for number, wire, value in _fields(data):
        if number == 1 and wire == 1:
            wall_time = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            step = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 5 and wire == 2:
            for summary_number, summary_wire, summary_value in _fields(value):
                if summary_number != 1 or summary_wire != 2:
                    continue  # a Summary.Value is a message; a field of another wire type is not one
                tag, scalar = None, None
                for value_number, value_wire, item in _fields(summary_value):
                    if value_number == 1 and value_wire == 2:
                        tag = item.decode("utf-8", errors="replace")
                    elif value_number == 2 and value_wire == 5:
                        scalar = struct.unpack("<f", item)[0]
                    elif value_number == 8 and value_wire == 2 and scalar is None:
                        scalar = _tensor_scalar(item)
                if tag is not None and scalar is not None:
                    values[tag] = float(scalar)
    return MetricRecord(values, step=step, wall_time=wall_time) if values else None


def _scalar_columns_in_pieces(buffer: bytes, starts, ends, piece: int = 1 << 18):
    """tensorboard_scalar_columns over a quarter million events at a time: its byte matrices (ten
    bytes of step per event, the tags padded) stay tens of MB however long the file."""
    import numpy as np

    tag_of, values, steps, walls, tags, index_of = [], [], [], [], [], {}
    for first in range(0, len(starts), piece):
        ids, piece_tags, piece_values, piece_steps, piece_walls = tensorboard_scalar_columns(
            buffer, starts[first:first + piece], ends[first:first + piece])
        remap = np.array([index_of.setdefault(tag, len(index_of)) for tag in piece_tags] + [-1], dtype=np.int64)
        tag_of.append(np.where(ids >= 0, remap[ids], -1))
        values.append(piece_values)
        steps.append(piece_steps)
        walls.append(piece_walls)
    tags = list(index_of)
    return np.concatenate(tag_of), tags, np.concatenate(values), np.concatenate(steps), np.concatenate(walls)


def _corrupt_payloads(buffer: bytes, starts, ends, stored, rows):
    """Of ``rows``, those whose payload's masked CRC is not the stored one: checked in numpy, rows
    of one payload length at a time (a scalar event is a few dozen bytes)."""
    import numpy as np

    from tui.readers.crc32c import masked_crc32c_rows

    data = np.frombuffer(buffer, dtype=np.uint8)
    lengths = ends[rows] - starts[rows]
    corrupt = []
    for length in np.unique(lengths).tolist():
        same = rows[lengths == length]
        payloads = gather_bytes(data, starts[same], length)
        corrupt.append(same[masked_crc32c_rows(payloads) != stored[same]])
    return np.concatenate(corrupt) if corrupt else np.empty(0, dtype=np.int64)


# Event-file folders that hold one split of a run: Keras's TensorBoard callback (train/,
# validation/), CatBoost (learn/, test/: its eval set), and common hand-made layouts.
SPLIT_FOLDERS = {"train": "train", "training": "train", "learn": "train",
                 "validation": "val", "val": "val", "valid": "val", "eval": "val", "test": "val"}


def split_name(tag: str, split: str) -> str | None:
    """A tag of a split folder named as that split's: Keras's ``epoch_`` prefix off, ``val_`` on
    for validation; None for its per-iteration evaluation copies (``evaluation_loss_vs_iterations``)."""
    if tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
        return None
    name = tag.removeprefix("epoch_")
    if split == "val" and not name.startswith(("val_", "val/", "eval", "test")):
        name = "val_" + name
    return name


def split_record(record: MetricRecord, split: str) -> MetricRecord | None:
    """A record of a split folder with its tags named as that split's (split_name)."""
    values = {}
    for tag, value in record.values.items():
        name = split_name(tag, split)
        if name is not None:
            values[name] = value
    return MetricRecord(values, step=record.step, wall_time=record.wall_time) if values else None


class TensorBoardEventParser(StreamParser):
    """TFRecord framing: length, masked CRC32C of the length, data, masked CRC32C of the data.

    A record whose length CRC is wrong leaves no way to find the next one, so the rest of the
    file is skipped (and said so). The data CRC is checked on the records whose scalars are
    read; the rest (images, histograms, graphs: often most of the bytes) are skipped unchecked:
    nothing in them is used, so a corrupt one costs nothing.
    """

    format_name = "tensorboard_events"
    reads_in_bulk = True  # a history's plain scalar events are decoded in numpy (_decode_in_bulk)

    def __init__(self, split: str = "") -> None:
        # "val" or "train" for an event file in a split folder (Keras's train/ and validation/):
        # its tags are named as the split's (epoch_loss -> val_loss), so both folders read as one run.
        self.split = split
        self._buffer = b""
        self._skip = 0  # bytes still to drop of a well-framed record too big to hold
        self._framing_lost = False
        self.corrupt_records = 0

    def feed(self, data: bytes) -> list[Record]:
        if self._framing_lost:
            return []
        if self._skip:
            dropped = min(self._skip, len(data))
            data, self._skip = data[dropped:], self._skip - dropped
        self._buffer += data
        buffer = self._buffer
        records: list[Record] = []
        corrupt_before = self.corrupt_records
        frames, position = self._frames(buffer, records)
        if len(frames[0]) >= BULK_MIN_EVENTS:
            decoded = self._decode_in_bulk(buffer, frames)
            if decoded is None:
                decoded = self._decode_each(buffer, frames)
        else:
            decoded = self._decode_each(buffer, frames)
        records[:0] = decoded  # a framing notice, if any, comes after what was read before it
        self._buffer = buffer[position:]
        if self.corrupt_records > corrupt_before:
            records.append(ReaderNotice(f"dropped {self.corrupt_records - corrupt_before} corrupt TensorBoard "
                                        f"record(s)"))
        return records

    def _frames(self, buffer: bytes, notices: list[Record]) -> tuple[tuple, int]:
        """(payload starts, payload ends, their stored CRCs) of the complete records, and where the
        unread rest begins. Lengths are checked against their CRC as the walk goes, or for a long
        walk all at once afterwards (readers/crc32c.masked_crc32c_rows)."""
        if len(buffer) >= BULK_MIN_EVENTS * 24:
            walked = self._walk_then_check(buffer, notices)
            if walked is not None:
                return walked
        starts, ends, crcs = [], [], []
        frames = (starts, ends, crcs)
        position, size, unpack, header = 0, len(buffer), _HEADER.unpack_from, _HEADER.size
        while size - position >= header:
            length, length_crc = unpack(buffer, position)
            if masked_crc32c(buffer[position: position + 8]) != length_crc:
                self._lose_framing(notices)
                return frames, size
            end = position + header + length + 4
            if length > _MAX_RECORD_BYTES:
                # Well framed but too big to hold (no scalar is that big): dropped as it streams by.
                self._skip = max(0, end - size)
                position = min(end, size)
                continue
            if end > size:
                break  # the writer has not finished this record yet
            starts.append(position + header)
            ends.append(end - 4)
            crcs.append(_FOOTER.unpack_from(buffer, end - 4)[0])
            position = end
        return frames, position

    def _lose_framing(self, notices: list[Record]) -> None:
        self.corrupt_records += 1
        self._framing_lost = True
        notices.append(ReaderNotice("a TensorBoard record's length is corrupt: the rest of the file is skipped"))

    def _walk_then_check(self, buffer: bytes, notices: list[Record]):
        """The walk above without a CRC per step; then every length's CRC in numpy. A bad one ends
        the frames there, as the walk would have (what came after it was read from garbage)."""
        try:
            import numpy as np

            from tui.readers.crc32c import masked_crc32c_rows
        except ImportError:
            return None
        starts, position, size, unpack = [], 0, len(buffer), _LENGTH.unpack_from
        append, last_header = starts.append, len(buffer) - _HEADER.size
        while position <= last_header:
            length = unpack(buffer, position)[0]
            end = position + length + 16
            if length > _MAX_RECORD_BYTES or end > size:
                break  # the careful walk takes it from here: a record to skip, or the end
            append(position)
            position = end
        if not starts:
            return None
        data = np.frombuffer(buffer, dtype=np.uint8)
        at = np.array(starts, dtype=np.int64)
        heads = gather_bytes(data, at, 12)
        lengths = heads[:, :8].copy().view("<u8").ravel().astype(np.int64)
        stored = heads[:, 8:12].copy().view("<u4").ravel()
        bad = np.flatnonzero(masked_crc32c_rows(heads[:, :8]) != stored)
        if len(bad):
            at, lengths = at[:bad[0]], lengths[:bad[0]]
            self._lose_framing(notices)
        header = _HEADER.size
        ends = at + header + lengths
        footers = gather_bytes(data, ends, 4).view("<u4").ravel()
        frames = (at + header, ends, footers)
        if len(bad):
            return frames, size
        shift = int(ends[-1] + 4) if len(ends) else 0
        rest, position = self._frames(buffer[shift:], notices) if shift < size else (([], [], []), 0)
        if len(rest[0]):
            frames = tuple(np.concatenate([mine, np.asarray(theirs, dtype=mine.dtype) + (shift if index < 2 else 0)])
                           for index, (mine, theirs) in enumerate(zip(frames, rest)))
        return frames, shift + position

    def _decode_each(self, buffer: bytes, frames) -> list[Record]:
        records: list[Record] = []
        for start, end, data_crc in zip(*frames):
            records.extend(self._decode_one(buffer[int(start):int(end)], int(data_crc)))
        return records

    def _decode_one(self, payload: bytes, data_crc: int) -> list[Record]:
        """The record of one event (checked against its CRC when it holds scalars), split-named."""
        try:
            record = decode_event(payload)
        except (ValueError, IndexError, struct.error):
            self.corrupt_records += 1
            return []
        if record is None:
            return []
        if masked_crc32c(payload) != data_crc:
            self.corrupt_records += 1
            return []
        if self.split:
            record = split_record(record, self.split)
        return [record] if record is not None else []

    def _decode_in_bulk(self, buffer: bytes, frames) -> list[Record] | None:
        """Events of the plain scalar shape decoded in numpy into columns (readers/bulk_columns.py);
        the others one by one, in their place. None without numpy."""
        try:
            import numpy as np
        except ImportError:
            return None
        starts, ends, stored = (np.asarray(column, dtype=dtype) for column, dtype in zip(frames, (np.int64, np.int64, np.uint32)))
        tag_of, tags, values, steps, walls = _scalar_columns_in_pieces(buffer, starts, ends)
        if np.abs(steps).max(initial=0.0) >= float(1 << 53):
            return None  # steps compared as doubles must be exact
        names: dict[str, int] = {}
        shape_of_tag = []
        for tag in tags:
            name = split_name(tag, self.split) if self.split else tag
            shape_of_tag.append(-1 if name is None else names.setdefault(name, len(names)))
        shape_of_tag = np.array(shape_of_tag + [-1], dtype=np.int32)
        shape_of_row = shape_of_tag[tag_of]  # -1 (the last entry) for an event read one by one
        corrupt = _corrupt_payloads(buffer, starts, ends, stored, np.flatnonzero(shape_of_row >= 0))
        self.corrupt_records += len(corrupt)
        shape_of_row[corrupt] = -1
        tag_of[corrupt] = -2  # dropped, not read again one by one
        odd = tag_of == -1
        shapes = [(name,) for name in names]
        columns = {name: values for name in names}  # one number per event: every name reads the one column
        return blocks_and_odd_records(shapes, shape_of_row, columns, steps, np.full(len(starts), np.nan), walls,
                                      None, odd, lambda row: self._decode_one(buffer[int(starts[row]):int(ends[row])],
                                                                              int(stored[row])), {})

    def finish(self) -> list[Record]:
        if self._buffer and not self._framing_lost:
            return [ReaderNotice(f"the last TensorBoard record is incomplete ({len(self._buffer)} bytes): not read")]
        return []
