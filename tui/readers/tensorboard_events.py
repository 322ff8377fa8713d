"""TensorBoard event files, read without TensorFlow: TFRecord framing and a tiny protobuf decoder.

Only scalars are read: ``simple_value`` (torch's SummaryWriter, TF1) and scalar tensors
(``tf.summary.scalar`` in TF2). Everything else in the file is skipped.
"""
from __future__ import annotations

import struct

from tui.readers.crc32c import masked_crc32c
from tui.readers.parser_base import StreamParser
from tui.model.records import MetricRecord, ReaderNotice, Record

_HEADER = struct.Struct("<QI")  # record length, masked CRC of the length
_FOOTER = struct.Struct("<I")  # masked CRC of the data
_MAX_RECORD_BYTES = 64 << 20
_DT_FLOAT, _DT_DOUBLE, _DT_HALF = 1, 2, 19


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


# Event-file folders that hold one split of a run: Keras's TensorBoard callback (train/,
# validation/), CatBoost (learn/, test/: its eval set), and common hand-made layouts.
SPLIT_FOLDERS = {"train": "train", "training": "train", "learn": "train",
                 "validation": "val", "val": "val", "valid": "val", "eval": "val", "test": "val"}


def split_record(record: MetricRecord, split: str) -> MetricRecord | None:
    """A record of a split folder named as that split's: Keras's ``epoch_`` prefix off, ``val_`` on
    for validation; its per-iteration evaluation copies (``evaluation_loss_vs_iterations``) left out."""
    values = {}
    for tag, value in record.values.items():
        if tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
            continue
        name = tag.removeprefix("epoch_")
        if split == "val" and not name.startswith(("val_", "val/", "eval", "test")):
            name = "val_" + name
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
        records: list[Record] = []
        position, corrupt_before = 0, self.corrupt_records
        buffer = self._buffer
        while len(buffer) - position >= _HEADER.size:
            length, length_crc = _HEADER.unpack_from(buffer, position)
            if masked_crc32c(buffer[position: position + 8]) != length_crc:
                self.corrupt_records += 1
                self._framing_lost = True
                records.append(ReaderNotice("a TensorBoard record's length is corrupt: the rest of the file is "
                                            "skipped"))
                position = len(buffer)
                break
            end = position + _HEADER.size + length + 4
            if length > _MAX_RECORD_BYTES:
                # Well framed but too big to hold (no scalar is that big): dropped as it streams by.
                self._skip = max(0, end - len(buffer))
                position = min(end, len(buffer))
                continue
            if end > len(buffer):
                break  # the writer has not finished this record yet
            payload = buffer[position + _HEADER.size: end - 4]
            data_crc = _FOOTER.unpack_from(buffer, end - 4)[0]
            position = end
            try:
                record = decode_event(payload)
            except (ValueError, IndexError, struct.error):
                self.corrupt_records += 1
                continue
            if record is not None:
                if masked_crc32c(payload) == data_crc:
                    if self.split:
                        record = split_record(record, self.split)
                    if record is not None:
                        records.append(record)
                else:
                    self.corrupt_records += 1
        self._buffer = buffer[position:]
        if self.corrupt_records > corrupt_before:
            records.append(ReaderNotice(f"dropped {self.corrupt_records - corrupt_before} corrupt TensorBoard "
                                        f"record(s)"))
        return records

    def finish(self) -> list[Record]:
        if self._buffer and not self._framing_lost:
            return [ReaderNotice(f"the last TensorBoard record is incomplete ({len(self._buffer)} bytes): not read")]
        return []
