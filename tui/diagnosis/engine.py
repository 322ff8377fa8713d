"""Runs every rule over a run model; re-runs a segment's rules only when that segment changed."""
from __future__ import annotations

from tui.diagnosis.config import DEFAULTS
from tui.diagnosis.finding import SEVERITIES, Finding
from tui.diagnosis.rules_schedule import check_lr_oscillation, check_lr_wasted, check_resume_collapse
from tui.diagnosis.rules_training import (check_blank_collapse, check_class_imbalance, check_data_warning,
                                          check_divergence, check_small_val_set)
from tui.diagnosis.rules_validation import check_no_learning, check_overfitting, check_plateau, check_unstable_val
from tui.diagnosis.segment_view import SegmentView
from tui.run_model import RunModel, Segment

FINDING_IDS = ("overfitting", "plateau", "no_learning", "divergence", "blank_collapse", "lr_wasted", "lr_oscillation",
               "resume_collapse", "small_val_set", "class_imbalance", "unstable_val", "data_warning")


MORE_SPECIFIC_THAN_PLATEAU = {"no_learning", "divergence"}


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
        data_warning = check_data_warning(model)
        return merge_findings(per_segment, [data_warning] if data_warning else [])

    def _diagnose_segment(self, segment: Segment, previous: Segment | None, model: RunModel) -> list[Finding]:
        view, limits, index = SegmentView(segment), self.thresholds, segment.index
        candidates = [
            check_divergence(view, limits, index),
            check_no_learning(view, limits, index),
            check_blank_collapse(view, limits, index),
            check_resume_collapse(view, previous, limits, index),
            check_overfitting(view, limits, index),
            check_plateau(view, limits, index),
            check_lr_wasted(view, limits, index),
            check_lr_oscillation(view, limits, index),
            check_unstable_val(view, limits, index),
            check_small_val_set(view, model, limits, index),
            check_class_imbalance(view, limits, index),
        ]
        found = [finding for finding in candidates if finding is not None]
        ids = {finding.id for finding in found}
        if ids & MORE_SPECIFIC_THAN_PLATEAU:
            # "No progress" is already explained more precisely; a plateau finding would repeat it.
            found = [finding for finding in found if finding.id != "plateau"]
        return found


def merge_findings(per_segment: list[list[Finding]], run_wide: list[Finding]) -> list[Finding]:
    """One finding per id: the latest segment's, noting how many other runs in the log had it too."""
    by_id: dict[str, list[Finding]] = {}
    for findings in per_segment:
        for finding in findings:
            by_id.setdefault(finding.id, []).append(finding)
    merged: list[Finding] = []
    for finding_id, found in by_id.items():
        chosen = max(found, key=lambda f: (SEVERITIES.index(f.severity), f.segment))
        if len(per_segment) > 1:
            others = len({f.segment for f in found}) - 1
            suffix = f" [run {chosen.segment + 1} of {len(per_segment)} in this log"
            suffix += f"; also in {others} other run(s)]" if others else "]"
            chosen = Finding(chosen.id, chosen.severity, chosen.title, chosen.evidence + suffix, chosen.epoch,
                             chosen.step, chosen.segment, chosen.action)
        merged.append(chosen)
    merged.extend(run_wide)
    merged.sort(key=lambda f: (-SEVERITIES.index(f.severity), FINDING_IDS.index(f.id)))
    return merged
