"""Where a series' points lie, stored by what they repeat: steps that count up by a fixed stride
need no column (a start and a stride); epochs are kept as straight pieces (flat for a whole
epoch, sloped for step / steps_per_epoch). Either turns into a plain array the moment its points
stop fitting, so nothing is lost; what is saved is 8 bytes a point for the steps and 4 for the
epochs of a typical training curve (10M points: 120 MB less)."""
from __future__ import annotations

import math
from array import array
from bisect import bisect_right

NAN = math.nan
# A piece costs 24 bytes against 4 a point for a plain float32 array: past one piece in six
# points, the plain array is the smaller.
_PIECES_PER_POINT_LIMIT = 1 / 6
_PIECES_BEFORE_CHECK = 64


def _numpy():
    import numpy  # only where columns are turned into arrays in bulk: `check` on a small log never pays for it
    return numpy


class _PointColumn:
    """What both columns answer like an array: len, iteration, an index (negative too) or a slice.
    ``_dense`` is the plain array once there is one; until then ``_value_at`` computes a point."""

    __slots__ = ("_count", "_dense")

    def __len__(self) -> int:
        return self._count if self._dense is None else len(self._dense)

    def __iter__(self):
        return iter(self.to_numpy().tolist())

    def __getitem__(self, index):
        if self._dense is not None:
            return self._dense[index]
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("point index out of range")
        return self._value_at(index)

    def _value_at(self, index: int) -> float:
        raise NotImplementedError

    def to_numpy(self):
        raise NotImplementedError


class StrideColumn(_PointColumn):
    """Floats (steps) of the form ``start + stride * index`` until one does not fit, then an array
    of doubles. NaN (no step) fits no stride."""

    __slots__ = ("_start", "_stride")

    def __init__(self) -> None:
        self._start = self._stride = NAN
        self._count = 0
        self._dense: array | None = None

    def _value_at(self, index: int) -> float:
        return self._start if index == 0 else self._start + self._stride * index

    def _fits(self, value: float) -> bool:
        if self._count == 0:
            return value == value
        if self._count == 1:
            return value == value
        return value == self._start + self._stride * self._count

    def append(self, value: float) -> None:
        if self._dense is not None:
            self._dense.append(value)
            return
        if not self._fits(value):
            self._densify()
            self._dense.append(value)
            return
        if self._count == 0:
            self._start = value
        elif self._count == 1:
            self._stride = value - self._start
        self._count += 1

    def _densify(self) -> None:
        dense = array("d")
        if self._count:
            dense.frombytes(self.to_numpy().tobytes())
        self._dense = dense

    def extend(self, values) -> None:
        """Append a numpy array of doubles."""
        if not len(values):
            return
        if self._dense is None:
            np = _numpy()
            start = self._start if self._count else float(values[0])
            stride = self._stride if self._count >= 2 else (
                float(values[1] - start) if self._count == 0 and len(values) > 1 else
                float(values[0] - start) if self._count == 1 else 0.0)
            expected = start + stride * np.arange(self._count, self._count + len(values), dtype="float64")
            if np.array_equal(expected, values):
                self._start, self._count = start, self._count + len(values)
                if self._count >= 2:
                    self._stride = stride
                return
            self._densify()
        self._dense.frombytes(_numpy().ascontiguousarray(values, dtype="float64").tobytes())

    def to_numpy(self):
        np = _numpy()
        if self._dense is not None:
            return np.frombuffer(self._dense, dtype="float64").copy()
        if self._count == 1:
            return np.array([self._start])
        return self._start + self._stride * np.arange(self._count, dtype="float64")

    def nbytes(self) -> int:
        return 0 if self._dense is None else self._dense.itemsize * len(self._dense)


