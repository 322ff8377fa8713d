"""A diagnosis finding: what is wrong, since when, the numbers, and what to do."""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "critical")


@dataclass(slots=True)
class Finding:
    id: str
    severity: str
    title: str
    evidence: str
    epoch: float | None = None
    step: int | None = None
    segment: int = 0
    action: str | None = None  # filled from the registry (tui.diagnosis.registry) unless the rule knows better
    preset: str | None = None  # the preset the action restarts with; None when the fix is not a restart
    resume: str | None = None  # where that restart resumes from, when the cause decides it (a blow-up: none)
    explained_by: str | None = None  # the id of the finding that caused this one, ranked just before it

    def to_json(self) -> dict:
        return {"id": self.id, "severity": self.severity,
                "epoch": None if self.epoch is None else int(self.epoch),
                "step": None if self.step is None else int(self.step),
                "title": self.title, "evidence": self.evidence, "action": self.action}
