"""Numbers and positions as the user reads them, one family for the table, the evidence, the check
report and the commands a preset writes. Plain functions: no I/O, no clock."""
from __future__ import annotations

import math


def fmt(value: float | None) -> str:
    """Numbers for evidence text: short but exact enough to find in the log."""
    if value is None or not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.4g}"
    if magnitude >= 1e-3:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return f"{value:.2e}"


def table_value(value: float | None) -> str:
    """A table cell: the evidence text's number format, a dash for nothing yet."""
    return "—" if value is None else fmt(value)



def exact(value: float | None) -> str:
    """Six significant digits, nothing for no value: the check report's table cells."""
    return "" if value is None else f"{value:.6g}"


def command_text(value: float | None, integer: bool = False) -> str:
    """A number as a command line or config spells it: whole numbers without a point, else 6 digits."""
    if value is None:
        return "-"
    if integer or (float(value).is_integer() and abs(value) >= 1):
        return str(int(round(value)))
    return f"{value:.6g}"


def when(epoch: float | None, step: float | None) -> str:
    """Where a point lies, as the user would say it: ``epoch 10.3`` (a tenth is enough), else the step."""
    if epoch is not None and math.isfinite(epoch):
        return f"epoch {round(epoch, 1):g}" if abs(epoch) < 1e5 else f"epoch {epoch:.0f}"
    if step is not None and math.isfinite(step):
        return f"step {step:g}"
    return "the start"


def epoch_number(epoch: float | None) -> int | float | None:
    """An epoch as ``when`` prints it: whole epochs as integers, others to a tenth (float32 epochs
    carry digits nobody wrote: 1.600000023841858)."""
    if epoch is None or not math.isfinite(epoch):
        return None
    tenth = round(epoch, 1)
    return int(tenth) if tenth == int(tenth) else tenth


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def int_or_none(value: float | None) -> int | None:
    return int(value) if value is not None and math.isfinite(value) else None


def duration(seconds: float | None) -> str:
    """Seconds only under a minute, minutes after: the header then changes at most once a
    minute on a long run, which keeps the UI's idle CPU near zero (it only repaints on change)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def printed_step(values) -> float:
    """The decimal the values were printed to (0.0001 for 0.0003, 0.0012), 0 when they carry full
    float precision. Unlike the diagnosis's quantum, an accuracy of k/6 printed as 0.16666667 is not coarse here."""
    for digits in range(0, 9):
        scale = 10.0 ** digits
        if all(abs(v * scale - round(v * scale)) <= 1e-6 * max(1.0, abs(v * scale)) for v in values):
            return 1 / scale
    return 0.0


PRINTED_STEP_SAMPLE = 1000  # values enough to tell a printing precision, on a million-point LR too


def printed_zero_bound(values) -> float | None:
    """For a positive quantity printed too coarsely (``lr 0.00`` from a script printing two
    decimals), what a 0 in it means: below half the printing step. None when a 0 is a real 0
    (full precision) or there is no 0."""
    if 0.0 not in values:
        return None  # the common case, answered at C speed: the table asks at every redraw
    stride = max(1, len(values) // PRINTED_STEP_SAMPLE)
    finite = [v for v in values[::stride] if math.isfinite(v)]
    if not any(v > 0 for v in finite) or any(v < 0 for v in finite):
        return None
    step = printed_step(finite)
    return step / 2 if step >= 1e-6 else None
