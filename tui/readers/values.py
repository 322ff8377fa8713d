"""Turning the numbers and mappings found in logs into metric records."""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from tui.model.records import MetricRecord

# Keys that place a record in time rather than measure anything.
STEP_KEYS = ("step", "global_step", "iteration", "iter", "num_updates", "valid_num_updates", "train_num_updates",
             "steps")
EPOCH_KEYS = ("epoch", "epochs")
# Keys written beside metrics that are neither time nor metrics (dropped from values).
_SKIP_KEYS = {"time", "timestamp", "wall", "wall_time", "data_time", "eta_seconds", "n_parameters"}
_MAX_LIST_EXPANSION = 16

# json.loads raises RecursionError, not ValueError, on nesting past the interpreter's depth limit
# (a line of 100,000 "[" is enough): every JSON reader catches both.
JSON_ERRORS = (ValueError, RecursionError)
# Steps, sizes and counters outside int64 (TensorBoard's step type) are garbage, not a long run.
COUNT_LIMIT = 1 << 63
# Longer digit strings are outside COUNT_LIMIT anyway; int() refuses past 4,300 digits.
_MAX_COUNT_DIGITS = 20

# "\d+(?:\.\d*)?", not "\d+\.?\d*": the same numbers, but the second splits a digit run between two
# groups in every way before failing, quadratic on a 100 KB cell.
_NUMBER_RE = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_NUMBER_IN_TEXT_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def to_float(value: Any) -> float | None:
    """A float from a number or a numeric string ("0.41", "81.2%", "nan", "inf"); else None."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            return float(value)
        except OverflowError:  # an int of 309+ digits: as far off the scale as inf
            return math.inf if value > 0 else -math.inf
    if kind is str and "_" not in value:  # float() alone takes "1_000", which no log means
        if not value:
            return None  # an empty cell (sparse rows): no exception to pay for
        try:
            return float(value)  # the common case, in C: "0.41", " 1e-3", "nan", "inf"
        except ValueError:
            pass
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):  # a subclass: read as the plain type, by the path above
        return to_float(int(value) if isinstance(value, int) else float(value))
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if _NUMBER_RE.match(text):
            return float(text)
        lowered = text.lower()
        if lowered in ("nan", "-nan", "+nan"):
            return math.nan
        if lowered in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        if lowered in ("-inf", "-infinity"):
            return -math.inf
    return None


def as_count(value: float | int | str | None) -> int | None:
    """A step, size or counter as an int (a float is cut to its whole part); None unless it is a
    finite number within int64."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if len(text) > _MAX_COUNT_DIGITS:
            return None
        try:
            value = int(text)
        except ValueError:
            return None
    elif kind is float:
        if not math.isfinite(value):
            return None
        value = int(value)
    elif kind is not int:
        return None
    return value if -COUNT_LIMIT < value < COUNT_LIMIT else None


def number_in(text: str) -> float | None:
    """The first number inside a string such as "Epoch 12" or "e10"."""
    match = _NUMBER_IN_TEXT_RE.search(text)
    return float(match.group()) if match else None


def time_of(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first finite value under one of ``keys`` (any letter case): a step or an epoch."""
    for key, raw in mapping.items():
        if isinstance(key, str) and key.lower() in keys:
            value = to_float(raw)
            if value is None and isinstance(raw, str):
                value = number_in(raw)
            if value is not None and math.isfinite(value):
                return value
    return None


def record_from_mapping(mapping: Mapping[str, Any], step_keys: tuple[str, ...] = STEP_KEYS,
                        epoch_keys: tuple[str, ...] = EPOCH_KEYS) -> MetricRecord | None:
    """A metric record from a flat dict of one logging call; None when it holds no number.

    Lists of numbers (DETR's ``test_coco_eval_bbox``) become ``name[0]``, ``name[1]``, ...
    """
    step = time_of(mapping, step_keys)
    epoch = time_of(mapping, epoch_keys)
    values: dict[str, float] = {}
    for key, raw in mapping.items():
        if not isinstance(key, str) or key.lower() in step_keys or key.lower() in epoch_keys or key in _SKIP_KEYS:
            continue
        if isinstance(raw, list):
            if len(raw) <= _MAX_LIST_EXPANSION:
                for index, item in enumerate(raw):
                    number = to_float(item)
                    if number is not None:
                        values[f"{key}[{index}]"] = number
            continue
        number = to_float(raw)
        if number is not None:
            values[key] = number
    if not values:
        return None
    return MetricRecord(values=values, step=as_count(step), epoch=epoch)
