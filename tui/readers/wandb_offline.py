"""W&B offline run files (``wandb/offline-run-*/run-*.wandb``), read with the wandb package's own
record schema.

The file is W&B's "LevelDB log": a 7-byte file header (``:W&B``, a magic number, a version), then
32 KiB blocks of chunks, each with a CRC-32 (zlib's, seeded with the chunk's type byte), a length
and a type (whole, first, middle, last). A chunk never crosses a block; fewer than 7 bytes left in
a block are padding. Each whole record is a ``wandb.proto.wandb_internal_pb2.Record``; its
``history`` rows are the metrics, ``config`` the run's settings, ``exit`` how it ended.
wandb's own Python reader (``sdk/internal/datastore.py``) went with its move to a Go core, so the
framing is decoded here and the records by wandb's protobuf classes, which wandb still ships.
"""
from __future__ import annotations

import json
import struct
import zlib

from tui.model.records import MetricRecord, ReaderNotice, Record, RunStartRecord, StatusRecord
from tui.readers.parser_base import StreamParser
from tui.readers.values import JSON_ERRORS, STEP_KEYS, record_from_mapping

WANDB_MAGIC = b":W&B"
FILE_HEADER_BYTES = 7
BLOCK_BYTES = 32768
CHUNK_HEADER = struct.Struct("<IHB")  # crc, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# W&B's own step counts log calls; a step the script logged itself (Lightning's WandbLogger logs
# trainer/global_step) says more, so it comes first.
SCRIPT_STEP_KEYS = ("trainer/global_step", *STEP_KEYS)
INSTALL_HINT = "reading it needs the wandb package: pip install 'trainwatch[wandb]' (or wandb)"


def record_schema():
    """wandb's Record message class; ImportError without the package (the caller says what to install)."""
    from wandb.proto import wandb_internal_pb2  # about 1 s: only for a .wandb file

    return wandb_internal_pb2.Record


class WandbOfflineParser(StreamParser):
    format_name = "wandb_offline"

    def __init__(self) -> None:
        self.schema = record_schema()
        self._buffer = b""
        self._offset = 0  # the file offset of the buffer's first byte: chunks are aligned to blocks
        self._pending = b""  # a record begun in a FIRST chunk, until its LAST
        self._corrupt = 0
        self._header_read = False
        self._framing_lost = False
        self._started = False

    def feed(self, data: bytes) -> list[Record]:
        if self._framing_lost:
            return []
        self._buffer += data
        records: list[Record] = []
        if not self._header_read:
            if len(self._buffer) < FILE_HEADER_BYTES:
                return records
            if not self._buffer.startswith(WANDB_MAGIC):
                self._framing_lost = True
                return [ReaderNotice("not a W&B run file (its first bytes are not ':W&B'): nothing read")]
            self._consume(FILE_HEADER_BYTES)
            self._header_read = True
        corrupt_before = self._corrupt
        while True:
            left_in_block = BLOCK_BYTES - self._offset % BLOCK_BYTES
            if left_in_block < CHUNK_HEADER.size:
                if len(self._buffer) < left_in_block:
                    break
                self._consume(left_in_block)  # the block's padding
                continue
            if len(self._buffer) < CHUNK_HEADER.size:
                break
            crc, length, kind = CHUNK_HEADER.unpack_from(self._buffer)
            if kind == 0 and length == 0:  # zeros: a writer's preallocated or padded tail
                if self._buffer[:CHUNK_HEADER.size].strip(b"\0"):
                    break
                if len(self._buffer) < left_in_block:
                    break
                self._consume(left_in_block)
                continue
            if CHUNK_HEADER.size + length > left_in_block or kind not in (FULL, FIRST, MIDDLE, LAST):
                self._framing_lost = True
                records.append(ReaderNotice("a W&B record's framing is corrupt: the rest of the file is skipped"))
                break
            if len(self._buffer) < CHUNK_HEADER.size + length:
                break  # the writer has not finished this chunk yet
            payload = self._buffer[CHUNK_HEADER.size: CHUNK_HEADER.size + length]
            self._consume(CHUNK_HEADER.size + length)
            if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
                self._corrupt += 1
                self._pending = b""
                continue
            if kind == FULL:
                records.extend(self._decode(payload))
            elif kind == FIRST:
                self._pending = payload
            else:
                self._pending += payload
                if kind == LAST:
                    records.extend(self._decode(self._pending))
                    self._pending = b""
        if self._corrupt > corrupt_before:
            records.append(ReaderNotice(f"skipped {self._corrupt - corrupt_before} W&B record(s) whose checksum "
                                        "is wrong"))
        return records

    def _consume(self, count: int) -> None:
        self._buffer = self._buffer[count:]
        self._offset += count

    def _decode(self, payload: bytes) -> list[Record]:
        try:
            record = self.schema.FromString(payload)
        except Exception:  # protobuf's DecodeError, and whatever a fuzzed payload raises inside it
            self._corrupt += 1
            return []
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = self._history_row(record.history.item)
            return [row] if row is not None else []
        if kind == "config":
            if self._started:
                return []  # a config.update() later in the run: the same run, not a new segment
            self._started = True
            return [RunStartRecord(config=dict(_items(record.config.update)))]
        if kind == "exit":
            code = record.exit.exit_code
            return [StatusRecord("finished" if code == 0 else "crashed", code)]
        return []

    @staticmethod
    def _history_row(items) -> MetricRecord | None:
        mapping = dict(_items(items))
        wall_time = mapping.pop("_timestamp", None)
        row = {key: value for key, value in mapping.items() if not key.startswith("_") or key == "_step"}
        own = any(key.lower() in SCRIPT_STEP_KEYS for key in row)
        record = record_from_mapping(row, step_keys=SCRIPT_STEP_KEYS if own else ("_step",))
        if record is None:
            return None
        record.values.pop("_step", None)
        record.wall_time = wall_time if isinstance(wall_time, (int, float)) else None
        return record


def _items(items):
    """(key, value) of history or config items: nested keys joined with '/', values from JSON."""
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        try:
            value = json.loads(item.value_json)
        except JSON_ERRORS:
            continue
        if isinstance(value, dict) and set(value) == {"value"}:  # config entries: {"value": 0.01}
            value = value["value"]
        yield key, value
