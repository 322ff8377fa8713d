"""Runs every rule over a run model; re-runs a segment's rules only when that segment changed."""
from __future__ import annotations

from tui.diagnosis.config import DEFAULTS
from tui.diagnosis.finding import SEVERITIES, Finding
from tui.diagnosis.registry import REGISTRY, ordered, resolve_causes, with_fix
from tui.diagnosis.rules_training import check_data_warning, check_straggler
from tui.diagnosis.segment_view import SegmentView
from tui.model.run_model import RunModel, Segment


class DiagnosisEngine:
    """Incremental: the live UI calls ``update`` after each batch of records; a finished segment's
    findings are computed once, and only segments whose revision moved are looked at again."""

    def __init__(self, thresholds: dict | None = None) -> None:
        self.thresholds = thresholds or {rule: dict(values) for rule, values in DEFAULTS.items()}
        self._cache: dict[int, tuple[int, list[Finding]]] = {}
        self._model_id: int | None = None

    def update(self, model: RunModel) -> list[Finding]:
        if self._model_id != id(model) or len(self._cache) > len(model.segments):
            self._cache.clear()
            self._model_id = id(model)
        per_segment: list[list[Finding]] = []
        for position, segment in enumerate(model.segments):
            cached = self._cache.get(position)
            if cached is None or cached[0] != segment.revision:
                previous = model.segments[position - 1] if position else None
                cached = (segment.revision, self._diagnose_segment(segment, previous, model))
                self._cache[position] = cached
            per_segment.append(cached[1])
        run_wide = [check_data_warning(model), check_straggler(model, self.thresholds)]
        return merge_findings(per_segment, [with_fix(finding) for finding in run_wide if finding is not None])

    def _diagnose_segment(self, segment: Segment, previous: Segment | None, model: RunModel) -> list[Finding]:
        view = SegmentView(segment, previous, model)
        found = [kind.rule(view, self.thresholds, segment.index) for kind in REGISTRY if kind.rule is not None]
        return resolve_causes([with_fix(finding) for finding in found if finding is not None])


def merge_findings(per_segment: list[list[Finding]], run_wide: list[Finding]) -> list[Finding]:
    """One finding per id: the latest segment's, noting how many other runs in the log had it too."""
    by_id: dict[str, list[Finding]] = {}
    for findings in per_segment:
        for finding in findings:
            by_id.setdefault(finding.id, []).append(finding)
    merged: list[Finding] = []
    for found in by_id.values():
        chosen = max(found, key=lambda f: (SEVERITIES.index(f.severity), f.segment))
        if len(per_segment) > 1:
            others = len({f.segment for f in found}) - 1
            suffix = f" [run {chosen.segment + 1} of {len(per_segment)} in this log"
            suffix += f"; also in {others} other run(s)]" if others else "]"
            chosen = Finding(chosen.id, chosen.severity, chosen.title, chosen.evidence + suffix, chosen.epoch,
                             chosen.step, chosen.segment, chosen.action, chosen.preset, chosen.resume,
                             chosen.explained_by)
        merged.append(chosen)
    merged.extend(run_wide)
    return ordered(merged)
