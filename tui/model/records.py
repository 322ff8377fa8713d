"""What readers produce: plain records, one per thing a log says."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class MetricRecord:
    """Metric values logged together at one step/epoch."""

    values: dict[str, float]
    step: int | None = None
    epoch: float | None = None
    wall_time: float | None = None
    # The split ("val", "train", "test") of names whose own spelling says none, where the log's
    # layout tells it (a validation row, an evaluation-only column). Often one dict shared by all
    # the records of a file.
    roles: dict[str, str] | None = None


@dataclass(slots=True)
class DecodeRecord:
    """One sample decode: what the model should have said and what it said."""

    reference: str
    hypothesis: str
    step: int | None = None
    epoch: float | None = None
    blank_ratio: float | None = None
    sample_id: str | None = None


@dataclass(slots=True)
class RunStartRecord:
    """A new training segment begins (a new run appended to the log, or a resume)."""

    resumed: bool = False
    resumed_from: str | None = None
    start_epoch: float | None = None
    start_step: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    wall_time: float | None = None
    controllable: bool = False  # the trainer reads trainwatch's control channel


@dataclass(slots=True)
class DatasetSizeRecord:
    """The size of a data split, as the log states it (``val 213``)."""

    split: str
    size: int


@dataclass(slots=True)
class TextRecord:
    """A line of the run's own output worth keeping (warnings, errors)."""

    text: str
    stream: str = "stdout"
    epoch: float | None = None
    step: int | None = None


@dataclass(slots=True)
class StatusRecord:
    state: str
    exit_code: int | None = None
    message: str = ""
    wall_time: float | None = None


@dataclass(slots=True)
class AckRecord:
    command_id: str
    action: str
    applied: bool
    detail: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    wall_time: float | None = None


@dataclass(slots=True)
class CheckpointRecord:
    path: str
    step: int | None = None
    epoch: float | None = None
    tag: str = "last"  # last, best or manual


@dataclass(slots=True)
class RankTimingRecord:
    """How long a multi-process run's ranks waited for each other at trainwatch's safe points:
    seconds per step, of the run's steps and of each rank's waiting (index = rank)."""

    step: int | None
    seconds_per_step: float
    waiting: list[float]


@dataclass(slots=True)
class ReaderNotice:
    """Something the reader wants the user to know (skipped garbage, a huge line)."""

    message: str


@dataclass(slots=True)
class ResetRecord:
    """Everything read so far is replaced (a whole-file format was rewritten)."""


Record = (MetricRecord | DecodeRecord | RunStartRecord | DatasetSizeRecord | TextRecord | StatusRecord
          | AckRecord | CheckpointRecord | RankTimingRecord | ReaderNotice | ResetRecord)
