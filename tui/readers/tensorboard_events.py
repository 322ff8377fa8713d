"""TensorBoard event files, read without TensorFlow: TFRecord framing and a tiny protobuf decoder.

Only scalars are read: ``simple_value`` (torch's SummaryWriter, TF1) and scalar tensors
(``tf.summary.scalar`` in TF2). Everything else in the file is skipped.
"""
from __future__ import annotations

import struct

from tui.readers.parser_base import StreamParser
from tui.records import MetricRecord, ReaderNotice, Record

_HEADER = struct.Struct("<QI")  # record length, masked CRC of the length
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
        elif number == 5:
            floats += value
        elif number == 6:
            doubles += value
    if dtype == _DT_FLOAT and (content or floats):
        return struct.unpack("<f", (content or floats)[:4])[0]
    if dtype == _DT_DOUBLE and (content or doubles):
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
            for summary_number, _, summary_value in _fields(value):
                if summary_number != 1:
                    continue
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


class TensorBoardEventParser(StreamParser):
    format_name = "tensorboard_events"

    def __init__(self) -> None:
        self._buffer = b""
        self.corrupt_records = 0

    def feed(self, data: bytes) -> list[Record]:
        self._buffer += data
        records: list[Record] = []
        position, corrupt_before = 0, self.corrupt_records
        buffer = self._buffer
        while len(buffer) - position >= _HEADER.size:
            length, _ = _HEADER.unpack_from(buffer, position)
            if length > _MAX_RECORD_BYTES:
                self.corrupt_records += 1
                position = len(buffer)  # unframeable: drop what we have rather than loop
                break
            end = position + _HEADER.size + length + 4
            if end > len(buffer):
                break  # the writer has not finished this record yet
            payload = buffer[position + _HEADER.size: position + _HEADER.size + length]
            position = end
            try:
                record = decode_event(payload)
            except (ValueError, IndexError, struct.error):
                self.corrupt_records += 1
                continue
            if record is not None:
                records.append(record)
        self._buffer = buffer[position:]
        if self.corrupt_records > corrupt_before:
            records.append(ReaderNotice(f"skipped {self.corrupt_records - corrupt_before} corrupt TensorBoard record(s)"))
        return records