class PiecewiseColumn(_PointColumn):
    """Float32 values (epochs) kept as straight pieces: from a point on, ``start + slope * k`` rounds
    to the value written k points later. An integer epoch is a flat piece per epoch; an epoch
    logged as step / steps_per_epoch is one sloped piece. Past one piece in six points, a plain
    float32 array is the smaller, and the column becomes one. Float32 is exact for whole epochs
    and to 7 digits for fractional ones: values read back exactly as a float32 array gives them."""

    __slots__ = ("_at", "_starts", "_slopes")

    def __init__(self) -> None:
        self._at = array("q")  # the index where each piece begins
        self._starts = array("d")  # the value given there (a double: the slope is exact from it)
        self._slopes = array("d")  # NaN until the piece's second point sets it
        self._count = 0
        self._dense: array | None = None

    def _value_at(self, index: int) -> float:
        piece = bisect_right(self._at, index) - 1
        return _float32(self._value_in(piece, index - self._at[piece]))

    def _value_in(self, piece: int, offset: int) -> float:
        slope = self._slopes[piece]
        return self._starts[piece] if offset == 0 or slope != slope else self._starts[piece] + slope * offset

    def append(self, value: float) -> None:
        if self._dense is not None:
            self._dense.append(value)
            return
        if self._at:
            piece = len(self._at) - 1
            offset = self._count - self._at[piece]
            start, slope = self._starts[piece], self._slopes[piece]
            if offset == 1 and slope != slope and value == value and start == start:
                slope = value - start
                if _float32(start + slope) == _float32(value):
                    self._slopes[piece] = slope
                    self._count += 1
                    return
            else:
                predicted = self._value_in(piece, offset)
                if predicted == value or _same32(predicted, value):  # the first test settles most points
                    self._count += 1
                    return
        self._at.append(self._count)
        self._starts.append(value)
        self._slopes.append(0.0 if value != value else NAN)
        self._count += 1
        if len(self._at) > _PIECES_BEFORE_CHECK and len(self._at) > _PIECES_PER_POINT_LIMIT * self._count:
            self._densify(None)

    def extend(self, values) -> None:
        """Append a numpy array of doubles (kept as float32)."""
        if not len(values):
            return
        np = _numpy()
        values = np.ascontiguousarray(values, dtype="float64")
        if self._dense is not None:
            self._dense.frombytes(values.astype("float32").tobytes())
            return
        stored = values.astype("float32")
        position = 0
        if self._at:  # the last piece may go on into the new values
            position = self._continue_last_piece(values, stored)
        while position < len(values):
            if len(self._at) > _PIECES_BEFORE_CHECK and len(self._at) > _PIECES_PER_POINT_LIMIT * (self._count + 1):
                self._densify(stored[position:])
                return
            length = self._piece_length(values, stored, position)
            self._at.append(self._count)
            self._starts.append(float(values[position]))
            self._slopes.append(self._slope_at(values, position, length))
            self._count += length
            position += length

    @staticmethod
    def _slope_at(values, position: int, length: int) -> float:
        if values[position] != values[position]:
            return 0.0
        return float(values[position + 1] - values[position]) if length > 1 else NAN

    def _piece_length(self, values, stored, position: int) -> int:
        """How many points from ``position`` on one piece covers (at least one)."""
        np = _numpy()
        start = values[position]
        if position + 1 >= len(values):
            return 1
        slope = 0.0 if start != start else values[position + 1] - start
        window, covered = 256, 0
        while position + covered < len(values):
            end = min(len(values), position + max(window, covered * 2))
            offsets = np.arange(covered, end - position, dtype="float64")
            predicted = (start + slope * offsets).astype("float32")
            actual = stored[position + covered:end]
            same = (predicted == actual) | (np.isnan(predicted) & np.isnan(actual))
            if not same.all():
                return max(1, covered + int(np.argmin(same)))
            covered = end - position
        return covered

    def _continue_last_piece(self, values, stored) -> int:
        """Points at the head of ``values`` that the last piece covers; they are counted in."""
        np = _numpy()
        piece = len(self._at) - 1
        offset = self._count - self._at[piece]
        start, slope = self._starts[piece], self._slopes[piece]
        if slope != slope:  # a piece of one point: the next point sets its slope
            if values[0] != values[0] or start != start or _float32(start + (values[0] - start)) != float(stored[0]):
                return 0
            slope = self._slopes[piece] = float(values[0] - start)
        offsets = np.arange(offset, offset + len(values), dtype="float64")
        predicted = (start + slope * offsets).astype("float32")
        same = (predicted == stored) | (np.isnan(predicted) & np.isnan(stored))
        covered = len(values) if same.all() else int(np.argmin(same))
        self._count += covered
        return covered

    def _densify(self, more) -> None:
        dense = array("f")
        dense.frombytes(self.to_numpy().astype("float32").tobytes())
        if more is not None:
            dense.frombytes(more.tobytes())
        self._dense = dense
        self._at, self._starts, self._slopes, self._count = array("q"), array("d"), array("d"), 0

    def to_numpy(self):
        """The values as float64 (each exactly its float32)."""
        np = _numpy()
        if self._dense is not None:
            return np.frombuffer(self._dense, dtype="float32").astype("float64")
        if not self._count:
            return np.empty(0, dtype="float64")
        at = np.frombuffer(self._at, dtype="int64")
        lengths = np.diff(np.append(at, self._count))
        piece = np.repeat(np.arange(len(at)), lengths)
        offsets = np.arange(self._count, dtype="float64") - at[piece]
        slopes = np.nan_to_num(np.frombuffer(self._slopes, dtype="float64"), nan=0.0)[piece]
        starts = np.frombuffer(self._starts, dtype="float64")[piece]
        return (starts + slopes * offsets).astype("float32").astype("float64")

    def nbytes(self) -> int:
        if self._dense is not None:
            return self._dense.itemsize * len(self._dense)
        return 24 * len(self._at)


def _float32(value: float) -> float:
    return array("f", (value,))[0]


def _same32(predicted: float, value: float) -> bool:
    a, b = _float32(predicted), _float32(value)
    return a == b or (a != a and b != b)
