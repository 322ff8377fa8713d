"""What a rule reads from one segment: its curves (model.curves.SegmentCurves) with the segment
before it, and each curve's noise and printing step, measured once."""
from __future__ import annotations

from tui.diagnosis.signal import noise_level, quantum
from tui.model.curves import Curve, SegmentCurves
from tui.model.run_model import RunModel, Segment


class SegmentView(SegmentCurves):
    """A segment's curves as the rules read them."""

    def __init__(self, segment: Segment, previous: Segment | None = None, model: RunModel | None = None) -> None:
        super().__init__(segment)
        self.previous = previous  # the run before this one in the log (a resume is judged against it)
        self.model = model
        self._noise: dict[str, float] = {}
        self._quantum: dict[tuple[str, int], float] = {}

    def own(self, curve: Curve) -> Curve:
        """The curve as this run made it: a resumed run's first evaluation is the checkpoint's."""
        if not self.segment.resumed or len(curve) < 2:
            return curve
        return Curve(curve.name, curve.goal, curve.values[1:], curve.epochs[1:], curve.steps[1:], curve.bounded)

    def quantum(self, curve: Curve) -> float:
        """The curve's printing step (signal.quantum), computed once: rules ask for it at every evaluation."""
        key = (curve.name, len(curve.values))
        if key not in self._quantum:
            self._quantum[key] = quantum(curve.values)
        return self._quantum[key]

    def noise(self, curve: Curve) -> float:
        """The one noise estimate of a metric in this run, used by every rule and every evidence line."""
        if curve.name not in self._noise:
            # A curve that falls over orders of magnitude is not as noisy at its end, where best, plateau and
            # rise are judged, as at its start: its later half is measured. Floored at the printing precision.
            values = curve.values
            low, high = min(values, default=0.0), max(values, default=0.0)
            if len(values) >= 8 and low > 0 and high > 10 * low:
                values = values[len(values) // 2:]
            self._noise[curve.name] = max(noise_level(values), self.quantum(curve) / 2)
        return self._noise[curve.name]
